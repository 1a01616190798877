"""Fixtures: tiny Node handlers on disk and function_version objects shaped like LocalStack's."""

from __future__ import annotations

import shutil
import textwrap
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from colo_localstack_executor.executor import HostNodeRuntimeExecutor

if shutil.which("node") is None:  # pragma: no cover - the project requires Node.js
    pytest.skip("node is not installed", allow_module_level=True)


class FakeCode:
    """The two methods of LocalStack's ArchiveCode that the executor uses, over a plain folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.prepared = 0

    def get_unzipped_code_location(self) -> Path:
        return self.path

    def prepare_for_execution(self) -> None:
        self.prepared += 1

    def is_hot_reloading(self) -> bool:
        return False


def make_function_version(code_dir: Path, **overrides):
    config = SimpleNamespace(
        runtime=overrides.pop("runtime", "nodejs22.x"),
        handler=overrides.pop("handler", "index.handler"),
        timeout=overrides.pop("timeout", 3),
        memory_size=overrides.pop("memory_size", 128),
        package_type=overrides.pop("package_type", "Zip"),
        environment=overrides.pop("environment", {}),
        code=FakeCode(code_dir),
        layers=[SimpleNamespace(code=FakeCode(Path(p))) for p in overrides.pop("layers", [])],
    )
    name = overrides.pop("function_name", "colo-test-fn")
    assert not overrides, f"unknown overrides {overrides}"
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}:$LATEST"
    ident = SimpleNamespace(function_name=name, qualifier="$LATEST", region="us-east-1", account="000000000000")
    return SimpleNamespace(id=ident, config=config, qualified_arn=arn)


def environment_for(function_version) -> dict[str, str]:
    """What LocalStack's ExecutionEnvironment.get_environment_variables() passes (the subset that matters)."""
    cfg = function_version.config
    env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": function_version.id.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": cfg.memory_size,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_version.id.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]abc",
        "AWS_ACCESS_KEY_ID": "LSIAQAAAAAAAFAKEKEY",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_SESSION_TOKEN": "token",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "TZ": ":UTC",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": cfg.timeout,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "_HANDLER": cfg.handler,
        "AWS_EXECUTION_ENV": "AWS_Lambda_rapid",
    }
    env.update(cfg.environment)
    return env


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.executors: list[HostNodeRuntimeExecutor] = []

    def code(self, files: dict[str, str]) -> Path:
        folder = self.tmp_path / f"code-{uuid.uuid4().hex[:8]}"
        for rel, content in files.items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(content))
        return folder

    def executor(self, files: dict[str, str], *, start: bool = True, **overrides) -> HostNodeRuntimeExecutor:
        fv = make_function_version(self.code(files), **overrides)
        HostNodeRuntimeExecutor.prepare_version(fv)
        ex = HostNodeRuntimeExecutor(uuid.uuid4().hex, fv)
        self.executors.append(ex)
        if start:
            ex.start(environment_for(fv))
        return ex

    def close(self) -> None:
        for ex in self.executors:
            ex.stop()


@pytest.fixture
def harness(tmp_path):
    h = Harness(tmp_path)
    yield h
    h.close()


def invoke(executor, event=None, request_id=None, raw: str | None = None):
    import json

    request_id = request_id or str(uuid.uuid4())
    payload = {
        "invoke-id": request_id,
        "invoked-function-arn": executor.function_version.qualified_arn,
        "payload": raw if raw is not None else json.dumps(event if event is not None else {}),
        "trace-id": "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0",
    }
    return executor.invoke(payload)
