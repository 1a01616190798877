/**
 * The price file: published AWS list prices in one region on one date, each with its unit and source
 * (src/cost/prices-2026-11.json). Validated when loaded, so a typo in a price cannot silently price a
 * line at zero.
 */
import { z } from 'zod';
import current from './prices-2026-11.json' with { type: 'json' };

/** Every price the cost model reads (the file may hold more; these must be there). */
export const PRICE_IDS = [
  'lambdaRequests',
  'lambdaGbSecondX86',
  'lambdaGbSecondArm64',
  'sqsStandardRequests',
  'sqsFifoRequests',
  's3PutCopyPostList',
  's3GetAndOther',
  's3StandardStorage',
  'cloudwatchLogsIngestion',
  'cloudwatchCustomMetric',
  'cloudwatchAlarm',
  'cloudwatchDashboard',
  'secretsManagerSecret',
  'secretsManagerApiCalls',
  'eventbridgeRuleInvocations',
] as const;

/** Name of one price. */
export type PriceId = (typeof PRICE_IDS)[number];

const priceSchema = z.strictObject({
  usd: z.number().finite().nonnegative(),
  per: z.number().finite().positive(),
  unit: z.string().min(1),
  confirmed: z.boolean(),
  source: z.string().min(1),
});

/** One price: `usd` dollars per `per` units of `unit`. */
export type Price = z.infer<typeof priceSchema>;

const fileSchema = z.strictObject({
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'date must be YYYY-MM-DD'),
  region: z.string().min(1),
  currency: z.literal('USD'),
  source: z.string().min(1),
  prices: z.record(z.string(), priceSchema),
});

/** A validated price file. */
export interface PriceFile {
  /** When the prices were read, `YYYY-MM-DD`. */
  date: string;
  /** AWS region they apply to. */
  region: string;
  /** Always `USD`. */
  currency: 'USD';
  /** Where they come from, in words. */
  source: string;
  /** Every price by id. */
  prices: Readonly<Record<PriceId, Price>> & Readonly<Record<string, Price>>;
}

/** A price file that does not validate. */
export class PriceFileError extends Error {
  override readonly name = 'PriceFileError';
}

/**
 * Validates a parsed price file.
 *
 * @param where - Names the file in the error.
 * @throws PriceFileError with one line naming the first problem.
 */
export function parsePriceFile(value: unknown, where = 'price file'): PriceFile {
  const r = fileSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue?.path.join('.') || '(root)';
    throw new PriceFileError(`${where}: ${path}: ${issue?.message ?? 'invalid'}`);
  }
  const missing = PRICE_IDS.filter((id) => r.data.prices[id] === undefined);
  if (missing.length > 0) throw new PriceFileError(`${where}: prices.${missing[0]} is missing`);
  return r.data as PriceFile;
}

/** USD per single unit of a price (`usd / per`). */
export function unitPrice(p: Price): number {
  return p.usd / p.per;
}

/** The price file shipped with the repository (prices-2026-11.json), validated. */
export const CURRENT_PRICES: PriceFile = parsePriceFile(current, 'src/cost/prices-2026-11.json');
