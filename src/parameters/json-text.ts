/** Checks on JSON texts people write (scenario and experiment files) that JSON.parse lets through. */

import { parseDocument } from 'yaml';

/**
 * A key written twice in one object of a JSON text (JSON.parse keeps the last without a word; YAML refuses),
 * as a one-line problem with its line and column, or undefined. The text must be valid JSON already: YAML
 * reads it the same and names the duplicate.
 */
export function duplicateJsonKey(text: string): string | undefined {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  const dup = doc.errors.find((e) => e.code === 'DUPLICATE_KEY');
  if (!dup) return undefined;
  const before = text.slice(0, dup.pos[0]).split('\n');
  return `a key is written twice in one object (line ${before.length}, column ${(before[before.length - 1]?.length ?? 0) + 1})`;
}
