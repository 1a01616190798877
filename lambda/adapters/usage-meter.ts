/**
 * Counts every AWS request an SDK v3 client makes — service, operation, bytes each way, failures — into an
 * {@link AwsUsage} (src/cost/usage.ts), for the cost model. One middleware per client, placed inside the
 * SDK's retry loop so each attempt counts (AWS bills attempts), and outside nothing else: it reads two
 * headers and bumps a counter, nothing worth measuring per call.
 */
import { type AwsUsage, addRequest, emptyUsage, type MeteredService } from '../../src/cost/usage.ts';

/** What the meter needs of a client: its middleware stack (every SDK v3 client has one). */
export interface MeterableClient {
  middlewareStack: {
    add(middleware: never, options: { step: 'deserialize'; name?: string; priority?: 'low' }): void;
  };
}

/** The middleware's name in a client's stack (adding it twice is refused by the SDK; we check first). */
export const USAGE_METER_MIDDLEWARE = 'coloUsageMeter';

interface HttpMessage {
  headers?: Record<string, string | undefined>;
  body?: unknown;
  statusCode?: number;
}

function headerBytes(m: HttpMessage | undefined): number | undefined {
  const h = m?.headers;
  if (!h) return undefined;
  const v = h['content-length'] ?? h['Content-Length'];
  const n = v === undefined ? Number.NaN : Number(v);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

function bodyBytes(m: HttpMessage | undefined): number {
  const fromHeader = headerBytes(m);
  if (fromHeader !== undefined) return fromHeader;
  const b = m?.body;
  if (typeof b === 'string') return Buffer.byteLength(b);
  if (b instanceof Uint8Array) return b.byteLength;
  return 0;
}

/** `S3Client` → `s3`; an SQS client's service depends on the queue (FIFO or not), decided per request. */
function serviceOf(clientName: string | undefined, queueUrl: unknown): MeteredService {
  switch (clientName) {
    case 'S3Client':
      return 's3';
    case 'SQSClient':
      return typeof queueUrl === 'string' && queueUrl.endsWith('.fifo') ? 'sqs-fifo' : 'sqs';
    case 'SecretsManagerClient':
      return 'secretsmanager';
    case 'CloudWatchLogsClient':
      return 'logs';
    case 'LambdaClient':
      return 'lambda';
    case 'CloudFormationClient':
      return 'cloudformation';
    default:
      return 'other';
  }
}

/** An AWS request attempt under way (what a function that is still running waits on). */
export interface CallInFlight {
  /** `<service>:<Operation>`. */
  call: string;
  /** The object key or the queue's name, when the request names one. */
  target?: string;
  /** How long the attempt has been running, ms. */
  ageMs: number;
}

/** The object key or the queue's name a request names (for {@link CallInFlight}). */
function targetOf(
  input: { QueueUrl?: unknown; Key?: unknown; SecretId?: unknown } | undefined,
): string | undefined {
  if (typeof input?.Key === 'string') return input.Key;
  if (typeof input?.QueueUrl === 'string') return input.QueueUrl.slice(input.QueueUrl.lastIndexOf('/') + 1);
  if (typeof input?.SecretId === 'string') return 'secret';
  return undefined;
}

/** A running tally of requests; attach clients to it, read and reset it per invocation or per run. */
export class UsageMeter {
  #usage: AwsUsage = emptyUsage();
  readonly #attached = new WeakSet<object>();
  readonly #inFlight = new Map<number, { call: string; target?: string; startedAt: number }>();
  #nextCall = 0;
  readonly #clock: () => number;

  /** @param clock - Monotonic clock for the ages of calls in flight, ms; default `performance.now`. */
  constructor(clock: () => number = () => performance.now()) {
    this.#clock = clock;
  }

  /**
   * Counts `call` on `target` as in flight until the returned function is called: work the middleware does
   * not see, such as reading a response body after the request returned.
   */
  track(call: string, target?: string): () => void {
    const id = this.#nextCall++;
    this.#inFlight.set(id, { call, ...(target === undefined ? {} : { target }), startedAt: this.#clock() });
    return () => {
      this.#inFlight.delete(id);
    };
  }

  /** The request attempts under way now, oldest first (a hung call is the oldest). */
  inFlight(): CallInFlight[] {
    const now = this.#clock();
    return [...this.#inFlight.values()]
      .sort((a, b) => a.startedAt - b.startedAt)
      .map((c) => ({
        call: c.call,
        ...(c.target === undefined ? {} : { target: c.target }),
        ageMs: Math.round(now - c.startedAt),
      }));
  }

  /** The tally so far (live object: copy it before keeping it past a {@link reset}). */
  get usage(): AwsUsage {
    return this.#usage;
  }

  /** Starts a new tally; returns the one it ends. */
  reset(): AwsUsage {
    const done = this.#usage;
    this.#usage = emptyUsage();
    return done;
  }

  /** Counts `client`'s requests from now on (once per client, however often it is attached). @returns `client`. */
  attach<C extends MeterableClient>(client: C): C {
    if (this.#attached.has(client)) return client;
    this.#attached.add(client);
    const middleware =
      (
        next: (args: unknown) => Promise<{ response?: HttpMessage }>,
        context: { clientName?: string; commandName?: string },
      ) =>
      async (args: { request?: HttpMessage; input?: { QueueUrl?: unknown; Key?: unknown } }) => {
        const service = serviceOf(context.clientName, args.input?.QueueUrl);
        const operation = (context.commandName ?? 'Unknown').replace(/Command$/, '');
        const out = bodyBytes(args.request);
        const id = this.#nextCall++;
        const target = targetOf(args.input);
        this.#inFlight.set(id, {
          call: `${service}:${operation}`,
          ...(target === undefined ? {} : { target }),
          startedAt: this.#clock(),
        });
        try {
          const result = await next(args);
          const status = result.response?.statusCode ?? 200;
          addRequest(this.#usage, service, operation, out, headerBytes(result.response) ?? 0, status >= 400);
          return result;
        } catch (error) {
          addRequest(this.#usage, service, operation, out, 0, true);
          throw error;
        } finally {
          this.#inFlight.delete(id);
        }
      };
    // Inside the retry loop (finalizeRequest) and below the deserializer: one count per HTTP attempt,
    // with the raw response.
    client.middlewareStack.add(middleware as never, {
      step: 'deserialize',
      name: USAGE_METER_MIDDLEWARE,
      priority: 'low',
    });
    return client;
  }
}

/**
 * The meter of this process: a Lambda environment runs one invocation at a time, so the handler wrapper
 * (lambda/handlers/common/usage-report.ts) resets it at each invocation's start and reports it at the end.
 */
export const processMeter: UsageMeter = new UsageMeter();
