import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { FEATURE_FLAGS } from './helpers.ts';

describe('CDK feature flags', () => {
  it('cdk.json sets every flag aws-cdk-lib recommends, to its recommended value (synth warns of none)', () => {
    const require = createRequire(import.meta.url);
    const recommended = JSON.parse(
      readFileSync(require.resolve('aws-cdk-lib/recommended-feature-flags.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(Object.keys(recommended).length).toBeGreaterThan(50);
    for (const [flag, value] of Object.entries(recommended)) expect(FEATURE_FLAGS[flag], flag).toEqual(value);
  });
});
