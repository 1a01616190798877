/**
 * Room for a sealed frame around an object, reserved when the object is encoded: the encoder allocates the
 * frame's header and MAC bytes on either side of the object, and the sealer writes them there instead of
 * copying the object into a fresh frame. The room is used once: a second seal of the same object (a retry
 * under a rotated key) copies, so a frame already handed out never changes under its holder.
 */
const rooms = new WeakMap<Uint8Array, { before: number; after: number }>();

/**
 * Allocates `size` bytes (not zeroed) with `before` and `after` spare bytes around them; returns the view of
 * the `size` bytes.
 */
export function allocWithFrameRoom(size: number, before: number, after: number): Buffer {
  const whole = Buffer.allocUnsafe(before + size + after);
  const view = whole.subarray(before, before + size);
  rooms.set(view, { before, after });
  return view;
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
