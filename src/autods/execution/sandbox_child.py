"""The inside of the sandbox: a warm "zygote" that forks one fresh, locked-down child per call.

This file runs only under bubblewrap, started by :mod:`autods.execution.sandbox` as
``python -I -B sandbox_child.py`` (bound read-only; it imports nothing from autods, so the
project's source need not be visible inside). It is kept stdlib-only at module level.

Why a zygote: importing numpy, pandas, scikit-learn and LightGBM costs about a second; paying
it once per sandbox (not once per fold) is what keeps a code experiment near the speed of a
recipe. Isolation between calls comes from ``fork``: every call runs in a fresh copy of the
clean zygote, so a monkeypatch, a global or a leaked thread of one call cannot reach the next,
and the scratch directory (``/tmp``, a private tmpfs) is wiped after every call.

Each call's child, before it touches untrusted code: points fds 0/1/2 at /dev/null and two
capture files (the control pipe to the parent is closed, so it cannot forge replies on it),
sets RLIMIT_CPU / AS / FSIZE / NPROC / CORE, and installs a seccomp filter that refuses new
processes (``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD``; ``clone3`` answers ENOSYS
so threads fall back to ``clone``) and namespace, mount and ptrace calls. The zygote kills
the child at its wall-clock limit; the parent has its own backstop on top.

Wire protocol on fds 0/1, both ways: an 8-byte big-endian length, a JSON header with
``"blobs": [[name, size], ...]``, then the blob bytes in that order.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import resource
import select
import shutil
import signal
import struct
import sys
import time
import traceback

SCRATCH = "/tmp"
IN_NAMES = frozenset({"source.py", "X.npy", "y.npy", "columns.json", "model.pkl"})
OUT_NAMES = ("pred.npy", "xt.npy", "model.pkl", "error.json")
CODE_FILE = "<code>"
MODULE = "autods_code"

# --- seccomp ----------------------------------------------------------------------------------
# Syscall numbers per architecture: (audit arch, clone, clone3, {syscall: errno}).
_EPERM, _EAGAIN, _ENOSYS = 1, 11, 38
_ARCH = {
    "x86_64": (0xC000003E, 56, 435, {57: _EAGAIN, 58: _EAGAIN, 101: _EPERM, 310: _EPERM, 311: _EPERM,
                                     272: _EPERM, 308: _EPERM, 165: _EPERM, 166: _EPERM, 155: _EPERM, 161: _EPERM}),
    "aarch64": (0xC00000B7, 220, 435, {117: _EPERM, 270: _EPERM, 271: _EPERM, 97: _EPERM, 268: _EPERM,
                                       40: _EPERM, 39: _EPERM, 41: _EPERM, 51: _EPERM}),
}
_RET_ALLOW, _RET_ERRNO, _RET_KILL = 0x7FFF0000, 0x00050000, 0x80000000
_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_CLONE_THREAD = 0x00010000


def _bpf(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def seccomp_program(machine: str) -> bytes:
    """The classic-BPF filter for ``machine`` (see the module docstring for what it refuses)."""
    if machine not in _ARCH:
        raise OSError(f"seccomp filter not written for {machine}")
    arch, clone, clone3, denied = _ARCH[machine]
    prog = [_bpf(_LD_ABS, 0, 0, 4), _bpf(_JEQ, 1, 0, arch), _bpf(_RET, 0, 0, _RET_KILL), _bpf(_LD_ABS, 0, 0, 0)]
    if machine == "x86_64":  # x32 syscalls (nr | 0x40000000) would bypass the numbers below
        prog += [_bpf(_JGE, 0, 1, 0x40000000), _bpf(_RET, 0, 0, _RET_KILL)]
    prog += [_bpf(_JEQ, 0, 1, clone3), _bpf(_RET, 0, 0, _RET_ERRNO | _ENOSYS)]
    for nr, errno in denied.items():
        prog += [_bpf(_JEQ, 0, 1, nr), _bpf(_RET, 0, 0, _RET_ERRNO | errno)]
    # clone: a thread (CLONE_THREAD set in the low word of args[0], offset 16) is allowed, a process is not
    prog += [_bpf(_JEQ, 0, 4, clone), _bpf(_LD_ABS, 0, 0, 16), _bpf(_JSET, 0, 1, _CLONE_THREAD),
             _bpf(_RET, 0, 0, _RET_ALLOW), _bpf(_RET, 0, 0, _RET_ERRNO | _EAGAIN)]
    return b"".join(prog + [_bpf(_RET, 0, 0, _RET_ALLOW)])


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_seccomp() -> None:
    """Install the filter on this process (irreversible). Raises OSError where it cannot."""
    program = seccomp_program(platform.machine())
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = _Fprog(len(program) // 8, ctypes.addressof(buf))
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "seccomp filter refused")


# --- framing ----------------------------------------------------------------------------------


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv(fd: int) -> tuple[dict, dict[str, bytes]]:
    header = json.loads(_read_exact(fd, struct.unpack(">Q", _read_exact(fd, 8))[0]))
    return header, {name: _read_exact(fd, size) for name, size in header.pop("blobs", [])}


def send(fd: int, header: dict, blobs: dict[str, bytes] | None = None) -> None:
    blobs = blobs or {}
    head = json.dumps({**header, "blobs": [[k, len(v)] for k, v in blobs.items()]}).encode()
    for part in (struct.pack(">Q", len(head)), head, *blobs.values()):
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view):]


# --- one call, in the forked child ------------------------------------------------------------


def _vm_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _lock_down(job: str, limits: dict) -> None:
    null = os.open("/dev/null", os.O_RDONLY)
    out = os.open(f"{job}/stdout", os.O_WRONLY | os.O_CREAT, 0o600)
    err = os.open(f"{job}/stderr", os.O_WRONLY | os.O_CREAT, 0o600)
    for src, dst in ((null, 0), (out, 1), (err, 2)):
        os.dup2(src, dst)
    os.closerange(3, 4096)  # nothing of the zygote's (no pipe, no pidfd) stays reachable
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large file is an OSError, not a silent death
    cpu = int(limits["cpu_s"])
    _limit(resource.RLIMIT_CPU, cpu, cpu + 2)
    # Relative to the zygote's mapped imports: an absolute cap would be eaten by numpy alone.
    memory = _vm_bytes() + int(limits["memory_mb"]) * 2**20
    _limit(resource.RLIMIT_AS, memory, memory)
    fsize = int(limits["fsize_mb"]) * 2**20
    _limit(resource.RLIMIT_FSIZE, fsize, fsize)
    _limit(resource.RLIMIT_NPROC, int(limits["nproc"]), int(limits["nproc"]))
    _limit(resource.RLIMIT_CORE, 0, 0)
    install_seccomp()


def _limit(which: int, soft: int, hard: int) -> None:
    """Set a limit, never above one inherited from the parent (e.g. an executor worker's RLIMIT_AS)."""
    _, inherited = resource.getrlimit(which)
    if inherited != resource.RLIM_INFINITY:
        soft, hard = min(soft, inherited), min(hard, inherited)
    resource.setrlimit(which, (soft, hard))


def _load_code(source: str) -> object:
    import types

    import linecache

    # the traceback's frames then show the agent's own lines (the code has no file to read them from)
    linecache.cache[CODE_FILE] = (len(source), None, source.splitlines(True), CODE_FILE)
    module = types.ModuleType(MODULE)
    module.__file__ = CODE_FILE
    sys.modules[MODULE] = module  # pickle finds the class by module name
    exec(compile(source, CODE_FILE, "exec"), module.__dict__)  # noqa: S102 - this is the sandbox
    return module


def _run(job: str, header: dict) -> None:
    import pickle
    import random

    import numpy as np
    import pandas as pd

    inp, out = f"{job}/in", f"{job}/out"
    with open(f"{inp}/source.py", encoding="utf-8") as fh:
        module = _load_code(fh.read())
    with open(f"{inp}/columns.json", encoding="utf-8") as fh:
        columns = json.load(fh)
    X = pd.DataFrame(np.load(f"{inp}/X.npy", allow_pickle=False), columns=columns)
    seed = int(header.get("seed", 0))
    random.seed(seed)
    np.random.seed(seed)
    op = header["op"]
    if op in ("fit", "fit_transform"):
        model = getattr(module, header["entry"])()
        model.fit(X, np.load(f"{inp}/y.npy", allow_pickle=False))
        if op == "fit_transform":
            np.save(f"{out}/xt.npy", np.asarray(model.transform(X), dtype=float), allow_pickle=False)
        with open(f"{out}/model.pkl", "wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return
    with open(f"{inp}/model.pkl", "rb") as fh:
        model = pickle.load(fh)
    if op == "transform":
        np.save(f"{out}/xt.npy", np.asarray(model.transform(X), dtype=float), allow_pickle=False)
        return
    method = getattr(model, header["method"])
    np.save(f"{out}/pred.npy", np.asarray(method(X), dtype=float), allow_pickle=False)


def _error_report(exc: BaseException) -> dict:
    """Exception type, message, and the frames in the agent's own code (never locals)."""
    frames = [[f.lineno, f.name, (f.line or "")[:200]] for f in traceback.extract_tb(exc.__traceback__)
              if f.filename == CODE_FILE][-5:]
    return {"type": type(exc).__name__, "message": str(exc)[:300], "frames": frames}


def _child(job: str, header: dict) -> None:
    try:
        _lock_down(job, header["limits"])
    except (OSError, ValueError) as exc:  # fail closed: untrusted code never runs without its limits
        os._exit(70 if "seccomp" in str(exc) else 71)
    try:
        _run(job, header)
        code = 0
    except BaseException as exc:  # noqa: BLE001 - any failure of untrusted code is reported, never raised
        try:
            with open(f"{job}/out/error.json", "w", encoding="utf-8") as fh:
                json.dump(_error_report(exc), fh)
        except BaseException:  # noqa: BLE001 - out of memory or disk: the exit code still says "failed"
            pass
        code = 1
    os._exit(code)


# --- the zygote -------------------------------------------------------------------------------


def _wait(pid: int, wall_s: float) -> tuple[int, bool, float]:
    """Wait for ``pid`` at most ``wall_s`` seconds; kill it past that.
    Returns (status, timed_out, the call's CPU seconds, user + system, its threads included)."""
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], wall_s)
    finally:
        os.close(fd)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    return status, not ready, usage.ru_utime + usage.ru_stime


def _wipe() -> bool:
    """Empty the scratch; False when something could not be removed (the zygote then retires)."""
    for root, dirs, _ in os.walk(SCRATCH):
        for name in dirs:  # a call may have made its directories unreadable to slow the wipe
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o700)
    for name in os.listdir(SCRATCH):
        path = os.path.join(SCRATCH, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    return not os.listdir(SCRATCH)


def _call(header: dict, blobs: dict[str, bytes]) -> tuple[dict, dict[str, bytes]]:
    job = f"{SCRATCH}/job"
    for sub in ("in", "out", "work"):
        os.makedirs(f"{job}/{sub}")
    for name, data in blobs.items():
        if name in IN_NAMES:
            with open(f"{job}/in/{name}", "wb") as fh:
                fh.write(data)
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.chdir(f"{job}/work")
        _child(job, header)
    status, timed_out, cpu = _wait(pid, float(header["limits"]["wall_s"]))
    reply = {"exit": os.waitstatus_to_exitcode(status), "timed_out": timed_out,
             "seconds": round(time.perf_counter() - started, 4), "cpu_s": round(cpu, 4),
             "stdout_bytes": os.path.getsize(f"{job}/stdout") if os.path.exists(f"{job}/stdout") else 0,
             "stderr_bytes": os.path.getsize(f"{job}/stderr") if os.path.exists(f"{job}/stderr") else 0}
    cap = int(header["limits"]["fsize_mb"]) * 2**20
    out: dict[str, bytes] = {}
    for name in OUT_NAMES:
        path = f"{job}/out/{name}"
        if os.path.isfile(path) and not os.path.islink(path) and os.path.getsize(path) <= cap:
            with open(path, "rb") as fh:
                out[name] = fh.read()
    return reply, out


def _warm_up(preloaded: list[str]) -> None:
    """Run our own tiny fits once, so every forked call inherits filled caches and finished lazy
    imports (a first scikit-learn fit in a fresh child costs ~50 ms more); then freeze the heap so
    the garbage collector does not copy every inherited page. Trusted code only: the zygote never
    runs the agent's code."""
    import gc
    import pickle

    if "sklearn.linear_model" in preloaded:
        import numpy as np
        import pandas as pd
        from sklearn.linear_model import LogisticRegression

        X = pd.DataFrame(np.random.default_rng(0).normal(size=(64, 3)), columns=["a", "b", "c"])
        y = (X["a"] > 0).astype(int).to_numpy()
        models = [LogisticRegression()]
        if "lightgbm" in preloaded:
            from lightgbm import LGBMClassifier

            models.append(LGBMClassifier(n_estimators=2, min_child_samples=5, n_jobs=1, verbose=-1))
        for model in models:
            pickle.loads(pickle.dumps(model.fit(X, y))).predict_proba(X)
    gc.collect()
    gc.freeze()


def main() -> None:
    ctl_in, ctl_out = os.dup(0), os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)  # a stray print in an import cannot corrupt the protocol
    os.set_inheritable(ctl_in, False)
    os.set_inheritable(ctl_out, False)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: calls cannot open /proc/<zygote>/fd or ptrace it
    preloaded = []
    for name in filter(None, os.environ.get("AUTODS_SANDBOX_PRELOAD", "").split(",")):
        try:
            __import__(name)
            preloaded.append(name)
        except ImportError:
            pass  # an optional library absent from the environment: code that needs it fails itself
    _warm_up(preloaded)
    send(ctl_out, {"ready": True, "preloaded": preloaded, "machine": platform.machine(),
                   "seccomp": platform.machine() in _ARCH})
    while True:
        try:
            header, blobs = recv(ctl_in)
        except EOFError:
            return
        if header.get("op") == "stop":
            return
        try:
            reply, out = _call(header, blobs)
        except OSError:  # the inputs did not fit in the scratch tmpfs: an answer, not a dead sandbox
            reply, out = {"exit": 72, "timed_out": False, "seconds": 0.0}, {}
        finally:
            clean = _wipe()
        # Scratch that cannot be emptied could carry something to the next call: start afresh.
        send(ctl_out, {**reply, "retire": not clean}, out)
        if not clean:
            return


if __name__ == "__main__":
    main()
