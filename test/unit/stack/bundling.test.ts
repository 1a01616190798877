import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ColoFunction, ESM_REQUIRE_BANNER } from '../../../lib/constructs/colo-function.ts';
import { FEATURE_FLAGS } from './helpers.ts';

/**
 * Bundles one function for real, with a `docker` on PATH that records any call: proves NodejsFunction uses
 * the locally installed esbuild, never Docker, and that the ESM output (AWS SDK included) runs.
 */
let work: string;
let assetDir: string;
let template: Template;
const dockerMarker = () => join(work, 'docker-was-called');

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'colo-bundle-'));
  const bin = join(work, 'bin');
  const fake = join(bin, 'docker');
  mkdirSync(bin);
  writeFileSync(fake, `#!/bin/sh\ntouch '${dockerMarker()}'\nexit 1\n`);
  chmodSync(fake, 0o755);
  const savedPath = process.env.PATH;
  process.env.PATH = `${bin}${delimiter}${savedPath ?? ''}`;
  try {
    const app = new App({
      outdir: join(work, 'out'),
      builtinCloudFormationValidation: false,
      context: { ...FEATURE_FLAGS },
    });
    const stack = new Stack(app, 'Bundle');
    new ColoFunction(stack, 'Fixture', {
      entry: 'test/unit/stack/fixtures/sdk-handler.ts',
      serviceName: 'fixture',
    });
    const assembly = app.synth();
    template = Template.fromStack(stack);
    const assets = readdirSync(assembly.directory).filter((d) => d.startsWith('asset.'));
    expect(assets).toHaveLength(1);
    assetDir = join(assembly.directory, assets[0] as string);
  } finally {
    process.env.PATH = savedPath;
  }
}, 120_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('local esbuild bundling', () => {
  it('never calls docker', () => {
    expect(existsSync(dockerMarker())).toBe(false);
  });

  it('emits one ES module with a source map and the require banner', () => {
    expect(readdirSync(assetDir).sort()).toEqual(['index.mjs', 'index.mjs.map']);
    const code = readFileSync(join(assetDir, 'index.mjs'), 'utf8');
    expect(code.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
    expect(code).toContain('sourceMappingURL=index.mjs.map');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Runtime: 'nodejs22.x',
    });
  });

  it('runs: the bundled AWS SDK and project modules load from the bundle alone', async () => {
    process.env.POWERTOOLS_SERVICE_NAME = 'fixture';
    // The SDK warns once that releases from 2027 need Node 22; the project runs on Node 20 by design.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
    const mod = (await import(pathToFileURL(join(assetDir, 'index.mjs')).href)) as {
      handler: () => Promise<{ sdk: string; key: string; service: string }>;
    };
    expect(await mod.handler()).toEqual({
      sdk: 'function',
      key: 'vm-0/0000000001/000000000002-device-state',
      service: 'fixture',
    });
  });
});
