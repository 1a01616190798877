/**
 * `colo vm add|set|list|show|remove`: the VMs of a deployed fleet stack (src/runtime/localstack/vm-admin.ts).
 * Results on stdout (a line each, or JSON with `--json`), progress on stderr; bad input is one `colo:` line
 * and changes nothing.
 */
import type { Command } from 'commander';
import { timeoutOrderWarning } from '../parameters/timeout-order.ts';
import { checkVmConfigValues, checkVmId, VM_CONFIG_KEYS, VmConfigError } from '../parameters/vm-config.ts';
import { releaseAdminLeases } from '../runtime/localstack/admin-lease.ts';
import { AWS_ENDPOINT, checkLocalStack, clientsFor, endpointFromEnv } from '../runtime/localstack/aws.ts';
import { describeStackOutputs, readOutputsFile } from '../runtime/localstack/stack.ts';
import {
  configOf,
  deployedVmConfig,
  FAILED_OVER_HINT,
  type FleetTarget,
  getVm,
  removeVm,
  STOPPED_HINT,
  showVm,
  VmAdminError,
  writeVm,
} from '../runtime/localstack/vm-admin.ts';
import { listVmStates } from '../runtime/localstack/vm-list.ts';
import { scenarioContext } from './deploy-scenario.ts';
import { ScenarioError } from './scenario.ts';
import { type StopSignal, stopWord } from './sigint.ts';
import { formatVmList } from './vm-list-format.ts';

/** Where `colo vm` writes and which environment it reads. */
export interface VmIo {
  /** Standard output (results). */
  stdout: (text: string) => void;
  /** Standard error (progress). */
  stderr: (text: string) => void;
  /** Environment (endpoint, credentials). */
  env?: NodeJS.ProcessEnv;
  /**
   * Registers a handler of Ctrl-C / SIGTERM for the length of an `add`, `set` or `remove`; returns its
   * removal. Without it a signal kills the process and leaves the VM's lease until it ages out.
   */
  onInterrupt?: (handler: (signal?: StopSignal) => void) => () => void;
  /** Ends the process with `code` once a stopped command has released its lease. */
  exit?: (code: number) => void;
}

/** Flags every `colo vm` subcommand takes. */
interface TargetFlags {
  stack?: string;
  outputs?: string;
  endpoint?: string;
  json?: boolean;
}

/** Parses `key=value` pairs of `--set`. @throws VmConfigError */
export function parseSets(pairs: readonly string[]): Record<string, string> {
  // No prototype: `__proto__=1` must stay a key (and be refused as unknown), not replace the prototype.
  const out = Object.create(null) as Record<string, string>;
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new VmConfigError(`--set needs key=value, got ${JSON.stringify(pair)}`);
    const key = pair.slice(0, i);
    // Two values for one key is a slip (which did the operator mean?), not a last-one-wins override.
    if (key in out)
      throw new VmConfigError(
        `--set ${key} is given twice (${JSON.stringify(out[key])} and ${JSON.stringify(pair.slice(i + 1))}): give it once`,
      );
    out[key] = pair.slice(i + 1);
  }
  return out;
}

async function target(flags: TargetFlags, io: VmIo): Promise<FleetTarget> {
  const endpoint = endpointFromEnv(io.env ?? process.env, flags.endpoint);
  // AWS itself (`--endpoint aws`) has no LocalStack health page.
  if (endpoint.url !== AWS_ENDPOINT) await checkLocalStack(endpoint, ['s3', 'cloudformation', 'lambda']);
  const clients = clientsFor(endpoint, io.env ?? process.env);
  const outputs = flags.outputs
    ? readOutputsFile(flags.outputs, flags.stack)
    : await describeStackOutputs(clients, flags.stack ?? 'ColoServerless');
  return { clients, outputs, warn: (line) => io.stderr(`colo vm: ${line}\n`) };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function withTarget(cmd: Command): Command {
  return cmd
    .option('--stack <name>', 'the deployed stack (outputs read from CloudFormation)', 'ColoServerless')
    .option('--outputs <file>', 'a `cdk deploy --outputs-file` file instead of CloudFormation')
    .option(
      '--endpoint <url>',
      'endpoint (default AWS_ENDPOINT_URL, else 127.0.0.1 on LOCALSTACK_PORT or 4566); `aws` for AWS itself',
    )
    .option('--json', 'results as JSON on stdout')
    .helpOption('-h, --help', 'show help');
}

/**
 * Adds `vm` and its subcommands to `root`; each action sets the exit code through `done`.
 *
 * @param done - Receives each finished subcommand's exit code.
 */
export function addVmCommand(root: Command, io: VmIo, done: (code: number) => void): void {
  const vm = root
    .command('vm')
    .description('manage the VMs of a deployed fleet stack (add, set, list, show, remove)')
    .helpOption('-h, --help', 'show help');
  const out = (flags: TargetFlags, json: unknown, line: string): void =>
    io.stdout(flags.json ? `${JSON.stringify(json)}\n` : `${line}\n`);
  const say = (line: string): void => io.stderr(`colo vm: ${line}\n`);
  // A command that changes a VM, stopped by a signal, gives its lease back before it ends: the next
  // command need not wait for the lease to age out.
  const releasingOnStop =
    <A extends unknown[]>(action: (...args: A) => Promise<void>) =>
    async (...args: A): Promise<void> => {
      const off = io.onInterrupt?.((signal) => {
        const s = signal ?? 'SIGINT';
        say(
          `${stopWord(s)}: releasing the VM's lease; the steps done so far stay done (colo vm show tells where the VM is; run the command again)`,
        );
        void releaseAdminLeases().finally(() => io.exit?.(s === 'SIGTERM' ? 143 : 130));
      });
      try {
        await action(...args);
      } finally {
        off?.();
      }
    };

  const writeAction =
    (mode: 'add' | 'set') =>
    async (
      vmIdGiven: string | undefined,
      flags: TargetFlags & {
        set?: string[];
        scenario?: string;
        fromStack?: boolean;
      },
    ) => {
      // No prototype: a `__proto__` key stays a key (and is refused), as in parseSets.
      const values = Object.create(null) as Record<string, unknown>;
      let vmIdArg = vmIdGiven;
      const sets = parseSets(flags.set ?? []);
      if (flags.scenario) {
        // A scenario that compares several policies deploys one: the one `--set policy=…` names.
        const policy = typeof sets.policy === 'string' ? sets.policy : undefined;
        const { context, fileVmId, named } = scenarioContext(flags.scenario, policy);
        // `add` registers what `colo run --scenario` runs (registry defaults for the keys the file leaves
        // out); `set` changes only what the file names, as `--set` does.
        for (const [k, v] of Object.entries(context))
          if (VM_CONFIG_KEYS.includes(k) && k !== 'vmId' && (mode === 'add' || named.includes(k)))
            values[k] = v;
        // A file written for one VM is not registered under another's name by a slip of the argument.
        if (fileVmId !== undefined && vmIdGiven !== undefined && fileVmId !== vmIdGiven)
          throw new VmConfigError(
            `scenario file ${flags.scenario} is for VM ${fileVmId}, not ${vmIdGiven}: name ${fileVmId}, or drop "vmId" from the file`,
          );
        vmIdArg ??= fileVmId;
      }
      Object.assign(values, sets);
      // Bad ids, keys and values are refused before anything is contacted (`set` checks each value alone
      // here and the rules between keys once the stored config is known; the stack's cap once the stack is).
      if (vmIdArg !== undefined) checkVmId(vmIdArg);
      checkVmConfigValues(values);
      if (mode === 'add' && !flags.fromStack && vmIdArg !== undefined)
        configOf(vmIdArg, values, undefined, undefined);
      const t = await target(flags, io);
      let base: Parameters<typeof configOf>[2];
      let vmId = vmIdArg;
      if (flags.fromStack) {
        const deployed = deployedVmConfig(t.outputs);
        vmId ??= deployed.vmId;
        base = deployed;
      }
      if (vmId === undefined) throw new VmConfigError('name the VM: colo vm add <vmId> (or --from-stack)');
      const stored = mode === 'set' ? await getVm(t, vmId) : undefined;
      if (stored) base = stored;
      const config = configOf(vmId, values, base, t.outputs.applyTimeoutCapMs);
      say(`${mode === 'set' ? 'changing' : 'registering'} ${vmId} on ${t.outputs.stackName}`);
      // A set writes only over the config it started from (another command may have changed it since).
      const r = await writeVm(t, config, stored);
      if (r.changes.length > 0) say(`changed: ${r.changes.join(', ')}`);
      // Once written (a refused write says only why it was refused).
      const order = timeoutOrderWarning(config, (key) => `${key}Ms`);
      if (order !== undefined) say(`warning: ${order}`);
      if ('error' in r.timers) say(`timers: ${r.timers.error}`);
      if (r.stopped) say(`${vmId} is stopped (${r.stopped}): ${STOPPED_HINT(vmId)}`);
      if (r.failedOver) {
        say(
          `${vmId} failed over (fence won by the ${r.failedOver.owner}${r.failedOver.reason ? `: ${r.failedOver.reason}` : ''}): ${FAILED_OVER_HINT(vmId)}`,
        );
      }
      out(
        flags,
        { stack: t.outputs.stackName, ...r },
        `${vmId} ${r.replaced ? (r.changes.length > 0 ? 'changed' : 'unchanged') : 'added'} on ${t.outputs.stackName}; ${
          // A VM whose replication has ended runs no timer whatever its config says: say so, not "armed".
          r.failedOver
            ? `not replicating (failed over to the ${r.failedOver.owner})`
            : r.stopped
              ? `not replicating (stopped: ${r.stopped})`
              : `timers: ${
                  'error' in r.timers
                    ? 'at the next minute'
                    : Object.entries(r.timers)
                        .map(([k, v]) => `${k} ${v}`)
                        .join(', ')
                }`
        }`,
      );
      done(0);
    };

  for (const mode of ['add', 'set'] as const) {
    withTarget(
      vm
        .command(mode)
        .description(
          mode === 'add'
            ? 'register a VM (or replace its config) and start its timers'
            : 'change some parameters of a registered VM',
        )
        .argument(mode === 'add' ? '[vmId]' : '<vmId>', 'VM id ([a-z0-9][a-z0-9-]{0,62})'),
    )
      .option(
        '--set <key=value>',
        `a VM parameter (repeatable): ${VM_CONFIG_KEYS.filter((k) => k !== 'vmId').join(', ')}`,
        collect,
      )
      .option('--scenario <file>', 'take the VM parameters of a scenario file (as deploy:local --scenario)')
      .option(
        '--from-stack',
        "start from the stack's own VM config (output VmConfigJson: what its deploy registers)",
      )
      .action(releasingOnStop(writeAction(mode)));
  }

  withTarget(
    vm.command('list').description('list the registered VMs: replicating (epoch), stopped or failed over'),
  ).action(async (flags: TargetFlags) => {
    const t = await target(flags, io);
    const entries = await listVmStates(t);
    io.stdout(
      flags.json
        ? `${JSON.stringify({ stack: t.outputs.stackName, vms: entries.map((e) => e.vmId), status: entries })}\n`
        : formatVmList(entries, Date.now())
            .map((l) => `${l}\n`)
            .join(''),
    );
    done(0);
  });

  withTarget(
    vm
      .command('show')
      .description("a VM's config, timers, entries in the stack's pulse and monitor, and control document")
      .argument('<vmId>'),
  ).action(async (vmId: string, flags: TargetFlags) => {
    checkVmId(vmId); // before anything is contacted
    const t = await target(flags, io);
    const s = await showVm(t, vmId);
    io.stdout(`${JSON.stringify(s, null, flags.json ? undefined : 2)}\n`);
    done(0);
  });

  withTarget(
    vm
      .command('remove')
      .description('unregister a VM: its timers stop; state kept unless --delete-state')
      .argument('<vmId>'),
  )
    .option(
      '--delete-state',
      "also delete the VM's state/ and deltas/ objects (after warm functions drop it)",
    )
    .action(
      releasingOnStop(async (vmId: string, flags: TargetFlags & { deleteState?: boolean }) => {
        checkVmId(vmId); // before anything is contacted
        const t = await target(flags, io);
        const r = await removeVm(t, vmId, { deleteState: flags.deleteState === true, progress: say });
        out(
          flags,
          { stack: t.outputs.stackName, ...r },
          `${vmId} removed from ${t.outputs.stackName}${flags.deleteState ? `; ${r.deletedObjects} objects deleted` : '; state kept'}`,
        );
        done(0);
      }),
    );
}

/** Errors of `colo vm` that are the user's input or environment: printed as one line, exit 1. */
export function isVmInputError(e: unknown): e is Error {
  return e instanceof VmConfigError || e instanceof VmAdminError || e instanceof ScenarioError;
}
