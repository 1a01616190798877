#!/usr/bin/env bash
# Deploy the optional experiment stack (lib/experiment-stack.ts: the Step Functions fan-out of
# `colo experiment --backend stepfunctions`) to LocalStack with the pinned local CDK CLI.
#
#   npm run deploy:experiments:local                              # stack ColoExperiments
#   npm run deploy:experiments:local -- -c experimentStack=Exp2   # another stack name
#   npm run deploy:experiments:local -- -c mapKind=inline         # an inline Map instead of the Distributed Map
#
# Arguments:
#   -c KEY=VALUE, --context KEY=VALUE   context (docs/experiment.md#the-step-functions-backend): experimentStack,
#                                       mapKind, maxConcurrency, cellTimeoutSeconds, cellMemoryMiB,
#                                       runExpiryDays, logRetentionDays, s3ForcePathStyle
#   --outputs-file FILE                 stack outputs as JSON (default cdk-outputs/<stack>.json)
#   -h, --help                          this text
# On LocalStack two defaults differ from AWS's: s3ForcePathStyle=true (functions reach S3 on an IP endpoint)
# and maxConcurrency=2 (the emulator runs every function as a process on this machine). A -c given here wins.
#
# Environment: AWS_ENDPOINT_URL (default http://127.0.0.1:${LOCALSTACK_PORT:-4566}), AWS_REGION (default us-east-1),
# COLO_CDK_OUT (cloud-assembly folder, default cdk.out.deploy/<stack>).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'deploy-experiments-local: %s\n' "$*"; }
die() { printf 'deploy-experiments-local: error: %s\n' "$*" >&2; exit 1; }

ctx=()
given=" "
outputs_file=""
stack_name="ColoExperiments"
while [ $# -gt 0 ]; do
  case "$1" in
    -c|--context)
      [ $# -ge 2 ] || die "$1 needs KEY=VALUE"
      case "$2" in *=*) ;; *) die "$1 needs KEY=VALUE, got '$2'" ;; esac
      ctx+=(-c "$2"); given+="${2%%=*} "
      case "$2" in experimentStack=*) stack_name="${2#experimentStack=}" ;; esac
      shift 2 ;;
    --outputs-file) [ $# -ge 2 ] || die "--outputs-file needs a path"; outputs_file="$2"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
for kv in s3ForcePathStyle=true maxConcurrency=2; do
  case "$given" in *" ${kv%%=*} "*) ;; *) ctx+=(-c "$kv") ;; esac
done
[[ "$stack_name" =~ ^[A-Za-z][A-Za-z0-9-]{0,127}$ ]] || die "experimentStack must be a CloudFormation stack name, got '$stack_name'"
outputs_file="${outputs_file:-cdk-outputs/${stack_name}.json}"
cdk_out="${COLO_CDK_OUT:-cdk.out.deploy/${stack_name}}"

export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:${LOCALSTACK_PORT:-4566}}"
export AWS_ENDPOINT_URL_S3="${AWS_ENDPOINT_URL_S3:-$AWS_ENDPOINT_URL}"
export AWS_S3_FORCE_PATH_STYLE=1
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=1
export CDK_DEFAULT_ACCOUNT="${CDK_DEFAULT_ACCOUNT:-000000000000}" CDK_DEFAULT_REGION="$AWS_REGION"
unset AWS_PROFILE AWS_SESSION_TOKEN

health="$(curl -fsS --max-time 5 "${AWS_ENDPOINT_URL}/_localstack/health" 2>/dev/null || true)"
[ -n "$health" ] || die "no LocalStack at ${AWS_ENDPOINT_URL} — start it with: npm run localstack:up"
if ! printf '%s' "$health" | grep -Eq '"stepfunctions": *"(running|available)"'; then
  die "LocalStack at ${AWS_ENDPOINT_URL} does not run stepfunctions — restart it with: npm run localstack:down && npm run localstack:up (its default services include it)"
fi
# The CDK bootstrap stack (and the health of the other services) as for the main stack.
COLO_CDK_OUT="$cdk_out" bash scripts/deploy-local.sh --bootstrap-only

mkdir -p "$(dirname "$outputs_file")"
say "deploying ${stack_name} to ${AWS_ENDPOINT_URL} (context: ${ctx[*]}) ..."
t0=$(date +%s)
if ! npx cdk deploy "$stack_name" --app "npx tsx bin/experiment-app.ts" --require-approval never --no-notices \
  --progress events --output "$cdk_out" --outputs-file "$outputs_file" "${ctx[@]}"; then
  die "cdk deploy of ${stack_name} failed (LocalStack log: localstack/.state/localstack.log)"
fi
[ -s "$outputs_file" ] || die "cdk deploy wrote no outputs to ${outputs_file}"
say "deployed ${stack_name} in $(( $(date +%s) - t0 )) s; outputs: ${outputs_file}"
