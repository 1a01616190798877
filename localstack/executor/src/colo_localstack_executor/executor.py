"""LocalStack ``RuntimeExecutor`` that runs Node.js Lambda functions as host processes.

LocalStack creates one executor per execution environment, calls ``start(env_vars)`` once, then
``invoke(payload)`` for each invocation routed to that environment (one at a time), and ``stop()`` when
the environment is retired (idle keep-alive expired, function updated or deleted, shutdown).

Each executor owns at most one :class:`~colo_localstack_executor.node_process.NodeRuntimeProcess`. The
process stays warm between invocations (module state survives, as in a warm Lambda sandbox). After a
timeout, a crash or an init error the process is discarded and the next invocation starts a new one
(a cold start), which is what Lambda does with a sandbox after such a failure.

Settings (read from the LocalStack process environment):

* ``LAMBDA_HOST_NODE_RUNTIMES_DIR`` - folder of Node.js binaries by major version, ``node<major>/bin/node``
  (``scripts/localstack-up.sh`` fills it at set-up time from the npm registry). A function whose runtime is
  ``nodejs<major>.x`` runs on ``node<major>/bin/node`` when that binary exists and reports that major;
  otherwise on ``LAMBDA_HOST_NODE_BIN``, with one warning per runtime naming both versions;
* ``LAMBDA_HOST_NODE_BIN`` - Node.js binary used when the runtime's major is not installed (default: ``node``
  on ``PATH``);
* ``LAMBDA_HOST_NODE_MODULES`` - ``os.pathsep``-separated ``node_modules`` folders searched for bare
  imports the function bundle does not contain (Lambda's runtimes ship the AWS SDK v3; point this at a
  ``node_modules`` that has ``@aws-sdk/*`` to emulate that). Used as ``NODE_PATH`` for CommonJS and by
  an ES-module resolve hook for ESM;
* ``LAMBDA_HOST_NODE_MODULES_ALLOW`` - comma-separated top-level names of those folders that functions may
  resolve (default ``@aws-sdk,@smithy,@aws-crypto``, what Lambda's runtime provides; ``*`` for everything);
* ``LAMBDA_HOST_NODE_HEAP_LIMIT`` - ``1`` (default) caps the V8 heap at 90 % of the function's memory
  size like Lambda's Node runtime, ``0`` disables the cap;
* ``LAMBDA_HOST_NODE_MEMORY_LIMIT`` - ``1`` (default) enforces the function's memory size on the whole
  process: the heap cap leaves Buffers, typed arrays and native memory unbounded, while Lambda's sandbox
  kills the runtime when it exceeds its memory size. During each invocation the resident memory (RSS) of
  the Node process and its children is sampled every 25 ms; above the memory size the process group is
  killed, the invocation fails with ``Runtime.OutOfMemory`` and the next one starts a fresh process.
  ``0`` turns the check off.

Lambda layers: their ``nodejs/node_modules`` and ``nodejs/node<major>/node_modules`` folders are searched
like the fallback folders above (on Lambda they are on ``NODE_PATH`` under ``/opt``). Absolute ``/opt/...``
paths do not exist on the host.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

from localstack import config
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from colo_localstack_executor.node_process import (
    BOOTSTRAP_DIR,
    InitOutcome,
    InvokeOutcome,
    NodeProcessError,
    NodeRuntimeProcess,
)

LOG = logging.getLogger(__name__)

_FALLBACK_LOGGED: set[tuple[str, str]] = set()
_NODE_VERSION_CACHE: dict[str, str] = {}


# ---------------------------------------------------------------------- settings
def node_binary() -> str | None:
    configured = os.environ.get("LAMBDA_HOST_NODE_BIN", "").strip()
    if configured:
        return configured if os.path.sep in configured else shutil.which(configured)
    return shutil.which("node")


def runtime_major(runtime: str) -> str:
    """``"22"`` from ``"nodejs22.x"``; ``""`` when the runtime names no major."""
    major = runtime.removeprefix("nodejs").split(".")[0]
    return major if major.isdigit() else ""


def _version_major(version: str) -> str:
    return version.lstrip("v").split(".")[0]


def node_binary_for_runtime(runtime: str) -> str | None:
    """The Node.js binary for a function runtime: the installed one of its major, else the host's.

    Looks only at what set-up installed (``LAMBDA_HOST_NODE_RUNTIMES_DIR``); downloads nothing. A fallback is
    logged once per runtime with both versions, so a log reader sees which Node ran the function.
    """
    major = runtime_major(runtime)
    root = os.environ.get("LAMBDA_HOST_NODE_RUNTIMES_DIR", "").strip()
    why = ""
    if major and root:
        candidate = Path(root) / f"node{major}" / "bin" / "node"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            found = host_node_version(str(candidate))
            if _version_major(found) == major:
                return str(candidate)
            why = f"{candidate} reports {found or 'no version'}"
        else:
            why = f"no {candidate}"
    elif major:
        why = "LAMBDA_HOST_NODE_RUNTIMES_DIR is not set"
    fallback = node_binary()
    if major and fallback and (runtime, fallback) not in _FALLBACK_LOGGED:
        host = host_node_version(fallback)
        if _version_major(host) != major:
            _FALLBACK_LOGGED.add((runtime, fallback))
            LOG.warning(
                "host-node executor: runtime %s runs on host Node.js %s (%s): %s; run scripts/localstack-up.sh "
                "--install-only to install Node.js %s",
                runtime,
                host or "of unknown version",
                fallback,
                why,
                major,
            )
    return fallback


def fallback_module_dirs() -> list[str]:
    raw = os.environ.get("LAMBDA_HOST_NODE_MODULES", "")
    return [d for d in raw.split(os.pathsep) if d.strip()]


# What Lambda's Node.js runtimes provide besides Node itself: the AWS SDK v3 and its scoped dependencies.
DEFAULT_RUNTIME_MODULES = ("@aws-sdk", "@smithy", "@aws-crypto")


def runtime_module_names() -> tuple[str, ...] | None:
    """Top-level entries of the fallback folders that functions may resolve (None: all of them)."""
    raw = os.environ.get("LAMBDA_HOST_NODE_MODULES_ALLOW", "").strip()
    if not raw:
        return DEFAULT_RUNTIME_MODULES
    if raw == "*":
        return None
    return tuple(n.strip() for n in raw.split(",") if n.strip())


SCOPE_BOUNDARY = '{"//": "package scope boundary written by the colo host-node executor"}\n'


def write_scope_boundary(code) -> None:
    """Put an empty package.json next to the unzipped code folder.

    On Lambda, /var/task has no enclosing package.json, so a bundle's .js files are CommonJS unless the bundle
    says otherwise. On the host, Node would keep walking up from LocalStack's code cache and could reach an
    unrelated package.json (e.g. a project with "type": "module"). The file stops that walk; it lives in the
    code object's own cache folder, which LocalStack deletes with the code.
    """
    if code is None or code.is_hot_reloading():
        return
    marker = Path(code.get_unzipped_code_location()).parent / "package.json"
    try:
        if not marker.exists():
            marker.write_text(SCOPE_BOUNDARY)
    except OSError as e:
        LOG.debug("could not write %s: %s", marker, e)


def _switch(name: str) -> bool:
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no")


def heap_limit_enabled() -> bool:
    return _switch("LAMBDA_HOST_NODE_HEAP_LIMIT")


def memory_limit_enabled() -> bool:
    return _switch("LAMBDA_HOST_NODE_MEMORY_LIMIT")


def host_node_version(node_bin: str) -> str:
    if node_bin not in _NODE_VERSION_CACHE:
        import subprocess

        try:
            out = subprocess.run([node_bin, "--version"], capture_output=True, text=True, timeout=10)
            _NODE_VERSION_CACHE[node_bin] = out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            _NODE_VERSION_CACHE[node_bin] = ""
    return _NODE_VERSION_CACHE[node_bin]


def gateway_host_for_functions() -> str:
    """Address under which a host process reaches the LocalStack gateway."""
    host = config.GATEWAY_LISTEN[0].host if config.GATEWAY_LISTEN else ""
    if host in ("", "0.0.0.0", "::", "[::]", "localhost"):
        return "127.0.0.1"
    return host


def _iso_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _check_supported(function_version: FunctionVersion) -> None:
    cfg = function_version.config
    package_type = getattr(cfg, "package_type", "Zip")
    if package_type and str(package_type) != "Zip":
        raise LambdaRuntimeException(
            f"host-node executor runs only Zip functions (function {function_version.id.function_name} "
            f"has package type {package_type}); container images need the docker executor"
        )
    runtime = str(cfg.runtime or "")
    if not runtime.startswith("nodejs"):
        raise LambdaRuntimeException(
            f"host-node executor runs only nodejs* runtimes; function {function_version.id.function_name} "
            f"uses {runtime or 'no runtime'}"
        )


class HostNodeRuntimeExecutor(RuntimeExecutor):
    """Runs one Lambda execution environment as a Node.js process on the host."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._lock = threading.RLock()
        self._process: NodeRuntimeProcess | None = None
        self._env: dict[str, str] | None = None
        self._sandbox_dir: str | None = None
        self._stopped = False
        # init logs and duration of the current process, reported with its first invocation
        self._pending_init: InitOutcome | None = None
        self._log_history: list[str] = []

    # ------------------------------------------------------------------ RuntimeExecutor API
    def start(self, env_vars: dict[str, str]) -> None:
        _check_supported(self.function_version)
        node_bin = self._node_binary()
        if not node_bin:
            raise LambdaRuntimeException("host-node executor: no `node` binary found (set LAMBDA_HOST_NODE_BIN)")
        with self._lock:
            self._stopped = False
            self._sandbox_dir = tempfile.mkdtemp(prefix=f"colo-lambda-{self.function_version.id.function_name[:40]}-")
            self._env = self._build_env(env_vars)
            # Raises if Node.js itself cannot run the bootstrap; handler init errors are reported at invoke
            self._spawn(node_bin)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            process, self._process = self._process, None
        if process is not None:
            self._keep_history(process)
            process.stop()
        if self._sandbox_dir:
            shutil.rmtree(self._sandbox_dir, ignore_errors=True)
            self._sandbox_dir = None

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return gateway_host_for_functions()

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port if config.GATEWAY_LISTEN else 4566
        return f"http://{self.get_endpoint_from_executor()}:{port}/_localstack_lambda/{self.id}"

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload.get("invoke-id") or ""
        event = payload.get("payload") or "{}"
        timeout_s = float(self.function_version.config.timeout or 3)
        with self._lock:
            if self._stopped:
                return self._error_result(
                    request_id, "Runtime.ExitError", f"RequestId: {request_id} Error: execution environment stopped", ""
                )
            cold_start_logs = ""
            if self._process is None or not self._process.is_alive():
                # a previous invocation timed out or crashed: start a fresh process (cold start)
                node_bin = self._node_binary()
                try:
                    if not node_bin:
                        raise NodeProcessError("no `node` binary found")
                    self._spawn(node_bin)
                except NodeProcessError as e:
                    return self._error_result(
                        request_id, "Runtime.ExitError", f"RequestId: {request_id} Error: {e}", str(e)
                    )
            process = self._process
            init = self._pending_init
            self._pending_init = None

        assert process is not None
        if init is not None:
            cold_start_logs = init.logs
        if init is not None and not init.ok:
            # Lambda reports the init failure as the invocation's error and re-runs init next time
            error = init.error or {}
            self._discard(process)
            logs = self._format_logs(request_id, cold_start_logs, "", 0.0, init, process)
            return self._result(request_id, json.dumps(_error_body(error)), True, logs)

        outcome = process.invoke(
            request_id=request_id,
            payload=event,
            timeout_s=timeout_s,
            invoked_function_arn=payload.get("invoked-function-arn") or "",
            trace_id=payload.get("trace-id"),
        )
        return self._outcome_to_result(request_id, outcome, init, cold_start_logs, process, timeout_s)

    def get_logs(self) -> str:
        with self._lock:
            parts = list(self._log_history)
            if self._process is not None:
                parts.append(self._process.history())
        return "".join(parts)

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        """Check the function can run here and unzip its code. Downloads nothing: the archive comes
        from LocalStack's own (in-process) S3 store."""
        _check_supported(function_version)
        if not node_binary():
            raise LambdaRuntimeException("host-node executor: no `node` binary found (set LAMBDA_HOST_NODE_BIN)")
        code = function_version.config.code
        if code is not None:
            code.prepare_for_execution()
            write_scope_boundary(code)
        for layer in getattr(function_version.config, "layers", None) or []:
            layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        # Nothing was prepared beyond the unzipped code, which LocalStack's code object removes itself.
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        node_bin = node_binary()
        if not node_bin:
            LOG.warning(
                "host-node Lambda executor: no `node` binary on PATH (set LAMBDA_HOST_NODE_BIN); "
                "Node.js functions will fail to start"
            )
            return False
        LOG.info("host-node Lambda executor: host Node.js %s (%s)", node_bin, host_node_version(node_bin))
        root = os.environ.get("LAMBDA_HOST_NODE_RUNTIMES_DIR", "").strip()
        if root and Path(root).is_dir():
            for candidate in sorted(Path(root).glob("node*/bin/node")):
                LOG.info("host-node Lambda executor: %s (%s)", candidate, host_node_version(str(candidate)))
        return True

    # ------------------------------------------------------------------ helpers
    def _build_env(self, env_vars: dict[str, str]) -> dict[str, str]:
        code_dir = str(self.function_version.config.code.get_unzipped_code_location())
        env: dict[str, str] = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
        }
        env.update({k: str(v) for k, v in env_vars.items() if v is not None})
        runtime = str(self.function_version.config.runtime)
        fallback_dirs = self._layer_module_dirs(runtime) + self._runtime_module_dirs()
        env.update(
            {
                "LAMBDA_TASK_ROOT": code_dir,
                "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP_DIR),
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
                # per-environment scratch space, like the sandbox's /tmp
                "TMPDIR": self._sandbox_dir or tempfile.gettempdir(),
                "HOME": self._sandbox_dir or tempfile.gettempdir(),
                "NODE_PATH": os.pathsep.join(fallback_dirs),
                "COLO_NODE_FALLBACK_MODULES": os.pathsep.join(fallback_dirs),
            }
        )
        if not fallback_dirs:
            env.pop("NODE_PATH")
        return env

    def _layer_module_dirs(self, runtime: str) -> list[str]:
        """node_modules folders of the function's layers, as Lambda's NODE_PATH has them under /opt
        (later layers first: on Lambda they are extracted last and overwrite earlier ones)."""
        major = runtime.removeprefix("nodejs").split(".")[0]
        dirs: list[str] = []
        for layer in reversed(getattr(self.function_version.config, "layers", None) or []):
            root = Path(layer.code.get_unzipped_code_location())
            for sub in (f"nodejs/node{major}/node_modules", "nodejs/node_modules"):
                if (root / sub).is_dir():
                    dirs.append(str(root / sub))
        return dirs

    def _runtime_module_dirs(self) -> list[str]:
        """The fallback folders, narrowed to what Lambda's runtime provides.

        A folder of symlinks (to the allowed top-level entries of each LAMBDA_HOST_NODE_MODULES folder) is made
        in the environment's scratch space, so a function cannot silently use a package that exists in the
        project's node_modules but not on Lambda. Node resolves symlinks to their real paths, so the SDK's
        own dependencies still resolve from the original folder.
        """
        configured = fallback_module_dirs()
        allowed = runtime_module_names()
        if allowed is None or not configured or not self._sandbox_dir:
            return configured
        target = Path(self._sandbox_dir) / "runtime" / "node_modules"
        target.mkdir(parents=True, exist_ok=True)
        for folder in configured:
            for name in allowed:
                source = Path(folder) / name
                link = target / name
                if source.exists() and not link.exists():
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to(source.resolve(), target_is_directory=True)
        return [str(target)]

    def _memory_size(self) -> int:
        return int(self.function_version.config.memory_size or 128)

    def _node_args(self) -> list[str]:
        args: list[str] = []
        if heap_limit_enabled():
            args.append(f"--max-old-space-size={max(64, self._memory_size() * 9 // 10)}")
        return args

    def _spawn(self, node_bin: str) -> None:
        assert self._env is not None
        process = NodeRuntimeProcess(
            node_bin=node_bin,
            cwd=self._env["LAMBDA_TASK_ROOT"],
            env=self._env,
            name=f"lambda-{self.function_version.id.function_name}-{self.id[:8]}",
            node_args=self._node_args(),
            # read at each spawn, so a changed setting applies from the next cold start
            memory_limit_mb=self._memory_size() if memory_limit_enabled() else None,
        )
        startup_timeout = max(1.0, float(config.LAMBDA_RUNTIME_ENVIRONMENT_TIMEOUT) - 0.5)
        init = process.start(timeout=startup_timeout)
        self._process = process
        self._pending_init = init
        if not init.ok:
            LOG.debug("Function %s failed init: %s", self.function_version.qualified_arn, init.error)

    def _discard(self, process: NodeRuntimeProcess) -> None:
        with self._lock:
            if self._process is process:
                self._process = None
        self._keep_history(process)
        process.kill()

    def _keep_history(self, process: NodeRuntimeProcess) -> None:
        text = process.history()
        if text:
            self._log_history.append(text)
            # keep the executor-level history bounded
            while sum(len(t) for t in self._log_history) > 512_000 and len(self._log_history) > 1:
                self._log_history.pop(0)

    def _outcome_to_result(
        self,
        request_id: str,
        outcome: InvokeOutcome,
        init: InitOutcome | None,
        cold_start_logs: str,
        process: NodeRuntimeProcess,
        timeout_s: float,
    ) -> InvocationResult:
        def logs(extra: str = "", max_memory_mb: int | None = None) -> str:
            return self._format_logs(
                request_id, cold_start_logs, outcome.logs + extra, outcome.duration_ms, init, process, max_memory_mb
            )

        if outcome.status == "result":
            return self._result(request_id, outcome.payload or "null", False, logs())
        if outcome.status == "error":
            text = logs()
            if outcome.fatal or not process.is_alive():  # e.g. an uncaught exception ends the process
                self._discard(process)
            return self._result(request_id, json.dumps(_error_body(outcome.error or {})), True, text)
        if outcome.status == "timeout":
            self._discard(process)
            text = logs(f"{_iso_now()} {request_id} Task timed out after {timeout_s:.2f} seconds\n")
            error = {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds",
            }
            return self._result(request_id, json.dumps(error), True, text)
        if outcome.status == "oom":
            # what Lambda reports when the sandbox's memory limit kills the runtime (SIGKILL)
            self._discard(process)
            memory_size = self._memory_size()
            LOG.warning(
                "Function %s used %s MB of resident memory, more than its memory size of %d MB: killed "
                "(Runtime.OutOfMemory; LAMBDA_HOST_NODE_MEMORY_LIMIT=0 turns this check off)",
                self.function_version.qualified_arn,
                outcome.memory_mb,
                memory_size,
            )
            message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
            # Lambda's REPORT shows the memory size as Max Memory Used: the cgroup stops usage at the limit
            text = logs(f"{message}\nRuntime.OutOfMemory\n", max_memory_mb=memory_size)
            error = {"errorType": "Runtime.OutOfMemory", "errorMessage": message}
            return self._result(request_id, json.dumps(error), True, text)
        # the process ended during the invocation
        self._discard(process)
        code = outcome.exit_code
        status = f"exit status {code}" if code is not None and code >= 0 else f"signal {-(code or 0)}"
        message = f"RequestId: {request_id} Error: Runtime exited with error: {status}"
        text = logs(f"{message}\nRuntime.ExitError\n")
        error = {"errorType": "Runtime.ExitError", "errorMessage": message}
        return self._result(request_id, json.dumps(error), True, text)

    def _format_logs(
        self,
        request_id: str,
        init_logs: str,
        body: str,
        duration_ms: float,
        init: InitOutcome | None,
        process: NodeRuntimeProcess,
        max_memory_mb: int | None = None,
    ) -> str:
        """Lambda's layout: init output, START, the invocation's output, END, REPORT."""
        if body and not body.endswith("\n"):
            body += "\n"
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {max(1, math.ceil(duration_ms))} ms\t"
            f"Memory Size: {self.function_version.config.memory_size} MB\t"
        )
        max_mem = max_memory_mb if max_memory_mb is not None else process.max_memory_used_mb()
        if max_mem is not None:
            report += f"Max Memory Used: {max_mem} MB\t"
        if init is not None:
            report += f"Init Duration: {init.init_ms:.2f} ms\t"
        return f"{init_logs}{_start_line(request_id, self)}{body}END RequestId: {request_id}\n{report.rstrip()}\n"

    def _result(self, request_id: str, payload: str, is_error: bool, logs: str) -> InvocationResult:
        return InvocationResult(
            request_id=request_id,
            payload=payload.encode("utf-8"),
            is_error=is_error,
            logs=logs,
        )

    def _error_result(self, request_id: str, error_type: str, message: str, logs: str) -> InvocationResult:
        body = json.dumps({"errorType": error_type, "errorMessage": message})
        text = _start_line(request_id, self) + (logs + "\n" if logs else "") + f"END RequestId: {request_id}\n"
        return self._result(request_id, body, True, text)

    def _node_binary(self) -> str | None:
        return node_binary_for_runtime(str(self.function_version.config.runtime or ""))


def _start_line(request_id: str, executor: HostNodeRuntimeExecutor) -> str:
    return f"START RequestId: {request_id} Version: {executor.function_version.id.qualifier}\n"


def _error_body(error: dict) -> dict:
    body = {
        "errorType": error.get("errorType") or "Error",
        "errorMessage": error.get("errorMessage") or "",
    }
    if error.get("trace"):
        body["trace"] = error["trace"]
    return body

