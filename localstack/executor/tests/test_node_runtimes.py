"""The executor runs each function on the Node.js major its runtime names, when set-up installed it."""

from __future__ import annotations

import json
import logging
import shutil
import stat
from pathlib import Path

import pytest
from conftest import invoke

from colo_localstack_executor import executor as executor_module

HOST_NODE = shutil.which("node")
# What scripts/localstack-up.sh installs (scripts/install-lambda-node.sh), if it ran in this checkout.
INSTALLED = Path(__file__).resolve().parents[2] / ".node"

WHICH_NODE = {
    "index.js": """
        exports.handler = async () => ({
          version: process.version,
          wrapped: process.env.COLO_WRAPPED_NODE || null,
          execPath: process.execPath,
        });
    """
}


def fake_node(root: Path, major: str, reports: str) -> Path:
    """A `node<major>/bin/node` that reports `reports` for --version and otherwise runs the host's Node,
    marking the process so the handler can tell which binary started it."""
    target = root / f"node{major}" / "bin" / "node"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then echo {reports}; exit 0; fi\n'
        f'COLO_WRAPPED_NODE={major} exec "{HOST_NODE}" "$@"\n'
    )
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return target


@pytest.fixture(autouse=True)
def fresh_log_state(monkeypatch):
    monkeypatch.setattr(executor_module, "_FALLBACK_LOGGED", set())


def result_of(ex) -> dict:
    result = invoke(ex, {})
    assert not result.is_error, result.payload
    return json.loads(result.payload)


def test_runtime_major_is_taken_from_the_runtime_name():
    assert executor_module.runtime_major("nodejs22.x") == "22"
    assert executor_module.runtime_major("nodejs24.x") == "24"
    assert executor_module.runtime_major("nodejs") == ""
    assert executor_module.runtime_major("python3.12") == ""


def test_function_runs_on_the_installed_binary_of_its_runtime_major(harness, tmp_path, monkeypatch, caplog):
    fake_node(tmp_path / "nodes", "22", "v22.99.0")
    monkeypatch.setenv("LAMBDA_HOST_NODE_RUNTIMES_DIR", str(tmp_path / "nodes"))
    caplog.set_level(logging.WARNING, logger=executor_module.LOG.name)
    ex = harness.executor(WHICH_NODE, runtime="nodejs22.x")
    assert result_of(ex)["wrapped"] == "22"
    assert not [r for r in caplog.records if "runs on host Node.js" in r.getMessage()]


def test_a_restarted_process_keeps_the_runtime_binary(harness, tmp_path, monkeypatch):
    fake_node(tmp_path / "nodes", "22", "v22.99.0")
    monkeypatch.setenv("LAMBDA_HOST_NODE_RUNTIMES_DIR", str(tmp_path / "nodes"))
    ex = harness.executor(
        {
            "index.js": """
                const fs = require('node:fs');
                const path = require('node:path');
                exports.handler = async () => {
                  // The first process dies; the scratch folder (TMPDIR) outlives it.
                  const marker = path.join(process.env.TMPDIR, 'crashed-once');
                  if (!fs.existsSync(marker)) { fs.writeFileSync(marker, ''); process.exit(3); }
                  return { wrapped: process.env.COLO_WRAPPED_NODE || null };
                };
            """
        },
        runtime="nodejs22.x",
    )
    assert invoke(ex, {}).is_error  # the process died
    assert result_of(ex)["wrapped"] == "22"  # the cold start used node22 again


def test_a_missing_major_falls_back_to_the_host_node_with_one_clear_log_line(
    harness, tmp_path, monkeypatch, caplog
):
    fake_node(tmp_path / "nodes", "22", "v22.99.0")
    monkeypatch.setenv("LAMBDA_HOST_NODE_RUNTIMES_DIR", str(tmp_path / "nodes"))
    caplog.set_level(logging.WARNING, logger=executor_module.LOG.name)
    first = harness.executor(WHICH_NODE, runtime="nodejs24.x")
    second = harness.executor(WHICH_NODE, runtime="nodejs24.x")
    assert result_of(first)["wrapped"] is None
    assert result_of(second)["version"] == result_of(first)["version"]
    lines = [r.getMessage() for r in caplog.records if "runs on host Node.js" in r.getMessage()]
    assert len(lines) == 1, lines  # once per runtime, not per environment
    assert "runtime nodejs24.x runs on host Node.js v" in lines[0]
    assert f"no {tmp_path / 'nodes' / 'node24' / 'bin' / 'node'}" in lines[0]
    assert "localstack-up.sh --install-only" in lines[0]


def test_a_binary_of_another_major_is_not_used(harness, tmp_path, monkeypatch, caplog):
    fake_node(tmp_path / "nodes", "22", "v20.1.0")  # mislabelled folder
    monkeypatch.setenv("LAMBDA_HOST_NODE_RUNTIMES_DIR", str(tmp_path / "nodes"))
    caplog.set_level(logging.WARNING, logger=executor_module.LOG.name)
    host_major = executor_module.host_node_version(HOST_NODE).lstrip("v").split(".")[0]
    ex = harness.executor(WHICH_NODE, runtime="nodejs22.x")
    assert result_of(ex)["wrapped"] is None
    if host_major != "22":
        assert any("reports v20.1.0" in r.getMessage() for r in caplog.records)


def test_without_a_runtimes_folder_the_host_node_runs_everything(harness, monkeypatch):
    monkeypatch.delenv("LAMBDA_HOST_NODE_RUNTIMES_DIR", raising=False)
    ex = harness.executor(WHICH_NODE, runtime="nodejs22.x")
    out = result_of(ex)
    assert out["wrapped"] is None
    assert out["version"] == executor_module.host_node_version(HOST_NODE)


@pytest.mark.skipif(
    not (INSTALLED / "node22" / "bin" / "node").exists(),
    reason="Node 22 not installed (scripts/install-lambda-node.sh)",
)
def test_real_node22_from_the_npm_registry_runs_a_nodejs22_function(harness, monkeypatch):
    monkeypatch.setenv("LAMBDA_HOST_NODE_RUNTIMES_DIR", str(INSTALLED))
    ex = harness.executor(WHICH_NODE, runtime="nodejs22.x")
    out = result_of(ex)
    assert out["version"].startswith("v22.")
    assert out["execPath"] == str(INSTALLED / "node22" / "bin" / "node")
