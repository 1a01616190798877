/**
 * Child process for abort.test.ts: holds a spawned `sleep` (as runPair holds the QEMU pair) and a marker file
 * (as the run holds the quickack route), each with an undo, and exits on a signal as `npm run fidelity` does.
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { exitOnSignals, onAbort } from '../../../src/fidelity/abort.ts';

const log = process.argv[2] as string;
const sleeper = spawn('sleep', ['300'], { stdio: 'ignore' });
onAbort(() => sleeper.kill('SIGKILL'));
onAbort(() => appendFileSync(log, 'route released\n'));
const released = onAbort(() => appendFileSync(log, 'unregistered undo ran\n'));
released();
exitOnSignals(() => appendFileSync(log, 'work removed\n'));
appendFileSync(log, `sleeper ${sleeper.pid}\n`);
setInterval(() => {}, 1000);
