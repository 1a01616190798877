/**
 * The metrics contract between the functions (EMF through Powertools, lambda/handlers/common/observability.ts)
 * and the stack's alarms and dashboard (lib/constructs/colo-alarms.ts, colo-dashboard.ts). Pure: the CDK app
 * imports it at synth time.
 */

/** CloudWatch namespace of every metric the functions emit. */
export const METRIC_NAMESPACE = 'ColoServerless';

/**
 * The one dimension of every metric: the function's service name (Powertools' `service`). Never the VM id,
 * so the number of metric series does not grow with the fleet.
 */
export const METRIC_DIMENSION = 'service';

/** Names of the counts the alarms and the dashboard read (each a `Count` per invocation). */
export const COLO_METRICS = {
  /** Completed checkpoints (primary side). */
  checkpoints: 'Checkpoints',
  /** Background rounds sent (primary side). */
  backgroundRounds: 'BackgroundRounds',
  /** Commits applied (secondary side). */
  commits: 'Commits',
  /** Failovers: the secondary took over. */
  failovers: 'Failovers',
  /** The watchdog replaced a tick chain that went quiet (generation after the first). */
  chainsRepaired: 'ChainsRepaired',
  /** A send whose object could not be stored: a skip went in its place. */
  sendsRetired: 'SendsRetired',
  /** A background round the secondary gave up (its deadline passed). */
  roundsAbandoned: 'RoundsAbandoned',
  /** Compare-and-swap conflicts on state documents. */
  casConflicts: 'CasConflicts',
  /** Delta keys the primary took back from an object that is not the VM's (a squatter with bucket write). */
  deltaObjectsTakenBack: 'DeltaObjectsTakenBack',
  /** Primary downtime of a checkpoint, ms (a `Milliseconds` value per checkpoint). */
  checkpointDowntime: 'CheckpointDowntime',
} as const;
