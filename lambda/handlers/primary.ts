/**
 * PLACEHOLDER entry of the `primary` Lambda function, created with the CDK stack so that it synthesizes and
 * bundles; the real handler replaces this file. Contract: docs/cloud.md.
 */

/** Lambda entry point; not wired to the engine yet. */
export async function handler(_event: unknown): Promise<never> {
  throw new Error('not wired yet');
}
