/** Bounding error texts before they are stored or logged: a hostile input must not buy kilobytes of log. */

/** Most characters of an error text kept in the metrics log, the control document or a log line. */
export const MAX_REASON_CHARS = 1000;

/**
 * `text` cut to at most `max` characters (a marker says how much was cut); shorter texts unchanged.
 * Never splits a surrogate pair.
 */
export function truncateText(text: string, max = MAX_REASON_CHARS): string {
  if (text.length <= max) return text;
  const marker = ` … [${text.length} characters, cut]`;
  let end = Math.max(0, max - marker.length);
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return text.slice(0, end) + marker;
}

/**
 * A decoded value for an error text: a primitive as `String` gives it (a string cut to 64 characters),
 * an array or object by its kind only. Never throws: `String` of a parsed object can (`{"toString": 1}`
 * has no callable `toString`), and printing a deep or large value whole would be unbounded.
 */
export function showValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(truncateText(value, 64));
  return String(value);
}

/**
 * `text` with control characters (and undecodable bytes, read as U+FFFD) written as `\uXXXX`: a parser's
 * message quotes its input, and a binary file's bytes must not reach a terminal or a log raw.
 */
export function escapeControls(text: string): string {
  let out = '';
  for (const c of text) {
    const n = c.codePointAt(0) ?? 0;
    out += n < 0x20 || (n >= 0x7f && n <= 0x9f) || n === 0xfffd ? `\\u${n.toString(16).padStart(4, '0')}` : c;
  }
  return out;
}
