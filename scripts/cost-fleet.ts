/**
 * `npx tsx scripts/cost-fleet.ts --stack NAME --vms ID,ID,… --window-s S [--json FILE]`: the cost per VM-month
 * of several VMs sharing one deployed stack at their registered (default) parameters — what the stack's
 * pulse and monitor (docs/cloud.md "The pulse and the monitor") share among VMs, which `colo run --backend
 * localstack` (one VM per stack) cannot show. The VMs must already be registered and replicating (`colo vm
 * add`); this waits `S` seconds, reads every function's `aws usage` records of that window back from
 * CloudWatch Logs and prices them with the cost model: per-VM functions divided by the VMs measured, the
 * pulse's and monitor's own usage per stack (`--vms-per-deployment` in the printout: the measured count and
 * 100). Each VM's commits in the window are printed, so a VM that did not replicate is seen. The JSON file
 * holds the section at the measured stack size as `cost`, so `colo cost FILE --ms-per-invocation 50
 * --vms-per-deployment N` prices it again like a `colo run` report.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatCostSection } from '../src/cost/format.ts';
import { SINGLE_VM_STACK } from '../src/cost/model.ts';
import { CURRENT_PRICES } from '../src/cost/prices.ts';
import { costSection } from '../src/cost/section.ts';
import { chainPeriodMs } from '../src/parameters/tick-chains.ts';
import { clientsFor, endpointFromEnv } from '../src/runtime/localstack/aws.ts';
import { commitsOf } from '../src/runtime/localstack/fleet-run.ts';
import { describeStackOutputs } from '../src/runtime/localstack/stack.ts';
import {
  deltaExpiryDaysOf,
  formatStoredBytes,
  measureStoredBytes,
} from '../src/runtime/localstack/stored-bytes.ts';
import { readLoggedUsage } from '../src/runtime/localstack/usage-logs.ts';
import { REPORT_VERSION } from '../src/runtime/report.ts';

const { values } = parseArgs({
  options: {
    stack: { type: 'string' },
    vms: { type: 'string' },
    'window-s': { type: 'string' },
    json: { type: 'string' },
  },
  strict: true,
});
if (!values.stack || !values.vms || !values['window-s']) {
  process.stderr.write(
    'usage: tsx scripts/cost-fleet.ts --stack NAME --vms ID,ID,… --window-s S [--json FILE]\n',
  );
  process.exit(2);
}
const vmIds = values.vms.split(',').filter((v) => v !== '');
const windowS = Number(values['window-s']);
const clients = clientsFor(endpointFromEnv());
const outputs = await describeStackOutputs(clients, values.stack);
const commitsBefore = await Promise.all(vmIds.map((v) => commitsOf(clients, outputs, v)));
const startMs = Date.now();
await new Promise((r) => setTimeout(r, windowS * 1000));
const endMs = Date.now();
const commitsAfter = await Promise.all(vmIds.map((v) => commitsOf(clients, outputs, v)));
const logged = await readLoggedUsage(clients, outputs.functionNames, startMs, endMs);
// What the VMs keep in the bucket: state, deltas in flight, and objects left behind (failed deletes,
// replayed puts) held by the lifecycle rule — projected from this window.
const stored = await measureStoredBytes(
  clients.s3,
  outputs.bucketName,
  vmIds,
  { startMs, endMs },
  (await deltaExpiryDaysOf(clients.s3, outputs.bucketName)) ?? 1,
);
const params = {
  checkpointDelayMs: 20_000,
  pendingCheckIntervalMs: 1000,
  heartbeatIntervalMs: 1000,
  heartbeatChainMs: chainPeriodMs('heartbeat', 1000),
  heartbeatMessages: false,
  stackChains: true,
  memoryMb: 1024,
};
const out: Record<string, unknown> = {
  // `colo cost FILE` prices only reports of the version it reads.
  version: REPORT_VERSION,
  stack: values.stack,
  vms: vmIds,
  windowMs: endMs - startMs,
  stored,
  commits: Object.fromEntries(vmIds.map((v, i) => [v, (commitsAfter[i] ?? 0) - (commitsBefore[i] ?? 0)])),
};
for (const perStack of [vmIds.length, 100]) {
  const section = costSection(
    {
      byFunction: logged.byFunction,
      windowMs: endMs - startMs,
      vms: vmIds.length,
      deployment: {
        ...SINGLE_VM_STACK,
        vmsPerDeployment: perStack,
        metricsPerVm: logged.metricSeries.perVm,
        sharedMetrics: logged.metricSeries.total - logged.metricSeries.perVm,
      },
      storedBytesPerVm: stored.steadyStateBytes,
      prices: CURRENT_PRICES,
    },
    params,
  );
  process.stdout.write(`\n== ${vmIds.length} VMs measured, ${perStack} VMs per stack ==\n`);
  process.stdout.write(`${formatCostSection(section).join('\n')}\n`);
  out[`perStack${perStack}`] = section;
  // `colo cost FILE --ms-per-invocation MS --vms-per-deployment N` prices this section again.
  if (perStack === vmIds.length) out.cost = section;
}
process.stdout.write(`\n${formatStoredBytes(stored)}\n`);
process.stdout.write(`commits in the window: ${JSON.stringify(out.commits)}\n`);
if (values.json) writeFileSync(values.json, JSON.stringify(out, null, 2));
