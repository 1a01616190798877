import { serialize } from 'node:v8';
import type { Effect } from '../../src/engine/effects.ts';
import { type ColoParams, DEFAULT_PARAMS } from '../../src/engine/params.ts';
import type { ColoMessage, ColoMessageType } from '../../src/engine/protocol/messages.ts';

/** Small, fast parameters for tests: 256 pages (1 MiB), materialised payloads, short periods. */
export function testParams(over: Partial<ColoParams> = {}): ColoParams {
  return {
    ...DEFAULT_PARAMS,
    guestBytes: 256 * 4096,
    workload: { kind: 'hotcold', hotPages: 16, hotRate: 200, coldRate: 100 },
    checkpointDelayMs: 1000,
    pendingCheckIntervalMs: 100,
    thresholdBytes: 20 * 4096,
    applyTimeoutMs: 500,
    checkpointTimeoutMs: 2000,
    heartbeatIntervalMs: 100,
    heartbeatTimeoutMs: 400,
    deviceStateBytes: 1024,
    ...over,
  };
}

/** A byte-exact fingerprint of a node's state, to prove a rejected input changed nothing. */
export function fingerprint(state: object): Buffer {
  return serialize(state);
}

/** The messages a node sent, from its effects. */
export function sent(effects: readonly Effect[]): ColoMessage[] {
  return effects.flatMap((e) => (e.type === 'send' ? [e.message] : []));
}

/** The errors a node reported, from its effects. */
export function rejections(effects: readonly Effect[]): string[] {
  return effects.flatMap((e) => (e.type === 'rejected' ? [`${e.error.code}: ${e.error.message}`] : []));
}

/**
 * Beat numbers of {@link messageOf}'s heartbeats: strictly increasing and above any a test primary sends,
 * so each is fresh to a secondary that admitted others.
 */
let nextBeat = 1_000_000_000;

/** A well-formed message of any type with the given envelope (payload-free fields filled with valid values). */
export function messageOf(type: ColoMessageType, vmId: string, epoch: number, seq: number): ColoMessage {
  const env = { v: 1 as const, vmId, epoch, seq };
  switch (type) {
    case 'checkpoint-request':
      return { ...env, type, trigger: 'timer' };
    case 'checkpoint-reply':
      return { ...env, type, appliedRounds: [] };
    case 'vmstate-size':
      return { ...env, type, size: 1024 };
    case 'vmstate-loaded':
      return { ...env, type, applyMemMs: 1, applyDevMs: 1 };
    case 'migrate-ram-background':
      return { ...env, type, round: 1 };
    case 'skip':
      return { ...env, type, retired: 'delta', reason: 'test' };
    case 'heartbeat':
      return { ...env, type, beat: nextBeat++, sentAt: 0 };
    case 'delta':
      return {
        ...env,
        type,
        kind: 'checkpoint-ram',
        round: 0,
        claim: { key: `${vmId}/${epoch}/${seq}-checkpoint-ram`, size: 10, sha256: '0'.repeat(64) },
      };
    default:
      return { ...env, type } as ColoMessage;
  }
}
