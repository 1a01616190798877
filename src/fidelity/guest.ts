import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The guest's source, in the repository (fidelity/guest.S). */
export const GUEST_SOURCE = resolve(import.meta.dirname, '../../fidelity/guest.S');

/** Largest dirty set the guest may be asked for, pages (it writes from 16 MiB up in a 512 MiB guest). */
export const MAX_GUEST_PAGES = 100_000;

/**
 * Assembles the multiboot guest that dirties exactly `pages` pages per pass (GNU as and ld, 32-bit ELF,
 * linked at 1 MiB) into `dir`. Returns the kernel's path.
 */
export function buildGuest(pages: number, dir: string): string {
  if (!Number.isSafeInteger(pages) || pages < 0 || pages > MAX_GUEST_PAGES) {
    throw new Error(`guest dirty pages must be an integer in 0..${MAX_GUEST_PAGES}, got ${pages}`);
  }
  mkdirSync(dir, { recursive: true });
  const obj = join(dir, `guest-${pages}.o`);
  const elf = join(dir, `guest-${pages}.elf`);
  execFileSync('as', ['--32', '--defsym', `PAGES=${pages}`, '-o', obj, GUEST_SOURCE], { stdio: 'pipe' });
  execFileSync('ld', ['-m', 'elf_i386', '-Ttext', '0x100000', '-e', 'start', '-o', elf, obj], {
    stdio: 'pipe',
  });
  return elf;
}
