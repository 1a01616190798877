/**
 * Duplicate keys in JSON text. `JSON.parse` keeps the last of two equal keys silently, so a body could say
 * one thing to a reader that takes the first and another to one that takes the last; the message parsers
 * refuse such bodies instead. One linear pass over text `JSON.parse` already accepted.
 */

/**
 * The first key that occurs twice in one object of `text`, compared after unescaping (`"a"` and
 * `"\u0061"` are the same key), or undefined.
 *
 * @param text - Valid JSON (call after `JSON.parse` succeeded): the scan does not validate.
 */
export function duplicateKey(text: string): string | undefined {
  // One set of keys per open object; null for an open array.
  const open: (Set<string> | null)[] = [];
  let keyNext = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: find its closing quote (a backslash escapes the next character).
      let j = i + 1;
      let escaped = false;
      for (; j < text.length; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) {
          j++;
          escaped = true;
        } else if (d === 0x22) break;
      }
      const keys = open[open.length - 1];
      if (keyNext && keys) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (keys.has(key)) return key;
        keys.add(key);
        keyNext = false;
      }
      i = j;
    } else if (c === 0x7b) {
      open.push(new Set());
      keyNext = true;
    } else if (c === 0x5b) {
      open.push(null);
      keyNext = false;
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      keyNext = false;
    } else if (c === 0x2c) {
      keyNext = (open[open.length - 1] ?? null) !== null;
    }
  }
  return undefined;
}
