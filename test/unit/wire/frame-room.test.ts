import { describe, expect, test } from 'vitest';
import { allocWithFrameRoom, recycleFrame, sizeClass, takeFrameRoom } from '../../../src/wire/frame-room.ts';

const MIB = 2 ** 20;

describe('frame room and recycled frames', () => {
  test('the room around an object is taken once, as one view of the same memory', () => {
    const view = allocWithFrameRoom(100, 10, 4);
    view.fill(7);
    const frame = takeFrameRoom(view, 10, 4);
    expect(frame?.byteLength).toBe(114);
    expect(frame?.buffer).toBe(view.buffer);
    expect(frame?.subarray(10, 110).every((b) => b === 7)).toBe(true);
    expect(takeFrameRoom(view, 10, 4)).toBeUndefined();
  });

  test("a recycled frame's memory serves the next object that fits, once", () => {
    const first = allocWithFrameRoom(2 * MIB, 40, 32);
    const memory = first.buffer;
    recycleFrame(first);
    const second = allocWithFrameRoom(2 * MIB - 100, 40, 32);
    expect(second.buffer).toBe(memory);
    // Handed out, it is no longer spare: the next object gets fresh memory.
    const third = allocWithFrameRoom(2 * MIB - 100, 40, 32);
    expect(third.buffer).not.toBe(memory);
    // The room is reserved on recycled memory as on fresh memory.
    expect(takeFrameRoom(second, 40, 32)?.byteLength).toBe(2 * MIB - 100 + 72);
  });

  test('a spare far larger than an object is not used for it', () => {
    const big = allocWithFrameRoom(16 * MIB, 40, 32);
    recycleFrame(big);
    expect(allocWithFrameRoom(MIB, 40, 32).buffer).not.toBe(big.buffer);
    expect(allocWithFrameRoom(15 * MIB, 40, 32).buffer).toBe(big.buffer);
  });

  test('recycling the same memory twice keeps it once', () => {
    const a = allocWithFrameRoom(3 * MIB, 40, 32);
    recycleFrame(a);
    recycleFrame(a);
    expect(allocWithFrameRoom(3 * MIB, 40, 32).buffer).toBe(a.buffer);
    expect(allocWithFrameRoom(3 * MIB, 40, 32).buffer).not.toBe(a.buffer);
  });

  test('the asked offset of an object lies 4-byte aligned in its memory, on fresh and recycled memory', () => {
    for (const alignAt of [0, 1, 2, 3, 101]) {
      const fresh = allocWithFrameRoom(2 * MIB, 41, 32, alignAt);
      expect((fresh.byteOffset + alignAt) % 4).toBe(0);
      recycleFrame(fresh);
      const reused = allocWithFrameRoom(2 * MIB, 41, 32, alignAt + 1);
      expect(reused.buffer).toBe(fresh.buffer);
      expect((reused.byteOffset + alignAt + 1) % 4).toBe(0);
      expect(takeFrameRoom(reused, 41, 32)?.byteLength).toBe(2 * MIB + 73);
    }
  });

  test('large memory comes in size classes an eighth of a power of two apart', () => {
    expect(sizeClass(2 ** 25)).toBe(2 ** 25);
    expect(sizeClass(2 ** 25 + 1)).toBe(2 ** 25 + 2 ** 22);
    expect(sizeClass(37_643_036)).toBe(36 * MIB);
    // An object a few pages larger than the last fits its memory.
    const a = allocWithFrameRoom(37_606_161, 40, 32);
    recycleFrame(a);
    expect(allocWithFrameRoom(37_643_036, 40, 32).buffer).toBe(a.buffer);
  });
});
