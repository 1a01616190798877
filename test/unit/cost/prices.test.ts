import { describe, expect, it } from 'vitest';
import {
  CURRENT_PRICES,
  PRICE_IDS,
  PriceFileError,
  parsePriceFile,
  unitPrice,
} from '../../../src/cost/prices.ts';
import current from '../../../src/cost/prices-2026-11.json' with { type: 'json' };

describe('price file', () => {
  it('ships a dated us-east-1 file with every price the model reads, each with a source', () => {
    expect(CURRENT_PRICES.date).toMatch(/^2026-11-\d\d$/);
    expect(CURRENT_PRICES.region).toBe('us-east-1');
    for (const id of PRICE_IDS) {
      expect(CURRENT_PRICES.prices[id].source.length).toBeGreaterThan(10);
      expect(CURRENT_PRICES.prices[id].usd).toBeGreaterThan(0);
    }
    expect(unitPrice(CURRENT_PRICES.prices.s3PutCopyPostList)).toBeCloseTo(0.000005, 12);
  });

  it('refuses a file missing a price, with a negative price, or without a date, in one line', () => {
    const clone = () =>
      JSON.parse(JSON.stringify(current)) as {
        date?: string;
        prices: Record<string, { usd: number } | undefined>;
      };
    const noLambda = clone();
    delete noLambda.prices.lambdaRequests;
    expect(() => parsePriceFile(noLambda, 'f.json')).toThrow(
      new PriceFileError('f.json: prices.lambdaRequests is missing'),
    );
    const negative = clone();
    (negative.prices.s3GetAndOther as { usd: number }).usd = -1;
    expect(() => parsePriceFile(negative, 'f.json')).toThrow(/^f\.json: prices\.s3GetAndOther\.usd: /);
    const undated = clone();
    delete undated.date;
    expect(() => parsePriceFile(undated, 'f.json')).toThrow(/^f\.json: date: /);
    expect(() => parsePriceFile({ ...clone(), extra: 1 }, 'f.json')).toThrow(PriceFileError);
  });
});
