/** The cost model: usage counts, the price file, cost per VM-month and its levers. */
export * from './format.ts';
export * from './levers.ts';
export * from './model.ts';
export * from './prices.ts';
export * from './section.ts';
export * from './usage.ts';
