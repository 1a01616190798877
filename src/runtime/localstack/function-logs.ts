/**
 * Reads back the JSON lines a deployed function wrote to CloudWatch Logs in a time window — from
 * `/aws/lambda/<name>` and the function's configured log group, each event once, every page.
 */
import { FilterLogEventsCommand, type FilterLogEventsCommandOutput } from '@aws-sdk/client-cloudwatch-logs';
import { GetFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import type { Clients } from './aws.ts';

/** Most pages read per log group (a bound against a token that never ends). */
const MAX_PAGES = 10_000;

/**
 * Calls `visit` with every JSON log line (the object after the line's first `{`) function `fn` wrote
 * between `startMs` and `endMs` (ms since the epoch), and the event's time stamp (ms). Lines that are not
 * JSON (platform lines, console output) are skipped; a missing log group is no lines.
 */
export async function forEachLogLine(
  clients: Clients,
  fn: string,
  startMs: number,
  endMs: number,
  visit: (line: Record<string, unknown>, timestampMs: number) => void,
): Promise<void> {
  const conf = await clients.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: fn }));
  const groups = [
    ...new Set([`/aws/lambda/${fn}`, conf.LoggingConfig?.LogGroup].filter((g): g is string => !!g)),
  ];
  const seen = new Set<string>();
  for (const group of groups) {
    let token: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      let r: FilterLogEventsCommandOutput;
      try {
        r = await clients.logs.send(
          new FilterLogEventsCommand({
            logGroupName: group,
            startTime: startMs,
            endTime: endMs,
            ...(token ? { nextToken: token } : {}),
          }),
        );
      } catch (e) {
        if ((e as { name?: string }).name === 'ResourceNotFoundException') break;
        throw e;
      }
      for (const e of r.events ?? []) {
        const id = e.eventId ?? `${e.logStreamName}/${e.timestamp}/${e.message}`;
        if (seen.has(id)) continue;
        seen.add(id);
        const text = e.message ?? '';
        const at = text.indexOf('{');
        if (at < 0) continue;
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text.slice(at)) as Record<string, unknown>;
        } catch {
          continue;
        }
        visit(line, e.timestamp ?? 0);
      }
      if (!r.nextToken || r.nextToken === token) break;
      token = r.nextToken;
    }
  }
}
