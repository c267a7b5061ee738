"""The sandbox for agent-written code (ARCHITECTURE invariant 7): bubblewrap, fail closed.

:class:`Sandbox` starts one bubblewrap child, the *zygote* (:mod:`autods.execution.sandbox_child`),
and sends it calls: ``fit`` / ``fit_transform`` (data in, a fitted model out as opaque pickle
bytes) and ``predict`` / ``transform`` (model bytes + data in, an array out). The zygote forks
a fresh locked-down child per call, so the import cost is paid once per sandbox, not per fold.

What the child can reach (see docs/code-experiments.md for the threat model):

* ``--unshare-all``: no network (an empty network namespace), own pid/ipc/uts/user namespaces;
  ``--cap-drop ALL``; ``--die-with-parent``; ``--new-session`` (no terminal to inject into);
  ``--as-pid-1`` (the zygote is init: calls cannot signal it); ``/dev`` read-only (no /dev/shm);
* read-only: ``/usr`` (and the merged-/usr links), the Python installation and the project's
  virtualenv (the import surface), ``ld.so.cache`` / ``localtime``; nothing else of the host:
  no run folder, state database, held-out ledger, task folder or home directory is bound;
* writable: a private, size-capped tmpfs at ``/tmp``, wiped after every call;
* data in: the call's arrays, written by the parent down the control pipe as ``.npy`` (never a
  pickle made by the parent); data out: ``.npy`` read with ``allow_pickle=False`` and
  shape-checked by the caller, plus the model's own pickle, which the parent stores as bytes
  and never unpickles (only a later sandbox call does);
* the child's stdout/stderr stay inside the sandbox: only their byte counts come out. A
  failure comes back as the exception type, a masked message and the agent's own frames
  (:func:`failure_reason`), after the egress gate.

Where bubblewrap is missing or cannot create namespaces, :func:`get_sandbox` raises
:class:`SandboxRefused`: code is refused, never run bare.
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from autods.errors import RecipeError

__all__ = ["INSTALL_FIX", "Limits", "Sandbox", "SandboxRefused", "get_sandbox", "shutdown_sandbox"]

INSTALL_FIX = "install bubblewrap: apt-get install bubblewrap"
CHILD = Path(__file__).with_name("sandbox_child.py")
INSIDE_CHILD = "/opt/autods-sandbox/child.py"
# Imported once by the zygote (absent ones are skipped): a call then pays milliseconds, not seconds.
PRELOAD = ("numpy", "pandas", "scipy", "sklearn", "sklearn.linear_model", "sklearn.ensemble", "lightgbm",
           "sksurv.linear_model")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
START_TIMEOUT_S = 120.0
BACKSTOP_S = 10.0  # the parent's wall clock = the call's limit + this (the zygote kills first)
MAX_HEADER = 1 << 20


class SandboxRefused(RecipeError):
    """A code experiment was refused (no sandbox) or its call failed or was killed; one line."""


@dataclass(frozen=True)
class Limits:
    """Per-call limits. ``memory_mb`` is address space over the zygote's imports (RLIMIT_AS);
    ``nproc`` is RLIMIT_NPROC (the kernel ignores it for host root, hence the seccomp filter)."""

    cpu_s: int = 600
    wall_s: float = 900.0
    memory_mb: int = 4096
    fsize_mb: int = 512
    nproc: int = 512
    scratch_mb: int = 1024

    @classmethod
    def from_env(cls) -> Limits:
        """Defaults, overridden by ``AUTODS_SANDBOX_<FIELD>`` (e.g. ``AUTODS_SANDBOX_WALL_S=60``)."""
        base, changes = cls(), {}
        for name, value in asdict(base).items():
            raw = os.environ.get(f"AUTODS_SANDBOX_{name.upper()}")
            if raw is not None:
                try:
                    changes[name] = type(value)(float(raw))
                except ValueError:
                    raise RecipeError(f"AUTODS_SANDBOX_{name.upper()}={raw!r} is not a number",
                                      f"set AUTODS_SANDBOX_{name.upper()} to a positive number") from None
        return replace(base, **changes)


def _bwrap() -> str | None:
    configured = os.environ.get("AUTODS_BWRAP")
    return configured if configured and os.access(configured, os.X_OK) else (None if configured else shutil.which("bwrap"))


def _read_only_paths() -> list[str]:
    """The import surface: the interpreter's installation and the virtualenv, nothing else of $HOME."""
    paths = {sys.prefix, sys.base_prefix, sysconfig.get_paths()["stdlib"], os.path.dirname(os.path.realpath(sys.executable))}
    paths = {os.path.realpath(p) for p in paths if p and os.path.isdir(p)}
    home = os.path.realpath(os.path.expanduser("~"))
    for path in paths:
        # An installation that contains the home directory (or the working directory) would bind it whole.
        for private in (home, os.getcwd()):
            if private == path or private.startswith(path.rstrip("/") + "/"):
                raise SandboxRefused(f"the Python installation {path} contains {private}, which the sandbox must not see",
                                     "run autods from a virtualenv outside the home and working directories")
    kept = sorted(p for p in paths if not p.startswith("/usr/"))
    return [p for p in kept if not any(p.startswith(q.rstrip("/") + "/") for q in kept if q != p)]  # no nested binds


def bwrap_argv(bwrap: str, limits: Limits) -> list[str]:
    """The bubblewrap command line (public so the docs and tests can show exactly what runs)."""
    # --as-pid-1: the zygote is the namespace's init, so a call can neither signal it (init ignores
    # what it does not handle) nor reach the control pipe through bwrap's own reaper process.
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1", "--cap-drop", "ALL",
            "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    for path in ("/etc/ld.so.cache", "/etc/localtime"):
        if os.path.exists(path):
            argv += ["--ro-bind", path, path]
    for path in _read_only_paths():
        argv += ["--ro-bind", path, path]
    argv += ["--ro-bind", str(CHILD), INSIDE_CHILD, "--dev", "/dev", "--remount-ro", "/dev", "--proc", "/proc",
             "--size", str(limits.scratch_mb * 2**20), "--tmpfs", "/tmp", "--chdir", "/tmp", "--clearenv",
             "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp",
             "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONHASHSEED", "0",
             "--setenv", "AUTODS_SANDBOX_PRELOAD", ",".join(PRELOAD)]
    for var in THREAD_VARS:  # one thread: deterministic, and fair on a shared machine
        argv += ["--setenv", var, "1"]
    return argv + [sys.executable, "-I", "-B", INSIDE_CHILD]


class Sandbox:
    """One zygote under bubblewrap. Thread-safe; calls are serialised. Start with :meth:`start`."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits.from_env()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.start_seconds: float | None = None
        self.preloaded: list[str] = []
        # CPU seconds of every call's child (not of this process): benchmarks add it to their own
        self.cpu_seconds = 0.0

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Sandbox:
        bwrap = _bwrap()
        if bwrap is None:
            raise SandboxRefused("code experiments need bubblewrap (bwrap), which is not installed", INSTALL_FIX)
        started = time.perf_counter()
        log = tempfile.TemporaryFile()  # bwrap's own complaints (namespaces); never the code's output
        self._proc = subprocess.Popen(bwrap_argv(bwrap, self.limits), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=log, start_new_session=True, close_fds=True)
        try:
            ready, _ = self._recv(time.monotonic() + START_TIMEOUT_S)
        except SandboxRefused:
            self.kill()
            log.seek(0)
            first = (log.read(400).decode(errors="replace").strip().splitlines() or ["no message"])[0]
            raise SandboxRefused(f"the bubblewrap sandbox could not start ({first[:200]})",
                                 f"allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or {INSTALL_FIX}") from None
        finally:
            log.close()
        if not ready.get("seccomp"):
            self.kill()
            raise SandboxRefused(f"no seccomp filter for this machine ({ready.get('machine')})",
                                 "run code experiments on x86_64 or aarch64")
        self.preloaded = list(ready.get("preloaded", []))
        self.start_seconds = time.perf_counter() - started
        return self

    def kill(self) -> None:
        """Kill the whole sandbox (its process group; the pid namespace takes the rest)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    close = kill

    def call(self, header: dict[str, Any], blobs: dict[str, bytes], limits: Limits | None = None) -> tuple[dict[str, Any], dict[str, bytes]]:
        """One call; returns the zygote's reply header (exit status, timings) and output blobs.

        Raises :class:`SandboxRefused` when the sandbox cannot start or dies; a call that
        fails inside comes back as a non-zero ``exit`` for the caller to explain.
        """
        limits = limits or self.limits
        with self._lock:
            if not self.alive:
                self.kill()  # reap a sandbox that died between calls before starting its successor
                self.start()
            header = {**header, "limits": asdict(limits)}
            try:
                self._send(header, blobs)
                reply, out = self._recv(time.monotonic() + limits.wall_s + BACKSTOP_S)
            except SandboxRefused:
                self.kill()  # unresponsive or dead: the next call gets a fresh sandbox
                raise
            self.cpu_seconds += float(reply.get("cpu_s", 0.0))
            if reply.get("retire"):
                self.kill()
            return reply, out

    def _send(self, header: dict[str, Any], blobs: dict[str, bytes]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        head = json.dumps({**header, "blobs": [[k, len(v)] for k, v in blobs.items()]}).encode()
        try:
            for part in (struct.pack(">Q", len(head)), head, *blobs.values()):
                self._proc.stdin.write(part)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise SandboxRefused("the sandbox died before the call", "retry; if it recurs, check bubblewrap") from None

    def _recv(self, deadline: float) -> tuple[dict[str, Any], dict[str, bytes]]:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)

            def exact(n: int) -> bytes:
                chunks, left = [], n
                while left:
                    wait = deadline - time.monotonic()
                    if wait <= 0 or not sel.select(wait):
                        raise SandboxRefused("code experiment ran past its wall-clock limit and its sandbox was killed",
                                             "make the code faster or raise AUTODS_SANDBOX_WALL_S")
                    chunk = os.read(fd, min(left, 1 << 20))
                    if not chunk:
                        raise SandboxRefused("the sandbox process died", "retry; if it recurs, check bubblewrap")
                    chunks.append(chunk)
                    left -= len(chunk)
                return b"".join(chunks)

            size = struct.unpack(">Q", exact(8))[0]
            if size > MAX_HEADER:
                raise SandboxRefused("the sandbox sent a malformed reply", "retry")
            header = json.loads(exact(size))
            blobs = {str(name): exact(int(n)) for name, n in header.pop("blobs", [])}
        return header, blobs


_SANDBOX: tuple[int, Sandbox] | None = None
_GUARD = threading.Lock()
_EXIT_HOOK: list[bool] = []  # registered once, on the first start


def get_sandbox() -> Sandbox:
    """This process's sandbox, started on first use (a forked process starts its own)."""
    global _SANDBOX
    with _GUARD:
        if _SANDBOX is None or _SANDBOX[0] != os.getpid():
            if _SANDBOX is None and not _EXIT_HOOK:
                atexit.register(shutdown_sandbox)
                _EXIT_HOOK.append(True)
            _SANDBOX = (os.getpid(), Sandbox().start())
        return _SANDBOX[1]


def shutdown_sandbox() -> None:
    """Kill this process's sandbox (tests use it to start from nothing)."""
    global _SANDBOX
    with _GUARD:
        if _SANDBOX is not None and _SANDBOX[0] == os.getpid():
            _SANDBOX[1].kill()
        _SANDBOX = None

