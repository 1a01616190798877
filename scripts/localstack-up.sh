#!/usr/bin/env bash
# Start LocalStack for this project on 127.0.0.1:4566 (or LOCALSTACK_PORT) without Docker (host mode), or reuse
# one that runs there.
#
#   scripts/localstack-up.sh            # reuse / install (first run) / start, wait until healthy
#   scripts/localstack-up.sh --install-only [--with-tests]   # only build localstack/.venv
#
# What it does (see docs/localstack.md):
#   1. If http://127.0.0.1:PORT/_localstack/health answers like LocalStack (for example the official Docker
#      image), reuse it and exit 0.
#   2. Otherwise create localstack/.venv (python3 -m venv) on first use and install the pinned
#      localstack/requirements.lock (+ the host-node Lambda executor in localstack/executor). Reinstalls
#      when the lock or the executor changes.
#   3. Install the Node.js binaries of the functions' runtime majors (scripts/install-lambda-node.sh: from the
#      npm registry into localstack/.node, once; the executor falls back to the host's Node without them).
#   4. Start `python -m localstack.runtime.main` in the background with host-mode settings; log to
#      localstack/.state/localstack.log, pid in localstack/.state/localstack.pid; wait for health.
#
# Environment knobs:
#   LOCALSTACK_PORT          port on 127.0.0.1 (default 4566). A second LocalStack for one checkout (a git
#                            worktree) runs beside the first on another port: its state (pid, log, venv) is
#                            under that checkout's localstack/ folder; point clients at it with
#                            AWS_ENDPOINT_URL=http://127.0.0.1:PORT
#   LOCALSTACK_PYTHON        interpreter used to create the venv (default: python3)
#   LOCALSTACK_SERVICES      services to enable (default below)
#   LOCALSTACK_UP_TIMEOUT    seconds to wait for health (default 120)
#   LOCALSTACK_EXTRA_ENV     extra "KEY=VALUE KEY2=VALUE2" settings passed to LocalStack
#   LAMBDA_NODE_MAJORS       Node majors to install for the functions (default: the stack's runtime, 22)
#   DEBUG=1                  LocalStack debug logging
set -euo pipefail

HOST=127.0.0.1
PORT="${LOCALSTACK_PORT:-4566}"
[[ "$PORT" =~ ^[1-9][0-9]{0,4}$ ]] && ((PORT <= 65535)) || { echo "localstack-up: error: LOCALSTACK_PORT must be a TCP port, got '${PORT}'" >&2; exit 2; }
ENDPOINT="http://${HOST}:${PORT}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LS_DIR="${REPO_ROOT}/localstack"
VENV="${LS_DIR}/.venv"
STATE_DIR="${LS_DIR}/.state"
FS_ROOT="${LS_DIR}/.filesystem"
PID_FILE="${STATE_DIR}/localstack.pid"
LOG_FILE="${STATE_DIR}/localstack.log"
STAMP_FILE="${VENV}/.colo-install-stamp"
SERVICES="${LOCALSTACK_SERVICES:-s3,sqs,lambda,events,cloudformation,iam,sts,ssm,logs,cloudwatch,kms,secretsmanager,sns,stepfunctions}"
UP_TIMEOUT="${LOCALSTACK_UP_TIMEOUT:-120}"
PYTHON="${LOCALSTACK_PYTHON:-python3}"

INSTALL_ONLY=0
WITH_TESTS=0
for arg in "$@"; do
  case "$arg" in
    --install-only) INSTALL_ONLY=1 ;;
    --with-tests) WITH_TESTS=1 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "localstack-up: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

say() { printf 'localstack-up: %s\n' "$*"; }
die() { printf 'localstack-up: error: %s\n' "$*" >&2; exit 1; }

# --- helpers -------------------------------------------------------------------------------------------
health_json() {
  # prints the health document, or nothing if no HTTP answer
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 3 "${ENDPOINT}/_localstack/health" 2>/dev/null || true
  elif command -v "$PYTHON" >/dev/null 2>&1; then
    "$PYTHON" - "$ENDPOINT" <<'PY' 2>/dev/null || true
import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1] + "/_localstack/health", timeout=3).read().decode())
except Exception:
    pass
PY
  fi
}

is_localstack_health() { grep -q '"services"' <<<"$1"; }

port_open() { (exec 3<>"/dev/tcp/${HOST}/${PORT}") 2>/dev/null; }

our_pid_alive() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q 'localstack.runtime.main'
}

# all requested services report running/available
services_ready() {
  local json="$1" svc
  for svc in ${SERVICES//,/ }; do
    grep -Eq "\"${svc}\": *\"(running|available)\"" <<<"$json" || return 1
  done
}

wait_for_health() {
  local pid="$1" started now waited=0 json
  started=$(date +%s)
  while :; do
    json="$(health_json)"
    if is_localstack_health "$json" && services_ready "$json"; then
      now=$(date +%s)
      say "LocalStack is ready at ${ENDPOINT} (took $((now - started)) s)"
      return 0
    fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      echo "----- last lines of ${LOG_FILE} -----" >&2
      tail -n 40 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      die "LocalStack exited during start-up (see ${LOG_FILE})"
    fi
    now=$(date +%s)
    waited=$((now - started))
    if ((waited >= UP_TIMEOUT)); then
      echo "----- last lines of ${LOG_FILE} -----" >&2
      tail -n 40 "$LOG_FILE" >&2 || true
      die "LocalStack did not become healthy within ${UP_TIMEOUT} s; it is still running (pid ${pid:-?}); stop it with scripts/localstack-down.sh"
    fi
    if ((waited > 0 && waited % 5 == 0)); then say "waiting for ${ENDPOINT}/_localstack/health ... ${waited} s"; fi
    sleep 1
  done
}

install_fingerprint() {
  {
    "$VENV/bin/python" -c 'import sys; print(sys.version)'
    cat "${LS_DIR}/requirements.lock" "${LS_DIR}/patch_localstack.py"
    find "${LS_DIR}/executor/pyproject.toml" "${LS_DIR}/executor/src" -type f \
      ! -path '*/__pycache__/*' ! -path '*.egg-info*' -print0 | sort -z | xargs -0 cat
  } | sha256sum | cut -d' ' -f1
}

ensure_venv() {
  command -v "$PYTHON" >/dev/null 2>&1 || die "python3 not found. Install Python 3.11 (3.10-3.13 work with localstack-core 4.13.1) or set LOCALSTACK_PYTHON; alternatively run the official LocalStack image on port ${PORT} and this script will reuse it."
  local version
  version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  case "$version" in
    3.10|3.11|3.12|3.13) ;;
    *) die "localstack-core 4.13.1 needs Python 3.10-3.13, ${PYTHON} is ${version} (set LOCALSTACK_PYTHON)" ;;
  esac
  [[ "$version" == "3.11" ]] || say "note: the lock was verified on Python 3.11; ${PYTHON} is ${version}"

  if [[ -d "$VENV" && ! -x "$VENV/bin/python" ]]; then
    say "removing broken virtual environment ${VENV}"
    rm -rf "$VENV"
  fi
  if [[ ! -d "$VENV" ]]; then
    say "creating virtual environment ${VENV} (first run)"
    "$PYTHON" -m venv "$VENV" || die "'${PYTHON} -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
  fi

  local want have=""
  want="$(install_fingerprint)"
  [[ -f "$STAMP_FILE" ]] && have="$(cat "$STAMP_FILE")"
  if [[ "$want" != "$have" ]]; then
    mkdir -p "$STATE_DIR"
    local pip_log="${STATE_DIR}/pip-install.log" t0 t1 build_dir
    : >"$pip_log"
    t0=$(date +%s)
    say "installing localstack-core 4.13.1 and the host-node executor into ${VENV} (a minute or two the first time; log: ${pip_log})"
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --no-deps \
        -r "${LS_DIR}/requirements.lock" >>"$pip_log" 2>&1; then
      tail -n 30 "$pip_log" >&2
      die "pip install of localstack/requirements.lock failed (full log: ${pip_log}); check access to the Python package index"
    fi
    "$VENV/bin/python" "${LS_DIR}/patch_localstack.py" >>"$pip_log" 2>&1 \
      || { tail -n 20 "$pip_log" >&2; die "patch_localstack.py failed (log: ${pip_log})"; }
    # build the executor from a copy so no build/ or *.egg-info folder is left in the source tree
    build_dir="$(mktemp -d)"
    cp -R "${LS_DIR}/executor/." "$build_dir/"
    rm -rf "$build_dir/build" "$build_dir"/src/*.egg-info "$build_dir/.pytest_cache"
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --no-deps \
        --no-build-isolation --force-reinstall "$build_dir" >>"$pip_log" 2>&1; then
      rm -rf "$build_dir"
      tail -n 30 "$pip_log" >&2
      die "pip install of localstack/executor failed (full log: ${pip_log})"
    fi
    rm -rf "$build_dir"
    # import check: every provider we enable, and the executor plugin
    if ! "$VENV/bin/python" - >>"$pip_log" 2>&1 <<'PY'
import importlib
for m in [
    "localstack.runtime.main", "localstack.services.s3.provider", "localstack.services.sqs.provider",
    "localstack.services.lambda_.provider", "localstack.services.lambda_.plugins",
    "localstack.services.events.provider", "localstack.services.events.scheduler",
    "localstack.services.cloudformation.v2.provider", "localstack.services.cloudformation.engine.transformers",
    "localstack.services.iam.provider", "localstack.services.sts.provider", "localstack.services.ssm.provider",
    "localstack.services.logs.provider", "localstack.services.cloudwatch.provider_v2",
    "localstack.services.kms.provider", "localstack.services.secretsmanager.provider",
    "localstack.services.sns.provider", "localstack.services.stepfunctions.provider",
    "colo_localstack_executor.executor",
]:
    importlib.import_module(m)
from importlib.metadata import entry_points
assert any(ep.name == "host-node" for ep in entry_points(group="localstack.lambda.runtime_executor")), "host-node entry point missing"
print("import check ok")
PY
    then
      tail -n 30 "$pip_log" >&2
      die "the installed LocalStack does not import (log: ${pip_log})"
    fi
    t1=$(date +%s)
    echo "$want" >"$STAMP_FILE"
    say "install done in $((t1 - t0)) s"
  fi
  if ((WITH_TESTS)) && ! "$VENV/bin/python" -c 'import pytest' 2>/dev/null; then
    say "installing test tools (localstack/requirements-test.lock)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --no-deps \
      -r "${LS_DIR}/requirements-test.lock" >>"${STATE_DIR}/pip-install.log" 2>&1 \
      || die "pip install of requirements-test.lock failed (log: ${STATE_DIR}/pip-install.log)"
  fi
}

# --- 1. reuse a running LocalStack ---------------------------------------------------------------------
if ((INSTALL_ONLY == 0)); then
  json="$(health_json)"
  if is_localstack_health "$json"; then
    if our_pid_alive; then
      if services_ready "$json"; then
        say "LocalStack (pid $(cat "$PID_FILE"), started by this script) is already running at ${ENDPOINT}"
        exit 0
      fi
      say "LocalStack (pid $(cat "$PID_FILE")) is starting; waiting"
      wait_for_health "$(cat "$PID_FILE")"
      exit 0
    fi
    say "reusing the LocalStack already answering at ${ENDPOINT} (not started by this script)"
    exit 0
  fi
  if port_open; then
    owner=""
    command -v ss >/dev/null 2>&1 && owner="$(ss -Hltnp "sport = :${PORT}" 2>/dev/null | head -n 3)"
    if our_pid_alive; then
      say "LocalStack (pid $(cat "$PID_FILE")) holds port ${PORT} but is not healthy yet; waiting"
      wait_for_health "$(cat "$PID_FILE")"
      exit 0
    fi
    die "port ${PORT} on ${HOST} is in use by something that is not LocalStack${owner:+: ${owner}}. Stop it or free the port."
  fi
  if our_pid_alive; then
    say "LocalStack (pid $(cat "$PID_FILE")) is starting; waiting"
    wait_for_health "$(cat "$PID_FILE")"
    exit 0
  fi
  rm -f "$PID_FILE"
fi

# --- 2. install -----------------------------------------------------------------------------------------
ensure_venv
NODE_RUNTIMES_DIR="${LS_DIR}/.node"
LAMBDA_NODE_DIR="$NODE_RUNTIMES_DIR" bash "${REPO_ROOT}/scripts/install-lambda-node.sh" \
  | sed 's/^install-lambda-node: /localstack-up: /'
if ((INSTALL_ONLY)); then
  say "virtual environment ready: ${VENV}"
  exit 0
fi

# --- 3. start -------------------------------------------------------------------------------------------
NODE_BIN="$(command -v node || true)"
[[ -n "$NODE_BIN" ]] || say "warning: no 'node' on PATH; Lambda functions will fail to start (LAMBDA_HOST_NODE_BIN)"
mkdir -p "$STATE_DIR" "$FS_ROOT"
# LocalStack unzips function code under its temp dir, and the executor makes per-environment scratch folders
# there. Use a folder of our own, outside the project (so Node's module lookup from function code cannot walk
# up into the project's node_modules), unique per checkout, emptied at each start (no state survives a
# restart anyway).
HOST_TMP="${TMPDIR:-/tmp}/colo-localstack-$(id -u)-$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-10)"
rm -rf "$HOST_TMP"
mkdir -p "$HOST_TMP"
echo "$HOST_TMP" >"${STATE_DIR}/tmpdir"
{
  echo
  echo "===== $(date -u +%Y-%m-%dT%H:%M:%SZ) localstack-up: starting LocalStack 4.13.1 (host mode) ====="
} >>"$LOG_FILE"

# A clean environment for LocalStack: no AWS_* settings of the caller leak into its internal clients.
ls_env=(
  "PATH=${PATH}"
  "HOME=${HOME:-/root}"
  "LANG=${LANG:-C.UTF-8}"
  "TMPDIR=${HOST_TMP}"
  "OVERRIDE_IN_DOCKER=0"
  "GATEWAY_LISTEN=${HOST}:${PORT}"
  "LOCALSTACK_HOST=${HOST}:${PORT}"
  "SQS_ENDPOINT_STRATEGY=path"
  "SERVICES=${SERVICES}"
  "EAGER_SERVICE_LOADING=1"
  "DNS_ADDRESS=0"
  "SKIP_SSL_CERT_DOWNLOAD=1"
  "DISABLE_EVENTS=1"
  "FILESYSTEM_ROOT=${FS_ROOT}"
  "LAMBDA_RUNTIME_EXECUTOR=host-node"
  "LAMBDA_HOST_NODE_BIN=${NODE_BIN:-node}"
  # Functions run on the Node major their runtime names (nodejs22.x → node22/bin/node) when installed above.
  "LAMBDA_HOST_NODE_RUNTIMES_DIR=${NODE_RUNTIMES_DIR}"
  "LAMBDA_HOST_NODE_MODULES=${REPO_ROOT}/node_modules"
  # SQS event-source mappings short-poll and back off up to 10 s when the queue is empty, so the first
  # message after an idle spell waited up to ~12 s; cap the back-off (AWS long-polls: near-immediate).
  "LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC=0.5"
  # After every poll that returned messages the mapping waits a fixed 1 s before the next one, so a FIFO
  # group drains at most ten messages a second (AWS polls again at once). LAMBDA_EVENT_SOURCE_MAPPING_POLL_
  # INTERVAL_SEC=0.01 lifts that (a flood drained at 45 instead of 6.6 messages/s), but it also speeds up all
  # four test stacks at once, and on the 2-core machine the live session then missed its checkpoint waits:
  # kept at LocalStack's default (docs/reliability.md, "Flood").
  "DEBUG=${DEBUG:-0}"
)
if [[ -n "${LOCALSTACK_EXTRA_ENV:-}" ]]; then
  # shellcheck disable=SC2206
  extra=(${LOCALSTACK_EXTRA_ENV})
  ls_env+=("${extra[@]}")
fi

T_START=$(date +%s)
cd "$LS_DIR"
# setsid: own session, so Ctrl-C in the calling terminal does not reach LocalStack
setsid env -i "${ls_env[@]}" "$VENV/bin/python" -m localstack.runtime.main >>"$LOG_FILE" 2>&1 </dev/null &
LS_PID=$!
echo "$LS_PID" >"$PID_FILE"
say "started LocalStack (pid ${LS_PID}); log: ${LOG_FILE}"
wait_for_health "$LS_PID"
say "start-up took $(( $(date +%s) - T_START )) s; stop with scripts/localstack-down.sh"
