/**
 * The TCG deadlock workaround for Debian's QEMU 7.2 (docs/fidelity.md, "The reference"): in a copy of the
 * binary, `tcg_log_global_after_sync()` always takes its existing record/replay early return. The skipped
 * `run_on_cpu(cpu, do_nothing)` is only a barrier that waits for the vCPU to leave its translation block;
 * during a checkpoint the VM is stopped, and the barrier is what deadlocks the primary (it waits on the BQL
 * from a thread that does not hold it). The site is found by its instruction pattern; any binary where the
 * pattern does not occur exactly once is refused.
 */

/**
 * The function's body: `mov replay_mode(%rip),%eax; test %eax,%eax; je +6; ret; nopl; mov -0x18(%rdi),%rdi;
 * xor %edx,%edx; lea do_nothing(%rip),%rsi; jmp run_on_cpu`. `null` = any byte (rip-relative offsets).
 */
export const PATCH_PATTERN: readonly (number | null)[] = [
  0x8b,
  0x05,
  null,
  null,
  null,
  null,
  0x85,
  0xc0,
  0x74,
  0x06,
  0xc3,
  0x0f,
  0x1f,
  0x44,
  0x00,
  0x00,
  0x48,
  0x8b,
  0x7f,
  0xe8,
  0x31,
  0xd2,
  0x48,
  0x8d,
  0x35,
  null,
  null,
  null,
  null,
  0xe9,
];

/** Offset of the `je` (0x74 0x06) inside {@link PATCH_PATTERN}, bytes. */
const JE_OFFSET = 8;

/** Offsets where `pattern` matches `bytes`, bytes (at most `limit`). */
export function findPattern(bytes: Uint8Array, pattern: readonly (number | null)[], limit = 2): number[] {
  const found: number[] = [];
  const first = pattern[0];
  if (first === null || first === undefined) throw new Error('a pattern must start with a fixed byte');
  for (
    let i = bytes.indexOf(first);
    i >= 0 && i + pattern.length <= bytes.length;
    i = bytes.indexOf(first, i + 1)
  ) {
    let ok = true;
    for (let j = 1; j < pattern.length; j++) {
      const want = pattern[j];
      if (want !== null && bytes[i + j] !== want) {
        ok = false;
        break;
      }
    }
    if (ok) {
      found.push(i);
      if (found.length >= limit) break;
    }
  }
  return found;
}

/**
 * A patched copy of a QEMU 7.2 binary: the `je` that skips the early return becomes a two-byte NOP, so the
 * function always returns at once. Throws (and patches nothing) unless the pattern occurs exactly once.
 */
export function patchQemu(binary: Uint8Array): Uint8Array {
  const sites = findPattern(binary, PATCH_PATTERN);
  if (sites.length !== 1) {
    throw new Error(
      `the TCG workaround's instruction pattern occurs ${sites.length === 0 ? 'nowhere' : 'more than once'} in this QEMU binary: only Debian 12's qemu-system-x86 7.2 is supported`,
    );
  }
  const out = new Uint8Array(binary);
  const at = (sites[0] as number) + JE_OFFSET;
  out[at] = 0x66; // 66 90: xchg %ax,%ax, a two-byte NOP
  out[at + 1] = 0x90;
  return out;
}
