"""Runs tiny Node.js handlers through HostNodeRuntimeExecutor (no LocalStack server needed)."""

from __future__ import annotations

import json
import os
import time
from importlib.metadata import entry_points

import pytest
from conftest import environment_for, invoke, make_function_version

from colo_localstack_executor.executor import HostNodeRuntimeExecutor
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException

CJS_ECHO = {
    "index.js": """
        let count = 0;
        exports.handler = async (event, context) => {
          count += 1;
          console.log('got', JSON.stringify(event));
          return {
            echo: event,
            count,
            requestId: context.awsRequestId,
            functionName: context.functionName,
            arn: context.invokedFunctionArn,
            memory: context.memoryLimitInMB,
            logGroup: context.logGroupName,
            remaining: context.getRemainingTimeInMillis(),
            env: {
              root: process.env.LAMBDA_TASK_ROOT,
              endpoint: process.env.AWS_ENDPOINT_URL,
              region: process.env.AWS_REGION,
              key: process.env.AWS_ACCESS_KEY_ID,
              custom: process.env.MY_SETTING,
              handler: process.env._HANDLER,
              trace: process.env._X_AMZN_TRACE_ID,
              execEnv: process.env.AWS_EXECUTION_ENV,
            },
            cwd: process.cwd(),
          };
        };
    """
}


def body(result):
    return json.loads(result.payload)


def test_entry_point_is_registered():
    names = {ep.name: ep.value for ep in entry_points(group="localstack.lambda.runtime_executor")}
    assert names.get("host-node") == "colo_localstack_executor.plugin:HostNodeRuntimeExecutorPlugin"


def test_localstack_selects_the_plugin(monkeypatch):
    from localstack import config
    from localstack.services.lambda_.invocation import runtime_executor

    monkeypatch.setattr(config, "LAMBDA_RUNTIME_EXECUTOR", "host-node")
    assert runtime_executor.get_runtime_executor() is HostNodeRuntimeExecutor


def test_commonjs_result_context_and_environment(harness):
    ex = harness.executor(CJS_ECHO, environment={"MY_SETTING": "42"}, timeout=7, memory_size=256)
    res = invoke(ex, {"hello": "world"}, request_id="req-1")
    assert not res.is_error, res.payload
    out = body(res)
    code_dir = str(ex.function_version.config.code.get_unzipped_code_location())
    assert out["echo"] == {"hello": "world"}
    assert out["requestId"] == "req-1"
    assert out["functionName"] == "colo-test-fn"
    assert out["arn"] == ex.function_version.qualified_arn
    assert out["memory"] == "256"
    assert out["logGroup"] == "/aws/lambda/colo-test-fn"
    assert 0 < out["remaining"] <= 7000
    assert out["env"]["root"] == code_dir
    assert out["cwd"] == code_dir
    assert out["env"]["endpoint"] == "http://127.0.0.1:4566"
    assert out["env"]["region"] == "us-east-1"
    assert out["env"]["key"] == "LSIAQAAAAAAAFAKEKEY"
    assert out["env"]["custom"] == "42"
    assert out["env"]["handler"] == "index.handler"
    assert out["env"]["trace"].startswith("Root=1-")
    assert out["env"]["execEnv"] == "AWS_Lambda_nodejs22.x"


def test_environment_stays_warm_between_invocations(harness):
    ex = harness.executor(CJS_ECHO)
    counts = [body(invoke(ex, {"i": i}))["count"] for i in range(3)]
    assert counts == [1, 2, 3]


def test_logs_are_cut_per_invocation(harness):
    ex = harness.executor(CJS_ECHO)
    first = invoke(ex, {"n": "first"}, request_id="r-1")
    second = invoke(ex, {"n": "second"}, request_id="r-2")
    assert "START RequestId: r-1 Version: $LATEST" in first.logs
    assert "END RequestId: r-1" in first.logs
    assert "REPORT RequestId: r-1\tDuration: " in first.logs
    assert "Init Duration: " in first.logs  # cold start
    assert '\tr-1\tINFO\tgot {"n":"first"}' in first.logs
    assert "second" not in first.logs
    assert '\tr-2\tINFO\tgot {"n":"second"}' in second.logs
    assert "first" not in second.logs
    assert "Init Duration" not in second.logs  # warm
    assert "got" in ex.get_logs()


def test_esm_module_and_empty_payload(harness):
    ex = harness.executor(
        {
            "app.mjs": """
                import { basename } from 'node:path';
                console.log('init ran');
                export const handler = async (event) => ({ kind: 'esm', event, file: basename(import.meta.url) });
            """
        },
        handler="app.handler",
    )
    res = invoke(ex, raw="")
    assert not res.is_error, res.payload
    assert body(res) == {"kind": "esm", "event": {}, "file": "app.mjs"}
    # output written during init is reported before the first START
    assert res.logs.index("init ran") < res.logs.index("START RequestId")


def test_esm_by_package_type_and_nested_handler_path(harness):
    ex = harness.executor(
        {
            "package.json": '{"type": "module"}',
            "dist/handlers/main.js": """
                export const api = { run: async (event) => ({ nested: true, n: event.n }) };
            """,
        },
        handler="dist/handlers/main.api.run",
    )
    assert body(invoke(ex, {"n": 5})) == {"nested": True, "n": 5}


def test_returning_undefined_gives_null(harness):
    ex = harness.executor({"index.js": "exports.handler = async () => {};"})
    res = invoke(ex)
    assert not res.is_error
    assert res.payload == b"null"


def test_callback_style_handler(harness):
    ex = harness.executor(
        {"index.js": "exports.handler = (event, context, cb) => setTimeout(() => cb(null, {cb: event.x}), 10);"}
    )
    assert body(invoke(ex, {"x": 1})) == {"cb": 1}


def test_handler_error_has_lambda_shape(harness):
    ex = harness.executor(
        {
            "index.js": """
                class ValidationError extends Error { constructor(m) { super(m); this.name = 'ValidationError'; } }
                exports.handler = async (event) => { if (event.fail) throw new ValidationError('bad input'); return 'ok'; };
            """
        }
    )
    res = invoke(ex, {"fail": True}, request_id="err-1")
    assert res.is_error
    err = body(res)
    assert err["errorType"] == "ValidationError"
    assert err["errorMessage"] == "bad input"
    assert isinstance(err["trace"], list) and err["trace"][0].startswith("ValidationError: bad input")
    assert "\terr-1\tERROR\tInvoke Error \t" in res.logs
    # the environment survives a handled error
    ok = invoke(ex, {"fail": False})
    assert not ok.is_error and body(ok) == "ok"


def test_timeout_kills_and_restarts_the_process(harness):
    ex = harness.executor(
        {
            "index.js": """
                let count = 0;
                exports.handler = async (event) => {
                  count += 1;
                  if (event.sleep) { console.log('sleeping'); await new Promise((r) => setTimeout(r, 60000)); }
                  return { count };
                };
            """
        },
        timeout=1,
    )
    assert body(invoke(ex, {}))["count"] == 1
    pid = ex._process.pid
    started = time.monotonic()
    res = invoke(ex, {"sleep": True}, request_id="slow-1")
    elapsed = time.monotonic() - started
    assert res.is_error
    assert body(res) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: slow-1 Error: Task timed out after 1.00 seconds",
    }
    assert 0.9 <= elapsed < 5
    assert "sleeping" in res.logs
    assert "slow-1 Task timed out after 1.00 seconds" in res.logs
    assert not _pid_alive(pid)
    # next invocation is a cold start in a new process: module state was reset
    again = invoke(ex, {})
    assert not again.is_error
    assert body(again)["count"] == 1
    assert "Init Duration" in again.logs
    assert ex._process.pid != pid


def test_process_exit_is_reported_and_recovered(harness):
    ex = harness.executor(
        {"index.js": "exports.handler = async (e) => { if (e.exit) { console.log('bye'); process.exit(3); } return 'alive'; };"}
    )
    res = invoke(ex, {"exit": True}, request_id="x-1")
    assert res.is_error
    err = body(res)
    assert err["errorType"] == "Runtime.ExitError"
    assert err["errorMessage"] == "RequestId: x-1 Error: Runtime exited with error: exit status 3"
    assert "bye" in res.logs
    assert body(invoke(ex, {})) == "alive"


def test_uncaught_exception_in_callback_fails_the_invocation(harness):
    ex = harness.executor(
        {
            "index.js": """
                exports.handler = (event) => new Promise((resolve) => {
                  if (event.boom) setTimeout(() => { throw new TypeError('async boom'); }, 5);
                  else resolve('fine');
                });
            """
        }
    )
    res = invoke(ex, {"boom": True})
    assert res.is_error
    assert body(res)["errorType"] == "TypeError"
    assert body(res)["errorMessage"] == "async boom"
    assert body(invoke(ex, {})) == "fine"


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message_part"),
    [
        ({"other.js": "exports.x = 1;"}, "index.handler", "Runtime.ImportModuleError", "Cannot find module 'index'"),
        ({"index.js": "exports.other = async () => 1;"}, "index.handler", "Runtime.HandlerNotFound", "index.handler is undefined"),
        ({"index.js": "exports.handler = async () => {"}, "index.handler", "Runtime.UserCodeSyntaxError", "SyntaxError"),
        ({"index.js": "require('no-such-package-xyz');"}, "index.handler", "Runtime.ImportModuleError", "no-such-package-xyz"),
        ({"index.js": "throw new RangeError('init failed');"}, "index.handler", "RangeError", "init failed"),
        ({"index.js": ""}, "nodots", "Runtime.MalformedHandlerName", "Bad handler"),
    ],
)
def test_init_errors_are_returned_at_invoke(harness, files, handler, error_type, message_part):
    ex = harness.executor(files, handler=handler)
    res = invoke(ex, {})
    assert res.is_error
    err = body(res)
    assert err["errorType"] == error_type
    assert message_part in err["errorMessage"]
    # init is retried on the next invocation (same failure here)
    assert body(invoke(ex, {}))["errorType"] == error_type


def _fake_package(modules, name: str, flavour_prefix: str = "") -> None:
    pkg = modules / name
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(
        json.dumps({"name": name, "exports": {"import": "./index.mjs", "require": "./index.cjs"}})
    )
    (pkg / "index.mjs").write_text(f"export const flavour = '{flavour_prefix}esm';\n")
    (pkg / "index.cjs").write_text(f"exports.flavour = '{flavour_prefix}cjs';\n")


def test_runtime_modules_resolve_from_configured_node_modules(harness, tmp_path, monkeypatch):
    modules = tmp_path / "shared" / "node_modules"
    _fake_package(modules, "@aws-sdk/colo-fake-client")
    monkeypatch.setenv("LAMBDA_HOST_NODE_MODULES", str(modules))
    esm = harness.executor(
        {"index.mjs": "import { flavour } from '@aws-sdk/colo-fake-client'; export const handler = async () => flavour;"}
    )
    cjs = harness.executor(
        {"index.js": "const { flavour } = require('@aws-sdk/colo-fake-client'); exports.handler = async () => flavour;"}
    )
    assert body(invoke(esm)) == "esm"
    assert body(invoke(cjs)) == "cjs"


def test_only_runtime_provided_modules_are_exposed_by_default(harness, tmp_path, monkeypatch):
    modules = tmp_path / "shared" / "node_modules"
    _fake_package(modules, "colo-app-only-dep")
    monkeypatch.setenv("LAMBDA_HOST_NODE_MODULES", str(modules))
    files = {"index.mjs": "import { flavour } from 'colo-app-only-dep'; export const handler = async () => flavour;"}
    hidden = harness.executor(files)
    err = body(invoke(hidden))
    assert err["errorType"] == "Runtime.ImportModuleError"
    assert "colo-app-only-dep" in err["errorMessage"]
    monkeypatch.setenv("LAMBDA_HOST_NODE_MODULES_ALLOW", "*")
    visible = harness.executor(files)
    assert body(invoke(visible)) == "esm"


def test_enclosing_package_json_does_not_change_the_module_format(harness, tmp_path):
    """LocalStack's code cache may sit below a project whose package.json says "type": "module"."""
    project = tmp_path / "project"
    code = project / "cache" / "code-id" / "code"
    code.mkdir(parents=True)
    (project / "package.json").write_text('{"type": "module"}')
    (code / "index.js").write_text("exports.handler = async () => typeof require;\n")
    fv = make_function_version(code)
    HostNodeRuntimeExecutor.prepare_version(fv)
    assert (code.parent / "package.json").exists()
    ex = HostNodeRuntimeExecutor("env-scope", fv)
    harness.executors.append(ex)
    ex.start(environment_for(fv))
    assert body(invoke(ex)) == "function"


def test_layers_node_modules_are_resolvable(harness, tmp_path):
    def layer(name: str, sub: str, value: str):
        root = tmp_path / name
        pkg = root / sub / "colo-layer-lib"
        pkg.mkdir(parents=True)
        (pkg / "package.json").write_text(json.dumps({"name": "colo-layer-lib", "main": "index.js"}))
        (pkg / "index.js").write_text(f"exports.value = {json.dumps(value)};\n")
        return str(root)

    old = layer("layer-old", "nodejs/node_modules", "old")
    new = layer("layer-new", "nodejs/node22/node_modules", "new")
    cjs = harness.executor(
        {"index.js": "exports.handler = async () => require('colo-layer-lib').value;"}, layers=[old, new]
    )
    esm = harness.executor(
        {"index.mjs": "import lib from 'colo-layer-lib'; export const handler = async () => lib.value;"},
        layers=[old],
    )
    assert all(layer.code.prepared == 1 for layer in cjs.function_version.config.layers)
    # the later layer wins, as when Lambda extracts layers over each other into /opt
    assert body(invoke(cjs)) == "new"
    assert body(invoke(esm)) == "old"


def test_stop_ends_the_process_and_its_children(harness):
    ex = harness.executor(
        {
            "index.js": """
                const { spawn } = require('node:child_process');
                exports.handler = async () => spawn('sleep', ['600'], { stdio: 'ignore' }).pid;
            """
        }
    )
    child = body(invoke(ex))
    pid = ex._process.pid
    assert _pid_alive(pid) and _pid_alive(child)
    ex.stop()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (_pid_alive(pid) or _pid_alive(child)):
        time.sleep(0.05)
    assert not _pid_alive(pid)
    assert not _pid_alive(child)
    # stop is idempotent and later invocations fail cleanly instead of hanging
    ex.stop()
    assert body(invoke(ex))["errorType"] == "Runtime.ExitError"


def test_large_payloads_round_trip(harness):
    ex = harness.executor({"index.js": "exports.handler = async (e) => ({ len: e.blob.length, blob: e.blob });"})
    blob = "x" * 3_000_000
    out = body(invoke(ex, {"blob": blob}))
    assert out["len"] == 3_000_000 and out["blob"] == blob


def test_prepare_version_checks_runtime_and_unzips(tmp_path):
    fv = make_function_version(tmp_path)
    HostNodeRuntimeExecutor.prepare_version(fv)
    assert fv.config.code.prepared == 1
    with pytest.raises(LambdaRuntimeException, match="only nodejs"):
        HostNodeRuntimeExecutor.prepare_version(make_function_version(tmp_path, runtime="python3.12"))
    with pytest.raises(LambdaRuntimeException, match="only Zip"):
        HostNodeRuntimeExecutor.prepare_version(make_function_version(tmp_path, package_type="Image"))


def test_missing_node_binary_fails_prepare(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("LAMBDA_HOST_NODE_BIN", "definitely-not-node")
    with pytest.raises(LambdaRuntimeException, match="no `node` binary"):
        HostNodeRuntimeExecutor.prepare_version(make_function_version(tmp_path))
    assert HostNodeRuntimeExecutor.validate_environment() is False


def test_works_with_localstack_model_objects(tmp_path):
    """Same run with LocalStack's real dataclasses (HotReloadingCode points at a plain folder)."""
    from localstack.services.lambda_.invocation import lambda_models as m

    (tmp_path / "index.js").write_text("exports.handler = async (e) => ({ ok: e.v });\n")
    cfg = m.VersionFunctionConfiguration(
        description="",
        role="arn:aws:iam::000000000000:role/r",
        timeout=3,
        runtime="nodejs22.x",
        memory_size=128,
        handler="index.handler",
        package_type="Zip",
        environment={},
        architectures=["x86_64"],
        internal_revision="1",
        ephemeral_storage=m.LambdaEphemeralStorage(size=512),
        snap_start=None,
        tracing_config_mode="PassThrough",
        code=m.HotReloadingCode(host_path=str(tmp_path)),
        last_modified="2026-01-01T00:00:00.000+0000",
        state=m.VersionState(state="Active"),
    )
    fv = m.FunctionVersion(
        id=m.VersionIdentifier(function_name="real-models", qualifier="$LATEST", region="us-east-1", account="000000000000"),
        config=cfg,
    )
    HostNodeRuntimeExecutor.prepare_version(fv)
    ex = HostNodeRuntimeExecutor("env-real", fv)
    try:
        ex.start(environment_for(fv))
        res = invoke(ex, {"v": 7})
        assert not res.is_error and body(res) == {"ok": 7}
    finally:
        ex.stop()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); treat it as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


# Buffers live outside the V8 heap, so only the executor's RSS check stops them. They are filled with a non-zero
# byte: a zero-filled Buffer.alloc may get lazily mapped zero pages that never become resident.
BUFFER_HOG = {
    "index.js": """
        let count = 0;
        exports.handler = async (event) => {
          count += 1;
          const held = [];
          for (let i = 0; i < event.mb / 16; i++) held.push(Buffer.alloc(16 * 1024 * 1024, 1));
          console.log(`holding ${held.length * 16} MB`);
          if (event.holdMs) await new Promise((r) => setTimeout(r, event.holdMs));
          return { count, mb: held.length * 16 };
        };
    """
}


def test_memory_over_the_function_size_is_killed_as_out_of_memory(harness):
    # 4x the memory size, held long enough that even a slow sampler sees it; the timeout is well beyond
    ex = harness.executor(BUFFER_HOG, memory_size=128, timeout=60)
    assert body(invoke(ex, {"mb": 0}))["count"] == 1
    pid = ex._process.pid
    res = invoke(ex, {"mb": 512, "holdMs": 45_000}, request_id="oom-1")
    assert res.is_error
    assert body(res) == {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": "RequestId: oom-1 Error: Runtime exited with error: signal: killed",
    }
    assert "RequestId: oom-1 Error: Runtime exited with error: signal: killed\nRuntime.OutOfMemory\n" in res.logs
    assert "Memory Size: 128 MB\tMax Memory Used: 128 MB" in res.logs
    assert _wait_until(lambda: not _pid_alive(pid))
    # the next invocation gets a fresh process (cold start, module state reset), as on Lambda after a crash
    again = invoke(ex, {"mb": 0})
    assert not again.is_error, again.payload
    assert body(again) == {"count": 1, "mb": 0}
    assert "Init Duration" in again.logs
    assert ex._process.pid != pid


def test_memory_within_the_function_size_is_allowed(harness):
    ex = harness.executor(BUFFER_HOG, memory_size=256, timeout=30)
    # ~40 MB of Node plus 64 MB of Buffers, held for a few samples
    first = invoke(ex, {"mb": 64, "holdMs": 200})
    assert not first.is_error, first.payload
    assert body(first) == {"count": 1, "mb": 64}
    # the environment stays warm
    assert body(invoke(ex, {"mb": 64}))["count"] == 2


def test_memory_limit_can_be_switched_off(harness, monkeypatch):
    monkeypatch.setenv("LAMBDA_HOST_NODE_MEMORY_LIMIT", "0")
    ex = harness.executor(BUFFER_HOG, memory_size=128, timeout=30)
    res = invoke(ex, {"mb": 384, "holdMs": 200})
    assert not res.is_error, res.payload
    assert body(res) == {"count": 1, "mb": 384}
    # only the Max Memory Used figure (peak RSS) tells how far over it went
    assert int(res.logs.split("Max Memory Used: ")[1].split(" MB")[0]) > 384


def test_memory_of_child_processes_counts(harness):
    # the handler stays small; a child it starts holds 512 MB (the Lambda sandbox limits the whole tree)
    child = "const h = []; for (let i = 0; i < 32; i++) h.push(Buffer.alloc(16 << 20, 1)); setInterval(() => {}, 1000);"
    ex = harness.executor(
        {
            "index.js": f"""
                const {{ spawn }} = require('node:child_process');
                exports.handler = (event) => new Promise((resolve) => {{
                  if (!event.spawn) return resolve('small');
                  const c = spawn(process.execPath, ['-e', {json.dumps(child)}], {{ stdio: 'ignore' }});
                  console.log(`child=${{c.pid}}`);
                }});
            """
        },
        memory_size=256,
        timeout=60,
    )
    res = invoke(ex, {"spawn": True})
    assert res.is_error, res.payload
    assert body(res)["errorType"] == "Runtime.OutOfMemory"
    # the whole process group went, the child included
    child_pid = int(res.logs.split("child=")[1].split()[0])
    assert _wait_until(lambda: not _pid_alive(child_pid))
    assert body(invoke(ex, {})) == "small"


def _wait_until(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
