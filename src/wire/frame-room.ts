/**
 * Room for a sealed frame around an object, reserved when the object is encoded: the encoder allocates the
 * frame's header and MAC bytes on either side of the object, and the sealer writes them there instead of
 * copying the object into a fresh frame. The room is used once: a second seal of the same object (a retry
 * under a rotated key) copies, so a frame already handed out never changes under its holder.
 *
 * A runtime that knows a frame is read no more can hand its memory back ({@link recycleFrame}) for the next
 * object: a fresh buffer of tens of MiB comes from the operating system page by page (a page fault each, and
 * its zeroing), which cost the materialised path more than copying the pages into it.
 */
const rooms = new WeakMap<Uint8Array, { before: number; after: number }>();

/** Smallest buffer worth keeping, bytes: below it allocation is cheap (Node's pool, the allocator's free lists). */
const MIN_SPARE_BYTES = 1024 * 1024;
/** Buffers kept for reuse at most (a runtime has about one object in flight at a time; 2 covers a chunked checkpoint). */
const MAX_SPARES = 2;
/** A spare is used for an object only if it is at most this many times the object's size (no 64 MiB for 1 MiB). */
const MAX_SPARE_WASTE = 4;
const spares: ArrayBuffer[] = [];

/** The smallest spare of at least `bytes` bytes that is not wastefully large, taken out of the pool. */
function takeSpare(bytes: number): ArrayBuffer | undefined {
  let best = -1;
  for (let i = 0; i < spares.length; i++) {
    const size = (spares[i] as ArrayBuffer).byteLength;
    if (size < bytes || size > bytes * MAX_SPARE_WASTE) continue;
    if (best < 0 || size < (spares[best] as ArrayBuffer).byteLength) best = i;
  }
  return best < 0 ? undefined : spares.splice(best, 1)[0];
}

/**
 * `bytes` rounded up to its size class: classes are an eighth of a power of two apart (≤ 12.5 % unused),
 * so objects that differ by a few pages share one.
 */
export function sizeClass(bytes: number): number {
  const step = 2 ** Math.max(0, Math.floor(Math.log2(bytes)) - 3);
  return Math.ceil(bytes / step) * step;
}

/** Alignment of the offset {@link allocWithFrameRoom} may be asked to align, bytes (an Int32Array's). */
const ALIGN = 4;

/**
 * Allocates `size` bytes (not zeroed) with `before` and `after` spare bytes around them; returns the view of
 * the `size` bytes. Uses a recycled frame's memory when one fits. Byte `alignAt` of the view lies at a
 * 4-byte aligned offset of its buffer, so that the pages stored from there can be read and written as 32-bit
 * words in place (the frame then starts up to 3 bytes into its memory).
 */
export function allocWithFrameRoom(size: number, before: number, after: number, alignAt = 0): Buffer {
  const bytes = before + size + after + ALIGN - 1;
  const spare = bytes >= MIN_SPARE_BYTES ? takeSpare(bytes) : undefined;
  // Large memory is allocated in size classes, so that the next object of about the same size fits it.
  const whole = spare
    ? Buffer.from(spare, 0, bytes)
    : bytes >= MIN_SPARE_BYTES
      ? Buffer.from(new ArrayBuffer(sizeClass(bytes)), 0, bytes)
      : Buffer.allocUnsafe(bytes);
  const pad = (ALIGN - ((whole.byteOffset + before + alignAt) % ALIGN)) % ALIGN;
  const view = whole.subarray(pad + before, pad + before + size);
  rooms.set(view, { before, after });
  return view;
}

/**
 * Hands the memory of a frame (or of any object this process encoded) back for the next
 * {@link allocWithFrameRoom}. The caller promises that nothing reads `bytes`, or any view of its memory,
 * again: the embedded runtime calls it once the secondary has consumed a delivery that no fault hook,
 * observer or duplicate can still hold. Small buffers and buffers shared with Node's pool are ignored.
 */
export function recycleFrame(bytes: Uint8Array): void {
  const memory = bytes.buffer;
  if (!(memory instanceof ArrayBuffer) || memory.byteLength < MIN_SPARE_BYTES) return;
  if (spares.includes(memory)) return;
  if (spares.length >= MAX_SPARES) spares.shift();
  spares.push(memory);
}

/**
 * The frame around `bytes` — `before` bytes, `bytes` itself, `after` bytes, as one view — when the room
 * was reserved with exactly those sizes and not taken yet; undefined otherwise.
 */
export function takeFrameRoom(bytes: Uint8Array, before: number, after: number): Buffer | undefined {
  const room = rooms.get(bytes);
  if (!room || room.before !== before || room.after !== after) return undefined;
  rooms.delete(bytes);
  return Buffer.from(bytes.buffer, bytes.byteOffset - before, before + bytes.byteLength + after);
}
