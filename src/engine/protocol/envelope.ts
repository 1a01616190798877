import { type ColoMessage, MESSAGE_VERSION } from './messages.ts';

/** A message without its envelope: what a sender fills in. */
export type Body<M> = M extends unknown ? Omit<M, 'v' | 'vmId' | 'epoch' | 'seq'> : never;

/** The counters a sender stamps messages from. */
export interface Sender {
  /** Epoch the sender is in. */
  epoch: number;
  /** Next outbound sequence number; incremented by {@link stamp}. */
  outSeq: number;
}

/** Puts the envelope on a message body: VM id, the sender's epoch and its next sequence number. */
export function stamp<M extends ColoMessage>(sender: Sender, vmId: string, body: Body<M>): M {
  return { v: MESSAGE_VERSION, vmId, epoch: sender.epoch, seq: sender.outSeq++, ...body } as M;
}
