/**
 * The conformance replay inside the deployed functions: each step is a real Lambda Invoke of the stack's
 * `primary` or `secondary-apply` function with a virtual-clock event (`lambda/handlers/test/virtual-clock.ts`),
 * so the step runs in the function's own process, with its own environment, adapters, bucket and queues.
 * The driver receives each message from the stack's real FIFO queue and passes its body in the event.
 *
 * For that the stack is put in replay mode first ({@link enterReplayMode}): replication stopped (control
 * flag), the channel event-source mappings disabled (the driver, not Lambda, takes the messages), the
 * queues purged and the VM's documents deleted, and `COLO_VIRTUAL_CLOCK=allow` set on the two functions.
 * {@link leaveReplayMode} undoes the mappings and the variable; replication stays stopped.
 */
import {
  GetFunctionConfigurationCommand,
  InvokeCommand,
  ListEventSourceMappingsCommand,
  UpdateEventSourceMappingCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { markFailedOver } from '../../../lambda/handlers/common/control.ts';
import {
  VIRTUAL_CLOCK_ENV,
  VIRTUAL_CLOCK_SOURCE,
  type VirtualClockResponse,
} from '../../../lambda/handlers/test/virtual-clock.ts';
import { BackendError, type Clients } from './aws.ts';
import { reset, STOP_REASON, waitQuiet } from './backend.ts';
import type { Stepper } from './replay.ts';
import type { StackOutputs } from './stack.ts';
import type { StepInput } from './step.ts';

/** Invocations made by a {@link lambdaStepper}, and their summed round-trip time, ms. */
export interface LambdaStepperStats {
  invocations: number;
  totalMs: number;
}

/**
 * A stepper that invokes the deployed functions (RequestResponse) with virtual-clock events.
 *
 * @throws BackendError when a function errs (its error payload is in the message).
 */
export function lambdaStepper(
  clients: Clients,
  outputs: StackOutputs,
  stats: LambdaStepperStats = { invocations: 0, totalMs: 0 },
): Stepper {
  return async (node, now, input: StepInput) => {
    const fn = node === 'primary' ? outputs.primaryFunction : outputs.secondaryApplyFunction;
    const t0 = performance.now();
    const r = await clients.lambda.send(
      new InvokeCommand({
        FunctionName: fn,
        Payload: Buffer.from(
          JSON.stringify({ source: VIRTUAL_CLOCK_SOURCE, vmId: outputs.vmId, now, input }),
          'utf8',
        ),
      }),
    );
    stats.invocations++;
    stats.totalMs += performance.now() - t0;
    const text = Buffer.from(r.Payload ?? []).toString('utf8');
    if (r.FunctionError) throw new BackendError(`${node} function ${fn} failed at ${now} ms: ${text}`);
    const answer = JSON.parse(text) as VirtualClockResponse;
    return {
      clock: answer.clock,
      outcomes: answer.outcomes.map((o, index) => ({ index, ...o })),
      sent: answer.sent.map((m) => ({ from: node, type: m.type, epoch: m.epoch, seq: m.seq })),
    };
  };
}

async function setVirtualClockEnv(clients: Clients, fn: string, allow: boolean): Promise<void> {
  const conf = await clients.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: fn }));
  const vars = { ...(conf.Environment?.Variables ?? {}) };
  if (allow === (vars[VIRTUAL_CLOCK_ENV] === 'allow')) return;
  if (allow) vars[VIRTUAL_CLOCK_ENV] = 'allow';
  else delete vars[VIRTUAL_CLOCK_ENV];
  await clients.lambda.send(
    new UpdateFunctionConfigurationCommand({ FunctionName: fn, Environment: { Variables: vars } }),
  );
  for (let i = 0; i < 120; i++) {
    const c = await clients.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: fn }));
    if (c.LastUpdateStatus !== 'InProgress' && c.State !== 'Pending') {
      if (c.LastUpdateStatus === 'Failed')
        throw new BackendError(`updating ${fn} failed: ${c.LastUpdateStatusReason}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new BackendError(`updating ${fn} did not finish`);
}

async function setMappings(clients: Clients, fn: string, enabled: boolean): Promise<void> {
  const list = await clients.lambda.send(new ListEventSourceMappingsCommand({ FunctionName: fn }));
  for (const m of list.EventSourceMappings ?? []) {
    if (!m.UUID) continue;
    await clients.lambda.send(new UpdateEventSourceMappingCommand({ UUID: m.UUID, Enabled: enabled }));
  }
}

/**
 * Puts the stack in replay mode (see the module comment). Waits for work in flight to finish before it
 * deletes anything.
 */
export async function enterReplayMode(clients: Clients, outputs: StackOutputs): Promise<void> {
  const state = new S3StateStore({ bucket: outputs.bucketName, client: clients.s3 });
  await markFailedOver(state, outputs.vmId, `${STOP_REASON} (conformance replay)`, Date.now());
  await waitQuiet(clients, outputs, outputs.vmId, 60_000, (ms) => new Promise((r) => setTimeout(r, ms)));
  for (const fn of [outputs.primaryFunction, outputs.secondaryApplyFunction]) {
    await setMappings(clients, fn, false);
    await setVirtualClockEnv(clients, fn, true);
  }
  // A mapping that was polling when it was disabled may still hand over a batch: let it drain.
  await new Promise((r) => setTimeout(r, 1500));
  await reset(clients, outputs, state, outputs.vmId);
}

/** Re-enables the channel mappings and removes the variable; replication stays stopped. */
export async function leaveReplayMode(clients: Clients, outputs: StackOutputs): Promise<void> {
  for (const fn of [outputs.primaryFunction, outputs.secondaryApplyFunction]) {
    await setVirtualClockEnv(clients, fn, false);
    await setMappings(clients, fn, true);
  }
}
