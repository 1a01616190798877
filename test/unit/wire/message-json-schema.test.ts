/** The published docs/message-schema.json is what src/wire/emit-json-schema.ts generates now. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COLO_MESSAGE_TYPES } from '../../../src/engine/protocol/messages.ts';
import { MESSAGE_JSON_SCHEMA_PATH, messageJsonSchema } from '../../../src/wire/emit-json-schema.ts';

describe('docs/message-schema.json', () => {
  it('equals the generated JSON Schema (regenerate: npx tsx src/wire/emit-json-schema.ts)', () => {
    // Compared as parsed JSON: the formatter may lay the file out differently.
    expect(JSON.parse(readFileSync(MESSAGE_JSON_SCHEMA_PATH, 'utf8'))).toEqual(messageJsonSchema());
  });

  it('is strict and covers every message type', () => {
    const schema = messageJsonSchema() as { oneOf: { title: string; additionalProperties: boolean }[] };
    expect(schema.oneOf).toHaveLength(COLO_MESSAGE_TYPES.length);
    expect(schema.oneOf.every((s) => s.additionalProperties === false)).toBe(true);
  });
});
