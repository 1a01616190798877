#!/usr/bin/env bash
# The whole test suite: lint, types, unit/property/fuzz tests, the LocalStack executor's own tests, then
# LocalStack (started here unless one already listens on 127.0.0.1:4566) and the integration tests, which
# deploy the CDK stack to it (test/integration/colo-it-stacks.json: four small stacks, one synthesis, via
# scripts/deploy-local.sh), run COLO sessions on them and destroy them at the end; the experiment stack
# (scripts/deploy-experiments-local.sh) is deployed and destroyed by its own test.
#   npm test                      # everything
#   SKIP_INTEGRATION=1 npm test   # no LocalStack
#   SKIP_BROWSER=1 npm test       # no headless Chromium (report.html)
#   LOCALSTACK_PORT=4599 npm test # this checkout's own LocalStack on another port (AWS_ENDPOINT_URL follows;
#                                 # one exported before is replaced)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p reports
export CDK_DISABLE_CLI_TELEMETRY=true
step() { printf '\n== %s ==\n' "$1"; }

step "lint and format (Biome)"
npx biome check .

step "types (tsc, strict)"
npx tsc --noEmit -p tsconfig.json

step "layers (scripts/check-imports.mjs: nothing imports upward; no test tooling in function bundles)"
node scripts/check-imports.mjs

step "generated docs (docs/parameters.md, schema/scenario.schema.json from the parameter registry)"
npx tsx scripts/docs-parameters.ts --check

step "unit, property and fuzz tests (vitest)"
npx vitest run --project unit --reporter=default --reporter=json --outputFile.json=reports/vitest-unit.json

if [ "${SKIP_BROWSER:-0}" != "1" ]; then
  step "report.html in headless Chromium (system chromium via puppeteer-core)"
  bash scripts/chromium.sh
  npx vitest run --project browser --reporter=default --reporter=json --outputFile.json=reports/vitest-browser.json
fi

if [ "${SKIP_INTEGRATION:-0}" != "1" ]; then
  step "LocalStack executor plugin (pytest)"
  bash scripts/localstack-up.sh --install-only --with-tests
  (cd localstack/executor && ../.venv/bin/python -m pytest -q tests)

  step "LocalStack"
  started=0
  port="${LOCALSTACK_PORT:-4566}"
  # The integration tests talk to the LocalStack started (or found) here, whatever the shell had exported:
  # an AWS_ENDPOINT_URL left over from another session would send them to a LocalStack that is gone.
  want="http://127.0.0.1:${port}"
  if [ -n "${AWS_ENDPOINT_URL:-}" ] && [ "${AWS_ENDPOINT_URL}" != "$want" ]; then
    echo "test: AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL} replaced by ${want} (LOCALSTACK_PORT chooses the port)" >&2
  fi
  export AWS_ENDPOINT_URL="$want"
  if ! curl -fsS -m 2 "http://127.0.0.1:${port}/_localstack/health" >/dev/null 2>&1; then started=1; fi
  bash scripts/localstack-up.sh
  if [ "$started" = 1 ]; then trap 'bash scripts/localstack-down.sh' EXIT; fi

  step "integration tests against LocalStack (deploys the test stacks, runs COLO on them)"
  npx vitest run --project integration --reporter=default --reporter=json \
    --outputFile.json=reports/vitest-integration.json
fi

node scripts/test-summary.mjs reports/vitest-unit.json reports/vitest-browser.json reports/vitest-integration.json
