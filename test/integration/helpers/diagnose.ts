/**
 * What a failed wall-clock test saw of its VMs, in a few lines appended to the failure's message (CI shows
 * the end of the output; a message survives where printed lines may be cut): per function the invocations,
 * slowest, timeouts, crashes and last errors since the test began; per VM its chains and its primary's
 * document. Never throws: a diagnosis that cannot be read says so.
 */
import { FilterLogEventsCommand, type FilterLogEventsCommandOutput } from '@aws-sdk/client-cloudwatch-logs';
import { TIMER_NAMES } from '../../../lambda/adapters/contract.ts';
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { readChainProgress } from '../../../lambda/handlers/common/tick-chain.ts';
import { readPrimaryDocument } from '../../../src/runtime/cloud/status.ts';
import type { Clients } from '../../../src/runtime/localstack/aws.ts';
import { deployedParams, type StackOutputs } from '../../../src/runtime/localstack/stack.ts';

/** Most log events read per function. */
const MAX_EVENTS = 20_000;

/** How long one part of the diagnosis may take, ms (a call that hangs is itself a finding). */
const PART_TIMEOUT_MS = 30_000;

/** `p`, or a rejection naming `what` after {@link PART_TIMEOUT_MS}. */
function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer in ${PART_TIMEOUT_MS} ms`)),
      PART_TIMEOUT_MS,
    );
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** One line per function: invocations, slowest (ms), timeouts, crashes, and its last error or warning. */
async function functionLines(clients: Clients, outputs: StackOutputs, sinceMs: number): Promise<string[]> {
  const lines: string[] = [];
  for (const fn of outputs.functionNames) {
    let reports = 0;
    let slowest = 0;
    let timeouts = 0;
    let crashes = 0;
    let errors = 0;
    let last = '';
    try {
      let token: string | undefined;
      let events = 0;
      do {
        const r: FilterLogEventsCommandOutput = await bounded(
          clients.logs.send(
            new FilterLogEventsCommand({
              logGroupName: `/aws/lambda/${fn}`,
              startTime: sinceMs,
              ...(token ? { nextToken: token } : {}),
            }),
          ),
          `${fn}'s logs`,
        );
        for (const e of r.events ?? []) {
          events++;
          const m = e.message ?? '';
          if (m.startsWith('REPORT RequestId')) {
            reports++;
            const d = /Duration: ([\d.]+) ms/.exec(m);
            if (d) slowest = Math.max(slowest, Number(d[1]));
          } else if (m.includes('Task timed out')) timeouts++;
          else if (m.includes('Runtime.ExitError') || m.includes('Runtime.OutOfMemory')) crashes++;
          else if (/"level":"(ERROR|WARN)"/.test(m)) {
            errors++;
            const at = new Date(e.timestamp ?? 0).toISOString().slice(11, 19);
            last = `${at} ${m.slice(m.indexOf('{'), m.indexOf('{') + 220)}`;
          }
        }
        token = r.nextToken && r.nextToken !== token ? r.nextToken : undefined;
        if (events > MAX_EVENTS) break;
      } while (token);
    } catch (e) {
      lines.push(`  ${fn}: logs unreadable (${errorText(e)})`);
      continue;
    }
    const name = fn.replace(/^.*?-(Checkpoint|Pending|Tick|Primary|Secondary|Heartbeat)/, '$1');
    lines.push(
      `  ${name}: ${reports} invocations, slowest ${Math.round(slowest)} ms, ${timeouts} timed out, ` +
        `${crashes} crashed, ${errors} errors/warnings${last ? `; last: ${last}` : ''}`,
    );
  }
  return lines;
}

/** One line per VM: each chain's generation, last claimed tick and its age; the primary's outbox and exit. */
async function vmLine(clients: Clients, outputs: StackOutputs, vmId: string): Promise<string> {
  const state = new S3StateStore({ bucket: outputs.bucketName, client: clients.s3 });
  const parts: string[] = [];
  for (const timer of TIMER_NAMES) {
    try {
      const p = await bounded(readChainProgress(state, vmId, timer), `the ${timer} chain`);
      parts.push(
        p
          ? `${timer} g${p.generation}/s${p.seq} ${Math.round((Date.now() - p.lastTickAt) / 1000)} s ago`
          : `${timer} -`,
      );
    } catch (e) {
      parts.push(`${timer} ? (${errorText(e)})`);
    }
  }
  try {
    const doc = await bounded(
      deployedParams(clients, outputs, vmId).then((params) => readPrimaryDocument(state, params)),
      "the primary's document",
    );
    if (doc) {
      const sends = doc.outbox.sends.map((s) => s.message.type).join(',');
      parts.push(`primary outbox [${sends}]`, `exit ${doc.exit ? doc.exit.reason : 'none'}`);
    } else parts.push('primary: no document');
  } catch (e) {
    parts.push(`primary ? (${errorText(e)})`);
  }
  return `  ${vmId}: ${parts.join('; ')}`;
}

/** A few lines on the stack's functions since `sinceMs` (ms since the epoch) and on each of `vmIds`. */
export async function diagnose(
  clients: Clients,
  outputs: StackOutputs,
  vmIds: readonly string[],
  sinceMs: number,
): Promise<string> {
  try {
    const lines = [`diagnosis of ${outputs.stackName} at ${new Date().toISOString()}:`];
    lines.push(...(await functionLines(clients, outputs, sinceMs)));
    for (const vmId of vmIds) lines.push(await vmLine(clients, outputs, vmId));
    return lines.join('\n');
  } catch (e) {
    return `diagnosis failed: ${errorText(e)}`;
  }
}

/**
 * Runs `body`; when it fails, appends {@link diagnose}'s lines to the error's message and rethrows it.
 */
export async function withDiagnosis<T>(body: () => Promise<T>, diagnosis: () => Promise<string>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof Error) e.message = `${e.message}\n${await diagnosis()}`;
    throw e;
  }
}
