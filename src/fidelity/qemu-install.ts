import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { patchQemu } from './qemu-patch.ts';

/** Debian's QEMU binary and the directories it finds firmware and modules in, relative to itself. */
const SYSTEM_QEMU = '/usr/bin/qemu-system-x86_64';
const FIRMWARE = '/usr/share/qemu';
const MODULES = '/usr/lib/x86_64-linux-gnu/qemu';

/** Runs `cmd`; a missing command or a failure becomes one clear line. */
function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(
      `${cmd} ${args.join(' ')} failed: ${(err.stderr ?? err.message).trim().split('\n').pop()}`,
    );
  }
}

/** True when `cmd` is on the PATH. */
function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Installs what the fidelity run needs with apt when it is missing: QEMU 7.2 (qemu-system-x86), GNU
 * binutils (as, ld) and iproute2 (ip). Needs root or passwordless sudo; otherwise fails saying what to install.
 */
export function ensurePackages(log: (line: string) => void): void {
  const missing: string[] = [];
  if (!existsSync(SYSTEM_QEMU)) missing.push('qemu-system-x86');
  if (!existsSync('/usr/share/seabios/bios-256k.bin')) missing.push('seabios');
  if (!have('as') || !have('ld')) missing.push('binutils');
  // `ip`, for the link meter's quickack route (relay-ack.ts).
  if (!have('ip')) missing.push('iproute2');
  if (missing.length === 0) return;
  const root = process.getuid?.() === 0;
  const sudo = root ? [] : ['sudo', '-n'];
  if (!root && !have('sudo')) {
    throw new Error(
      `fidelity needs ${missing.join(', ')}: install them (apt-get install -y ${missing.join(' ')}) as root`,
    );
  }
  const apt = (args: string[]) => {
    const [cmd, ...rest] = [...sudo, 'apt-get', ...args];
    return run(cmd as string, rest);
  };
  log(`installing ${missing.join(', ')} with apt`);
  try {
    apt(['install', '-y', '--no-install-recommends', ...missing]);
  } catch {
    apt(['update']);
    apt(['install', '-y', '--no-install-recommends', ...missing]);
  }
}

/** The QEMU version string (`7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)`), refusing any other major.minor. */
export function qemuVersion(binary = SYSTEM_QEMU): string {
  const out = run(binary, ['--version']);
  const m = /QEMU emulator version (\S+(?: \([^)]*\))?)/.exec(out);
  if (!m?.[1]) throw new Error(`cannot read the version of ${binary}`);
  if (!m[1].startsWith('7.2.')) {
    throw new Error(`fidelity needs QEMU 7.2 (Debian 12's qemu-system-x86); ${binary} is ${m[1]}`);
  }
  return m[1];
}

/**
 * A patched copy of Debian's QEMU in `dir` (qemu-patch.ts), with the firmware and module directories
 * linked where the copy looks for them (`../share/qemu`, `../lib/x86_64-linux-gnu/qemu`). Returns its path.
 */
export function installPatchedQemu(dir: string): string {
  const root = join(dir, 'qemu');
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'share'), { recursive: true });
  mkdirSync(join(root, 'lib', 'x86_64-linux-gnu'), { recursive: true });
  const bin = join(root, 'bin', 'qemu-system-x86_64');
  writeFileSync(bin, patchQemu(readFileSync(SYSTEM_QEMU)));
  chmodSync(bin, 0o755);
  symlinkSync(FIRMWARE, join(root, 'share', 'qemu'));
  if (existsSync(MODULES)) symlinkSync(MODULES, join(root, 'lib', 'x86_64-linux-gnu', 'qemu'));
  return bin;
}
