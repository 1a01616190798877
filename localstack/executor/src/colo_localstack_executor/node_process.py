"""One long-lived Node.js process running ``bootstrap/bootstrap.mjs`` for one execution environment.

This module has no LocalStack imports: it only knows how to start the bootstrap, send it invocations
and collect results and logs. :mod:`colo_localstack_executor.executor` adapts it to LocalStack.

Channels between this class and the bootstrap:

* the child's stdin: one JSON request per line (``{"type": "invoke", ...}``);
* a dedicated pipe (its fd number is passed in ``COLO_RESULT_FD``): one JSON message per line
  (``ready`` / ``initError`` / ``result`` / ``error``);
* the child's stdout and stderr, merged: the function's log output. The bootstrap writes a marker line
  (``LOG_MARK`` + id) after the init phase and after each invocation so logs can be cut per invocation.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

import psutil

LOG = logging.getLogger(__name__)

BOOTSTRAP_DIR = Path(__file__).parent / "bootstrap"
BOOTSTRAP_SCRIPT = BOOTSTRAP_DIR / "bootstrap.mjs"
LOG_MARK = "\x1ecolo-invocation-done:"
INIT_MARK_ID = "init"
# how long to wait for the end-of-invocation log marker after the result arrived
LOG_MARKER_GRACE_S = 2.0
# resident memory is sampled this often while an invocation runs (see NodeRuntimeProcess.memory_limit_mb)
MEMORY_POLL_S = 0.025
# the process tree (children of the Node process) is re-listed this often: listing scans all of /proc
CHILDREN_REFRESH_S = 0.5
_EOF = object()


class NodeProcessError(Exception):
    """The Node.js process could not be started or died before it became ready."""


@dataclasses.dataclass
class InitOutcome:
    ok: bool
    init_ms: float
    error: dict | None
    logs: str


@dataclasses.dataclass
class InvokeOutcome:
    # "result": handler returned; "error": handler failed; "timeout": killed at the deadline;
    # "exit": the process ended during the invocation; "oom": killed for exceeding its memory limit
    status: str
    payload: str | None
    error: dict | None
    logs: str
    duration_ms: float
    exit_code: int | None = None
    # the bootstrap reported an error that ends the process (uncaught exception / unhandled rejection)
    fatal: bool = False
    # "oom": resident memory (MB) of the process tree when it was killed
    memory_mb: int | None = None


class NodeRuntimeProcess:
    def __init__(
        self,
        *,
        node_bin: str,
        cwd: str,
        env: dict[str, str],
        name: str = "lambda",
        node_args: list[str] | None = None,
        log_history_chars: int = 256_000,
        memory_limit_mb: int | None = None,
        memory_poll_s: float = MEMORY_POLL_S,
    ) -> None:
        self.node_bin = node_bin
        self.cwd = cwd
        self.env = env
        self.name = name
        self.node_args = list(node_args or [])
        # Lambda's sandbox is a cgroup: exceeding the memory size kills the runtime. Here the resident set of
        # the process and its children is sampled during invocations and the group is killed above this.
        self.memory_limit_mb = memory_limit_mb
        self.memory_poll_s = memory_poll_s
        self._ps_leader: psutil.Process | None = None
        self._children: list[psutil.Process] = []
        self._children_listed = 0.0
        self._proc: subprocess.Popen | None = None
        self._messages: queue.Queue = queue.Queue()
        self._log_cond = threading.Condition()
        self._pending_lines: list[str] = []
        self._segments: dict[str, str] = {}
        self._log_eof = False
        self._history: deque[str] = deque()
        self._history_chars = 0
        self._history_limit = log_history_chars
        self._invoke_lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float) -> InitOutcome:
        """Spawn the bootstrap and wait until it has loaded the handler (or reported an init error)."""
        read_fd, write_fd = os.pipe()
        env = dict(self.env)
        env["COLO_RESULT_FD"] = str(write_fd)
        started = time.monotonic()
        try:
            self._proc = subprocess.Popen(
                [self.node_bin, *self.node_args, str(BOOTSTRAP_SCRIPT)],
                cwd=self.cwd,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,  # own process group: a kill also ends the handler's children
            )
        except OSError as e:
            os.close(read_fd)
            os.close(write_fd)
            raise NodeProcessError(f"cannot start {self.node_bin}: {e}") from e
        finally:
            # the child holds its own copy; closing ours lets the reader see EOF when the child exits
            if self._proc is not None:
                os.close(write_fd)

        self._spawn_thread(self._read_messages, read_fd, "msgs")
        self._spawn_thread(self._read_logs, self._proc.stdout, "logs")

        message = self._next_message(timeout)
        init_ms = (time.monotonic() - started) * 1000
        if message is None:
            self.kill()
            raise NodeProcessError(
                f"Node.js bootstrap did not become ready within {timeout:.0f}s. Logs:\n{self._drain_all_pending()}"
            )
        if message is _EOF:
            code = self._wait_exit(2.0)
            raise NodeProcessError(
                f"Node.js bootstrap exited during init (exit code {code}). Logs:\n{self._drain_all_pending()}"
            )
        logs = self._take_segment(INIT_MARK_ID, LOG_MARKER_GRACE_S)
        if message.get("type") == "ready":
            return InitOutcome(ok=True, init_ms=init_ms, error=None, logs=logs)
        return InitOutcome(ok=False, init_ms=init_ms, error=message.get("error") or {}, logs=logs)

    def stop(self, grace_s: float = 2.0) -> None:
        """Close stdin (the bootstrap exits by itself), then terminate/kill the process group."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                if proc.stdin:
                    proc.stdin.close()
            except OSError:
                pass
            if self._wait_exit(grace_s) is None:
                self._signal_group(signal.SIGTERM)
                if self._wait_exit(grace_s) is None:
                    self.kill()
        # whatever the handler left running in the process group (child processes) goes too
        self._signal_group(signal.SIGKILL)
        self._join_threads(2.0)

    def kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self._wait_exit(5.0)

    # ------------------------------------------------------------------ invocations
    def invoke(
        self,
        *,
        request_id: str,
        payload: str,
        timeout_s: float,
        invoked_function_arn: str = "",
        trace_id: str | None = None,
    ) -> InvokeOutcome:
        with self._invoke_lock:
            started = time.monotonic()
            deadline = started + timeout_s
            request = {
                "type": "invoke",
                "requestId": request_id,
                "payload": payload,
                "deadlineMs": int(time.time() * 1000 + timeout_s * 1000),
                "invokedFunctionArn": invoked_function_arn,
                "traceId": trace_id,
            }
            try:
                assert self._proc is not None and self._proc.stdin is not None
                self._proc.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
                self._proc.stdin.flush()
            except (OSError, ValueError, AssertionError):
                return self._exit_outcome(started)

            while True:
                rss_mb = self._memory_over_limit()
                if rss_mb is not None:
                    return self._oom_outcome(started, request_id, rss_mb)
                remaining = deadline - time.monotonic()
                # with a memory limit, wake up for the next sample; a message still ends the wait at once
                wait = remaining if self.memory_limit_mb is None else min(remaining, self.memory_poll_s)
                message = self._next_message(max(0.0, wait))
                if message is None:
                    if time.monotonic() < deadline:
                        continue
                    duration_ms = (time.monotonic() - started) * 1000
                    self.kill()
                    logs = self._take_segment(request_id, LOG_MARKER_GRACE_S)
                    return InvokeOutcome("timeout", None, None, logs, duration_ms)
                if message is _EOF:
                    return self._exit_outcome(started, request_id)
                if message.get("requestId") != request_id:
                    LOG.debug("%s: ignoring stale message %s", self.name, message.get("type"))
                    continue
                # the last sample can be one interval old: a handler that allocated and returned since ran over too
                rss_mb = self._memory_over_limit()
                if rss_mb is not None:
                    return self._oom_outcome(started, request_id, rss_mb)
                duration_ms = (time.monotonic() - started) * 1000
                logs = self._take_segment(request_id, LOG_MARKER_GRACE_S)
                if message.get("type") == "result":
                    return InvokeOutcome("result", message.get("payload"), None, logs, duration_ms)
                return InvokeOutcome(
                    "error", None, message.get("error") or {}, logs, duration_ms, fatal=bool(message.get("fatal"))
                )

    def max_memory_used_mb(self) -> int | None:
        """Peak resident set size of the process (Linux: VmHWM), in MB."""
        pid = self.pid
        if pid is None:
            return None
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return max(1, int(line.split()[1]) // 1024)
        except (OSError, ValueError, IndexError):
            pass
        try:
            return max(1, psutil.Process(pid).memory_info().rss // (1024 * 1024))
        except Exception:
            return None

    def resident_memory_mb(self) -> int | None:
        """Current resident set size of the process and its children, in MB (None once it has ended).

        Pages shared between processes count in each one's RSS, so a tree with children is over-estimated a
        little; Lambda's cgroup also charges page cache, which RSS leaves out. Close enough to catch a function
        that does not fit its memory size.
        """
        pid = self.pid
        if pid is None or not self.is_alive():
            return None
        try:
            if self._ps_leader is None or self._ps_leader.pid != pid:
                self._ps_leader = psutil.Process(pid)
            leader = self._ps_leader
            rss = leader.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None
        now = time.monotonic()
        if now - self._children_listed >= CHILDREN_REFRESH_S:
            self._children_listed = now
            try:
                self._children = leader.children(recursive=True)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                self._children = []
        for child in self._children:
            try:
                rss += child.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass  # ended since it was listed
        return rss // (1024 * 1024)

    def history(self) -> str:
        with self._log_cond:
            return "".join(self._history)

    # ------------------------------------------------------------------ internals
    def _spawn_thread(self, target, arg, suffix: str) -> None:
        thread = threading.Thread(target=target, args=(arg,), name=f"{self.name}-{suffix}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _join_threads(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def _read_messages(self, fd: int) -> None:
        try:
            with os.fdopen(fd, "rb") as stream:
                for raw in stream:
                    try:
                        self._messages.put(json.loads(raw))
                    except ValueError:
                        LOG.debug("%s: unparsable message %r", self.name, raw[:200])
        finally:
            self._messages.put(_EOF)

    def _read_logs(self, stream) -> None:
        try:
            for raw in stream:
                line = raw.decode("utf-8", errors="replace")
                with self._log_cond:
                    if line.startswith(LOG_MARK):
                        segment_id = line[len(LOG_MARK) :].strip()
                        self._segments[segment_id] = "".join(self._pending_lines)
                        self._pending_lines = []
                        self._log_cond.notify_all()
                        continue
                    self._pending_lines.append(line)
                    self._remember(line)
        except (OSError, ValueError):
            pass
        finally:
            with self._log_cond:
                self._log_eof = True
                self._log_cond.notify_all()

    def _remember(self, line: str) -> None:
        self._history.append(line)
        self._history_chars += len(line)
        while self._history_chars > self._history_limit and self._history:
            self._history_chars -= len(self._history.popleft())

    def _next_message(self, timeout: float):
        try:
            return self._messages.get(timeout=timeout) if timeout > 0 else self._messages.get_nowait()
        except queue.Empty:
            return None

    def _take_segment(self, segment_id: str, grace_s: float) -> str:
        """Logs of one invocation: up to its marker; if the marker does not come within the grace time
        (or the process ended), everything written since the previous marker."""
        end = time.monotonic() + grace_s
        with self._log_cond:
            while segment_id not in self._segments and not self._log_eof:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    break
                self._log_cond.wait(remaining)
            if segment_id in self._segments:
                return self._segments.pop(segment_id)
            text = "".join(self._pending_lines)
            self._pending_lines = []
            return text

    def _drain_all_pending(self) -> str:
        self._join_threads(1.0)
        with self._log_cond:
            text = "".join(self._segments.values()) + "".join(self._pending_lines)
            self._segments.clear()
            self._pending_lines = []
            return text

    def _memory_over_limit(self) -> int | None:
        """The resident memory in MB if a limit is set and exceeded, else None."""
        if self.memory_limit_mb is None:
            return None
        rss_mb = self.resident_memory_mb()
        return rss_mb if rss_mb is not None and rss_mb > self.memory_limit_mb else None

    def _oom_outcome(self, started: float, request_id: str, rss_mb: int) -> InvokeOutcome:
        duration_ms = (time.monotonic() - started) * 1000
        LOG.info("%s: resident memory %d MB exceeds %d MB; killing it", self.name, rss_mb, self.memory_limit_mb)
        self.kill()
        logs = self._take_segment(request_id, LOG_MARKER_GRACE_S)
        return InvokeOutcome("oom", None, None, logs, duration_ms, exit_code=self._wait_exit(0), memory_mb=rss_mb)

    def _exit_outcome(self, started: float, request_id: str | None = None) -> InvokeOutcome:
        code = self._wait_exit(2.0)
        duration_ms = (time.monotonic() - started) * 1000
        logs = self._take_segment(request_id or "", LOG_MARKER_GRACE_S)
        return InvokeOutcome("exit", None, None, logs, duration_ms, exit_code=code)

    def _wait_exit(self, timeout: float) -> int | None:
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _signal_group(self, sig: int) -> None:
        proc = self._proc
        if proc is None:
            return
        # signal the whole group even if the leader is gone: the handler may have left children behind
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                proc.send_signal(sig)
            except (ProcessLookupError, OSError):
                pass
