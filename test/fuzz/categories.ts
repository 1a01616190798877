/** Rejection categories of the decoders' documented errors, by message (the errors carry no codes). */

/** `StateDocumentError` of `decodeContainer`, in the order the decoder checks. */
export const CONTAINER_CATEGORIES: readonly (readonly [string, RegExp])[] = [
  ['short', /is too short for a document/],
  ['magic', /: magic is 0x/],
  ['version', /: container format version/],
  ['kind', /: holds a .+ document; expected/],
  ['checksum', /SHA-256 trailer does not match/],
  ['header-length', /: header length \d+ runs past the end/],
  ['header-json', /: header is not JSON/],
  ['header-shape', /: header must be an object/],
  [
    'blob-table',
    /blob table entry \d+ is malformed|has unknown (encoding|type)|not a multiple of 4|\(\d+ bytes\) runs past the end|-byte ceiling|raw blob \d+ stores|bytes follow the last blob/,
  ],
  ['inflate', /does not inflate|inflates to \d+ bytes/],
  ['nesting', /nested deeper than/],
  ['reuse', /is referenced twice/],
  ['proto', /the key __proto__ is not allowed/],
  [
    'tag',
    /names blob|has the wrong type|: tag \$|\$num |bitmap of|set past the end|\$map32|\$map is|\$map entry|unknown tag/,
  ],
];

/** `StateDocumentError` of the node-document checks after the container. */
export const DOCUMENT_CATEGORIES: readonly (readonly [string, RegExp])[] = [
  ...CONTAINER_CATEGORIES,
  ['node', /holds the (primary|secondary)'s document; expected/],
  ['vm', /: belongs to VM /],
  ['guest', /written for a guest of|does not fit a guest of/],
  ['outbox', /: outbox send \d+:/],
  ['schema', /✖/],
];

/** Categories a rejection in which never reached the document's content (framing and checksum). */
export const SHALLOW_CONTAINER = ['short', 'magic', 'version', 'kind', 'checksum'] as const;
