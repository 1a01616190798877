#!/usr/bin/env bash
# Deploy the CDK stack (ColoStack) to LocalStack with the pinned local CDK CLI; bootstrap first if needed.
#
#   npm run deploy:local                                   # stack ColoServerless, VM vm-0, cdk.json defaults
#   npm run deploy:local -- -c stackName=Colo-vm-1 -c vmId=vm-1 -c checkpointDelayMs=5000
#   npm run deploy:local -- --outputs-file out.json        # where the stack outputs go
#   npm run deploy:local -- --stack-set vms.json           # several stacks from one synthesis (lib/stack-set.ts)
#   npm run deploy:local -- --scenario experiments/scenarios/buffered-io.json -c policy=adaptive
#
# Arguments:
#   -c KEY=VALUE, --context KEY=VALUE   CDK context (stack parameters, see docs/cloud.md), passed through
#   --outputs-file FILE                 stack outputs as JSON (default cdk-outputs/<stackName>.json, or
#                                       cdk-outputs/<stack-set file name>.json)
#   --stack-set FILE                    deploy every stack of a stack set (JSON: stack name → context), in
#                                       parallel, from one synthesis
#   --scenario FILE                     deploy what `colo run --scenario FILE` runs: the file's parameters as
#                                       context (docs/parameters.md; keys it leaves out take the registry
#                                       defaults, as in colo run); -c KEY=VALUE given here wins over the file
#   --print-context                     print the context that would be deployed (with --scenario) and exit
#   --bootstrap-only                    only make sure the CDK bootstrap stack exists (before parallel deploys)
#   -h, --help                          this text
# Context `s3ForcePathStyle=true` is added unless given (functions reach S3 on an IP endpoint), and
# `channelPollers=4` and `tickPollers=2` but for a stack set (LocalStack runs one invocation per
# event-source mapping at a time; the stack's defaults, for AWS, are 1).
#
# Environment:
#   AWS_ENDPOINT_URL          LocalStack endpoint (default http://127.0.0.1:${LOCALSTACK_PORT:-4566})
#   COLO_CDK_OUT              cloud-assembly folder (default cdk.out.deploy/<stackName>; one per stack, so
#                             deploys of different stacks can run at the same time)
#   AWS_REGION                default us-east-1
# Idempotent: a re-deploy of an unchanged stack reports "no changes"; a changed one is updated in place.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'deploy-local: %s\n' "$*"; }
die() { printf 'deploy-local: error: %s\n' "$*" >&2; exit 1; }

ctx=()
outputs_file=""
stack_name=""
has_path_style=0
bootstrap_only=0
stack_set=""
scenario=""
print_context=0
while [ $# -gt 0 ]; do
  case "$1" in
    -c|--context)
      [ $# -ge 2 ] || die "$1 needs KEY=VALUE"
      case "$2" in *=*) ;; *) die "$1 needs KEY=VALUE, got '$2'" ;; esac
      ctx+=(-c "$2")
      case "$2" in stackName=*) stack_name="${2#stackName=}" ;; s3ForcePathStyle=*) has_path_style=1 ;; esac
      shift 2 ;;
    -c=*|--context=*)
      v="${1#*=}"; ctx+=(-c "$v")
      case "$v" in stackName=*) stack_name="${v#stackName=}" ;; s3ForcePathStyle=*) has_path_style=1 ;; esac
      shift ;;
    --outputs-file) [ $# -ge 2 ] || die "--outputs-file needs a path"; outputs_file="$2"; shift 2 ;;
    --outputs-file=*) outputs_file="${1#*=}"; shift ;;
    --bootstrap-only) bootstrap_only=1; shift ;;
    --stack-set) [ $# -ge 2 ] || die "--stack-set needs a file"; stack_set="$2"; shift 2 ;;
    --stack-set=*) stack_set="${1#*=}"; shift ;;
    --scenario) [ $# -ge 2 ] || die "--scenario needs a file"; scenario="$2"; shift 2 ;;
    --scenario=*) scenario="${1#*=}"; shift ;;
    --print-context) print_context=1; shift ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ "$has_path_style" = 1 ] || ctx+=(-c s3ForcePathStyle=true)
if [ -n "$scenario" ]; then
  [ -z "$stack_set" ] || die "give either --scenario or --stack-set, not both"
  # Keys given with -c win over the file: leave them out of the scenario's context.
  given=" "; policy=""
  for ((i = 1; i < ${#ctx[@]}; i += 2)); do
    given+="${ctx[$i]%%=*} "
    case "${ctx[$i]}" in policy=*) policy="${ctx[$i]#policy=}" ;; esac
  done
  lines="$(npx tsx scripts/scenario-context.ts "$scenario" "$policy")" || exit 1
  while IFS= read -r kv; do
    [ -n "$kv" ] || continue
    case "$given" in *" ${kv%%=*} "*) ;; *) ctx+=(-c "$kv") ;; esac
  done <<<"$lines"
fi
# LocalStack's SQS event source runs one invocation at a time per mapping (AWS runs them side by side): two
# mappings per tick queue keep a long pulse from holding the next one back, and four per channel keep one
# large guest's checkpoint (seconds of device-state sends) from holding every other VM's primary or
# secondary step (docs/localstack.md, gap 18). A stack set's file says its stacks' own context (the test
# stacks).
if [ -z "$stack_set" ]; then
  case " ${ctx[*]} " in *" tickPollers="*) ;; *) ctx+=(-c tickPollers=2) ;; esac
  case " ${ctx[*]} " in *" channelPollers="*) ;; *) ctx+=(-c channelPollers=4) ;; esac
fi
if [ "$print_context" = 1 ]; then
  printf '%s\n' "${ctx[@]}" | paste -d' ' - -
  exit 0
fi
targets=()
if [ -n "$stack_set" ]; then
  [ -z "$stack_name" ] || die "give either -c stackName=… or --stack-set, not both"
  [ -f "$stack_set" ] || die "stack set file not found: $stack_set"
  set_name="$(basename "$stack_set" .json)"
  ctx+=(-c "stackSet=${stack_set}")
  mapfile -t targets < <(node -e 'for (const k of Object.keys(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")))) console.log(k)' "$stack_set") \
    || die "stack set $stack_set is not a JSON object"
  [ "${#targets[@]}" -gt 0 ] || die "stack set $stack_set names no stack"
  outputs_file="${outputs_file:-cdk-outputs/${set_name}.json}"
  cdk_out="${COLO_CDK_OUT:-cdk.out.deploy/${set_name}}"
  what="stack set ${set_name} (${targets[*]})"
else
  if [ -z "$stack_name" ]; then
    stack_name="$(node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync("cdk.json","utf8")).context?.stackName ?? "ColoServerless"))')"
  fi
  [[ "$stack_name" =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]] || die "stackName must be a CloudFormation stack name, got '$stack_name'"
  targets=("$stack_name")
  outputs_file="${outputs_file:-cdk-outputs/${stack_name}.json}"
  cdk_out="${COLO_CDK_OUT:-cdk.out.deploy/${stack_name}}"
  what="$stack_name"
fi

export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:${LOCALSTACK_PORT:-4566}}"
export AWS_ENDPOINT_URL_S3="${AWS_ENDPOINT_URL_S3:-$AWS_ENDPOINT_URL}"
export AWS_S3_FORCE_PATH_STYLE=1
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=1
# The SDK's Node 20 notice (SDK releases after January 2027) on every step is noise here: the SDK is pinned.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED="${AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED:-true}"
export CDK_DEFAULT_ACCOUNT="${CDK_DEFAULT_ACCOUNT:-000000000000}" CDK_DEFAULT_REGION="$AWS_REGION"
unset AWS_PROFILE AWS_SESSION_TOKEN

# 1. LocalStack must answer.
health="$(curl -fsS --max-time 5 "${AWS_ENDPOINT_URL}/_localstack/health" 2>/dev/null || true)"
if [ -z "$health" ]; then
  die "no LocalStack at ${AWS_ENDPOINT_URL} — start it with: npm run localstack:up"
fi
for svc in cloudformation lambda sqs s3 events iam; do
  if ! printf '%s' "$health" | grep -Eq "\"${svc}\": *\"(running|available)\""; then
    die "LocalStack at ${AWS_ENDPOINT_URL} does not run ${svc} (health: ${health}) — restart it with: npm run localstack:down && npm run localstack:up"
  fi
done

start=$(date +%s)
# 2. Bootstrap once per LocalStack (it keeps no state across restarts). Another deploy may bootstrap at the
#    same time: a failed bootstrap is accepted when the toolkit stack is complete afterwards.
toolkit_status() {
  node --no-warnings --input-type=module -e '
    const { CloudFormationClient, DescribeStacksCommand } = await import("@aws-sdk/client-cloudformation");
    try {
      const r = await new CloudFormationClient({}).send(new DescribeStacksCommand({ StackName: "CDKToolkit" }));
      process.stdout.write(r.Stacks?.[0]?.StackStatus ?? "NONE");
    } catch { process.stdout.write("NONE"); }
  ' 2>/dev/null || printf 'NONE'
}
status="$(toolkit_status)"
case "$status" in
  CREATE_COMPLETE|UPDATE_COMPLETE) say "CDK bootstrap present (CDKToolkit ${status})" ;;
  *)
    say "bootstrapping aws://${CDK_DEFAULT_ACCOUNT}/${AWS_REGION} (CDKToolkit: ${status}) ..."
    if ! npx cdk bootstrap "aws://${CDK_DEFAULT_ACCOUNT}/${AWS_REGION}" --no-notices --output "${cdk_out}" \
      "${ctx[@]}"; then
      for _ in 1 2 3 4 5 6 7 8 9 10 11 12; do
        status="$(toolkit_status)"
        case "$status" in CREATE_COMPLETE|UPDATE_COMPLETE) break ;; esac
        sleep 5
      done
      case "$status" in
        CREATE_COMPLETE|UPDATE_COMPLETE) say "bootstrap raced with another deploy; CDKToolkit is ${status}" ;;
        *) die "cdk bootstrap failed (CDKToolkit: ${status})" ;;
      esac
    fi
    say "bootstrapped in $(( $(date +%s) - start )) s" ;;
esac

[ "$bootstrap_only" = 0 ] || exit 0

# 3. Deploy (synth bundles the functions with the local esbuild; change sets as on AWS).
mkdir -p "$(dirname "$outputs_file")"
say "deploying ${what} to ${AWS_ENDPOINT_URL} (context: ${ctx[*]}) ..."
t0=$(date +%s)
if ! npx cdk deploy "${targets[@]}" --require-approval never --no-notices --progress events \
  --concurrency "${#targets[@]}" --output "${cdk_out}" --outputs-file "$outputs_file" "${ctx[@]}"; then
  die "cdk deploy of ${what} failed (LocalStack log: localstack/.state/localstack.log)"
fi
[ -s "$outputs_file" ] || die "cdk deploy wrote no outputs to ${outputs_file}"
say "deployed ${what} in $(( $(date +%s) - t0 )) s (total $(( $(date +%s) - start )) s); outputs: ${outputs_file}"

# 4. Register each stack's VM (the context's vmId and parameters, output VmConfigJson) in its registry,
#    vms/<vmId>.json, and start its timers (colo vm add --from-stack: idempotent, retried inside). A stack
#    holds no VM-specific environment any more: without this step its functions would refuse every record.
#    A failed write fails the deploy with the command that finishes it; re-running the deploy also does.
for target in "${targets[@]}"; do
  if ! added=$(npx tsx bin/colo.ts vm add --from-stack --stack "$target" --outputs "$outputs_file"); then
    die "stack ${target} is deployed but its VM is not registered; finish with: npx tsx bin/colo.ts vm add --from-stack --stack ${target} --outputs ${outputs_file}"
  fi
  # colo vm add's own line: "<vm> added on <stack>; timers: …", or why the VM is not replicating.
  say "registered the VM of ${target} (vms/<vmId>.json): ${added}"
done
