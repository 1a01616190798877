import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FUNCTION_RUNTIME } from '../../../lib/constructs/colo-function.ts';

describe('function runtime on LocalStack', () => {
  it('set-up installs the Node major the stack runtime names (scripts/install-lambda-node.sh)', () => {
    const script = readFileSync(new URL('../../../scripts/install-lambda-node.sh', import.meta.url), 'utf8');
    const majors = /^DEFAULT_MAJORS="([0-9 ]+)"$/m.exec(script)?.[1]?.split(' ');
    const major = /^nodejs(\d+)\.x$/.exec(FUNCTION_RUNTIME.name)?.[1];
    expect(FUNCTION_RUNTIME.name).toBe('nodejs22.x');
    expect(major).toBeDefined();
    expect(majors).toContain(major);
  });

  it('localstack-up.sh runs the installer at set-up and points the executor at its folder', () => {
    const up = readFileSync(new URL('../../../scripts/localstack-up.sh', import.meta.url), 'utf8');
    expect(up).toMatch(/scripts\/install-lambda-node\.sh/);
    expect(up).toMatch(/"LAMBDA_HOST_NODE_RUNTIMES_DIR=\$\{NODE_RUNTIMES_DIR\}"/);
    // The installer runs in the install step, before LocalStack starts (never at run time).
    expect(up.indexOf('install-lambda-node.sh')).toBeLessThan(up.indexOf('localstack.runtime.main >>'));
  });
});
