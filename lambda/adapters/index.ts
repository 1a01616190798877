/** AWS SDK v3 implementations of the engine's ports, and the stack ↔ handler contract. */
export * from './contract.ts';
export * from './env.ts';
export * from './s3-common.ts';
export * from './s3-delta-store.ts';
export * from './s3-state-store.ts';
export * from './sqs-channel.ts';
export * from './sqs-dead-letters.ts';
export * from './sqs-tick-queue.ts';
export * from './usage-meter.ts';
