/**
 * Publishes the COLO message schema as JSON Schema (draft 2020-12) to docs/message-schema.json.
 * Run: `npx tsx src/wire/emit-json-schema.ts`. A unit test checks that the published file is current.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { coloMessageSchema } from './message-schema.ts';

/** Path of the published schema. */
export const MESSAGE_JSON_SCHEMA_PATH = fileURLToPath(
  new URL('../../docs/message-schema.json', import.meta.url),
);

/** Rules the JSON Schema cannot state; the zod schema enforces them. */
const NOT_EXPRESSED =
  'Also enforced by src/wire/message-schema.ts but not expressible here: appliedRounds strictly ascending; ' +
  'delta.round >= 1 when kind is background-ram and 0 otherwise; bodies at most 262144 bytes of UTF-8.';

/** The JSON Schema of a COLO message, as a plain object. */
export function messageJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(coloMessageSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
  return { ...schema, $comment: NOT_EXPRESSED };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(MESSAGE_JSON_SCHEMA_PATH, `${JSON.stringify(messageJsonSchema(), null, 2)}\n`);
  // Leave the file as `biome check` wants it; the test compares parsed JSON, so layout never matters.
  execFileSync('npx', ['biome', 'format', '--write', MESSAGE_JSON_SCHEMA_PATH], { stdio: 'inherit' });
  console.log(`wrote ${MESSAGE_JSON_SCHEMA_PATH}`);
}
