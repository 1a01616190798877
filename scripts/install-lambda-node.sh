#!/usr/bin/env bash
# Install the Node.js binaries the LocalStack host-node executor runs functions on: one per Lambda runtime
# major (nodejs22.x → Node 22), from the npm registry's per-platform `node-<os>-<arch>` packages (the
# binaries the `node` package itself installs), into localstack/.node/node<major>/bin/node. Set-up time only:
# the executor never downloads; a major that is missing runs on the host's Node with a warning in the log.
#
#   scripts/install-lambda-node.sh [MAJOR ...]     # default: $LAMBDA_NODE_MAJORS or the stack's runtime (22)
#
# Re-running skips a major whose binary already reports that major. Exits 0 even when a download fails (the
# executor falls back); prints what it installed, kept or could not get.
set -euo pipefail

# The major of the stack's function runtime (lib/constructs/colo-function.ts FUNCTION_RUNTIME; a unit test
# keeps the two equal).
DEFAULT_MAJORS="22"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${LAMBDA_NODE_DIR:-${REPO_ROOT}/localstack/.node}"
say() { printf 'install-lambda-node: %s\n' "$*"; }

majors=("$@")
if ((${#majors[@]} == 0)); then
  # shellcheck disable=SC2206
  majors=(${LAMBDA_NODE_MAJORS:-$DEFAULT_MAJORS})
fi

case "$(uname -s)" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) say "no Node.js binaries for $(uname -s); functions run on the host's Node"; exit 0 ;;
esac
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) say "no Node.js binaries for $(uname -m); functions run on the host's Node"; exit 0 ;;
esac

command -v npm >/dev/null 2>&1 || { say "npm not found; functions run on the host's Node"; exit 0; }

installed_major() { "$1" --version 2>/dev/null | sed -E 's/^v([0-9]+)\..*/\1/' || true; }

status=0
for major in "${majors[@]}"; do
  [[ "$major" =~ ^[0-9]+$ ]] || { say "skipping '${major}': not a Node major version"; continue; }
  target="${DEST}/node${major}/bin/node"
  if [[ -x "$target" && "$(installed_major "$target")" == "$major" ]]; then
    say "Node ${major} present: ${target} ($("$target" --version))"
    continue
  fi
  work="$(mktemp -d)"
  pkg="node-${os}-${arch}@${major}"
  t0=$(date +%s)
  if ! (cd "$work" && npm pack --loglevel=error "$pkg" >pack.out 2>pack.err); then
    say "warning: could not fetch ${pkg} ($(tail -n 1 "$work/pack.err" 2>/dev/null)); nodejs${major}.x functions run on the host's Node"
    rm -rf "$work"
    status=1
    continue
  fi
  tarball="$(tail -n 1 "$work/pack.out")"
  if ! tar -xzf "$work/$tarball" -C "$work" package/bin/node 2>/dev/null; then
    say "warning: ${tarball} has no package/bin/node; nodejs${major}.x functions run on the host's Node"
    rm -rf "$work"
    status=1
    continue
  fi
  got="$(installed_major "$work/package/bin/node")"
  if [[ "$got" != "$major" ]]; then
    say "warning: ${pkg} does not run here or is not Node ${major} (got '${got}'); nodejs${major}.x functions run on the host's Node"
    rm -rf "$work"
    status=1
    continue
  fi
  mkdir -p "$(dirname "$target")"
  # Replace atomically: a LocalStack that is running keeps the old file open, new processes get the new one.
  mv "$work/package/bin/node" "${target}.new"
  chmod 0755 "${target}.new"
  mv -f "${target}.new" "$target"
  say "installed Node ${major}: ${target} ($("$target" --version), ${tarball}, $(( $(date +%s) - t0 )) s)"
  rm -rf "$work"
done
# A failed major is a warning, not an error: the executor falls back to the host's Node and logs it.
if ((status != 0)); then say "some majors are missing (see above)"; fi
exit 0
