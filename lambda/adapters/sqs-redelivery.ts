/**
 * Fast redelivery of failed records: SQS would show a record the function could not process again only after
 * the queue's visibility timeout (60 s and more), far longer than the secondary's heartbeat timeout. A
 * consumer that failed records shortens their visibility to a second instead, so SQS hands them (and, FIFO,
 * the records behind them in their group) over again almost at once.
 */
import { ChangeMessageVisibilityBatchCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';

/** Makes failed records visible again soon. */
export interface Redelivery {
  /**
   * Sets the visibility of `records` to `seconds` from now (best effort: a record whose receipt expired is
   * skipped; its normal visibility timeout still brings it back).
   *
   * @returns How many records were changed.
   */
  soon(records: readonly SQSRecord[], seconds: number): Promise<number>;
}

/** Queue name and owner account from an SQS ARN (`arn:aws:sqs:<region>:<account>:<name>`). */
export function queueOfArn(arn: string): { name: string; account: string } | undefined {
  const parts = arn.split(':');
  if (parts.length !== 6 || parts[0] !== 'arn' || parts[2] !== 'sqs') return undefined;
  const [, , , , account, name] = parts as [string, string, string, string, string, string];
  return name && account ? { name, account } : undefined;
}

/** {@link Redelivery} through `ChangeMessageVisibilityBatch`; queue URLs looked up once per warm container. */
export class SqsRedelivery implements Redelivery {
  readonly #client: SQSClient;
  readonly #urls = new Map<string, Promise<string>>();

  /** Creates the adapter on `client`. */
  constructor(client: SQSClient) {
    this.#client = client;
  }

  /** See {@link Redelivery.soon}. */
  async soon(records: readonly SQSRecord[], seconds: number): Promise<number> {
    const byQueue = new Map<string, SQSRecord[]>();
    for (const r of records) {
      if (!r.receiptHandle || !r.eventSourceARN) continue;
      const list = byQueue.get(r.eventSourceARN) ?? [];
      list.push(r);
      byQueue.set(r.eventSourceARN, list);
    }
    let changed = 0;
    for (const [arn, list] of byQueue) {
      const url = await this.#url(arn);
      for (let i = 0; i < list.length; i += 10) {
        const chunk = list.slice(i, i + 10);
        const out = await this.#client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: url,
            Entries: chunk.map((r, j) => ({
              Id: String(j),
              ReceiptHandle: r.receiptHandle,
              VisibilityTimeout: seconds,
            })),
          }),
        );
        changed += out.Successful?.length ?? 0;
      }
    }
    return changed;
  }

  #url(arn: string): Promise<string> {
    let url = this.#urls.get(arn);
    if (!url) {
      const q = queueOfArn(arn);
      if (!q) return Promise.reject(new Error(`not an SQS queue ARN: ${arn}`));
      url = this.#client
        .send(new GetQueueUrlCommand({ QueueName: q.name, QueueOwnerAWSAccountId: q.account }))
        .then((o) => {
          if (!o.QueueUrl) throw new Error(`no URL for queue ${arn}`);
          return o.QueueUrl;
        });
      // A failed look-up is not cached: the next batch tries again.
      url.catch(() => this.#urls.delete(arn));
      this.#urls.set(arn, url);
    }
    return url;
  }
}
