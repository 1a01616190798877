#!/usr/bin/env bash
# Stop the LocalStack that scripts/localstack-up.sh started (pid in localstack/.state/localstack.pid).
# A LocalStack started some other way (official Docker image, another terminal) is left alone. The pid file is
# this checkout's, so a LocalStack it started on another port (LOCALSTACK_PORT) is stopped the same way.
# Idempotent: with nothing to stop it says so and exits 0.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LS_DIR="${REPO_ROOT}/localstack"
VENV="${LS_DIR}/.venv"
PID_FILE="${LS_DIR}/.state/localstack.pid"
STOP_TIMEOUT="${LOCALSTACK_STOP_TIMEOUT:-30}"

say() { printf 'localstack-down: %s\n' "$*"; }

is_our_localstack() {
  local pid="$1"
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q 'localstack.runtime.main'
}

# Function processes (node .../colo_localstack_executor/bootstrap/bootstrap.mjs) exit by themselves when
# LocalStack goes away (their stdin closes). This removes any that were left orphaned, by exact script path.
reap_orphaned_functions() {
  local proc pid ppid cmd
  for proc in /proc/[0-9]*; do
    pid="${proc#/proc/}"
    cmd="$(tr '\0' ' ' <"${proc}/cmdline" 2>/dev/null || true)"
    [[ -n "$cmd" ]] || continue
    [[ "$cmd" == *" ${VENV}/lib/python"*"/site-packages/colo_localstack_executor/bootstrap/bootstrap.mjs"* ]] || continue
    ppid="$(awk '{print $4}' "${proc}/stat" 2>/dev/null || echo 0)"
    if [[ "$ppid" == "1" ]] || ! kill -0 "$ppid" 2>/dev/null || ! is_our_localstack "$ppid"; then
      say "stopping orphaned function process ${pid}"
      kill -KILL -- "-${pid}" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

if [[ ! -f "$PID_FILE" ]]; then
  say "no LocalStack started by scripts/localstack-up.sh is running (no pid file)"
  reap_orphaned_functions
  exit 0
fi

PID="$(cat "$PID_FILE" 2>/dev/null || true)"
if [[ -z "$PID" ]] || ! is_our_localstack "$PID"; then
  say "LocalStack (pid ${PID:-?}) is not running any more; removing stale pid file"
  rm -f "$PID_FILE"
  reap_orphaned_functions
  exit 0
fi

say "stopping LocalStack (pid ${PID})"
kill -TERM "$PID" 2>/dev/null || true
deadline=$(( $(date +%s) + STOP_TIMEOUT ))
while kill -0 "$PID" 2>/dev/null; do
  if (( $(date +%s) >= deadline )); then
    say "LocalStack did not stop within ${STOP_TIMEOUT} s; killing it"
    kill -KILL "$PID" 2>/dev/null || true
    break
  fi
  sleep 0.5
done
rm -f "$PID_FILE"
sleep 0.5
reap_orphaned_functions
# the temp folder of that LocalStack (unzipped function code, function scratch space)
TMP_RECORD="${LS_DIR}/.state/tmpdir"
if [[ -f "$TMP_RECORD" ]]; then
  tmp_dir="$(cat "$TMP_RECORD")"
  [[ "$tmp_dir" == */colo-localstack-* ]] && rm -rf "$tmp_dir"
  rm -f "$TMP_RECORD"
fi
say "stopped"
