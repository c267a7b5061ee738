"""Adversarial code experiments, one property each (issue 13 deliverable 6).

Every hostile module is refused or killed with a recorded one-line reason, and right after it
an honest code model fitted in the same sandbox still gives exactly scikit-learn's answer.
What these tests do not cover is listed in docs/code-experiments.md ("Not covered").
Skipped only where bubblewrap is absent; CI installs it (.ci/system-deps.sh).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from autods.execution import sandbox
from autods.execution.sandbox import SandboxRefused
from autods.runners.code_family import CodeEstimator

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")

HONEST = """
from sklearn.linear_model import LogisticRegression
class Model:
    def fit(self, X, y):
        self.m = LogisticRegression(max_iter=500).fit(X, y)
        return self
    def predict_proba(self, X):
        return self.m.predict_proba(X)
"""


def module(fit: str, predict: str = "return np.tile([0.5, 0.5], (len(X), 1))", head: str = "") -> str:
    """A Model whose fit body is ``fit`` (indented for you) and whose predict_proba is ``predict``."""
    body = textwrap.indent(textwrap.dedent(fit).strip(), " " * 8)
    return (f"import os, sys, time, socket, signal\nimport numpy as np\n{head}\nclass Model:\n"
            f"    def fit(self, X, y):\n{body}\n        return self\n"
            f"    def predict_proba(self, X):\n        {predict}\n")


# Held by the test process whenever this module's sandboxes start, as a real run holds provider
# keys and agent tokens: no hostile module below may find them (test_api_keys_...).
PLANTED = {"ANTHROPIC_API_KEY": "sk-ant-PLANTED-4f1c", "OPENAI_API_KEY": "sk-PLANTED-9e2a",
           "AUTODS_TOKEN": "PLANTED-agent-token"}


@pytest.fixture(scope="module", autouse=True)
def tight_limits() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"WALL_S": "2", "CPU_S": "1", "MEMORY_MB": "400", "FSIZE_MB": "8"}.items():
            mp.setenv(f"AUTODS_SANDBOX_{name}", value)
        for name, value in PLANTED.items():
            mp.setenv(name, value)
        sandbox.shutdown_sandbox()
        yield
    sandbox.shutdown_sandbox()


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(150, 4)), columns=["a", "b", "c", "d"])
    y = (X["a"] - X["b"] + rng.normal(size=150) > 0).astype(int).to_numpy()
    return X, y


@pytest.fixture
def honest(data: tuple[pd.DataFrame, np.ndarray]) -> Iterator[None]:
    """After the hostile code: an honest model in the same sandbox matches sklearn in the parent."""
    yield
    X, y = data
    pred = CodeEstimator(HONEST).fit(X, y).predict_proba(X)
    np.testing.assert_allclose(pred, LogisticRegression(max_iter=500).fit(X, y).predict_proba(X), rtol=0, atol=1e-12)


def refused(source: str, data: tuple[pd.DataFrame, np.ndarray], *, predict: bool = False) -> str:
    X, y = data
    with pytest.raises(SandboxRefused) as info:
        est = CodeEstimator(source).fit(X, y)
        if predict:
            est.predict_proba(X)
    message = str(info.value)
    assert "\n" not in message and "Fix:" in message
    return message


def test_socket_finds_no_network(data, honest) -> None:
    msg = refused(module("socket.create_connection(('1.1.1.1', 53), timeout=2)"), data)
    assert "OSError" in msg and "unreachable" in msg


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    """A stand-in run folder on the host: state.db, the held-out ledger, the task's data."""
    for name in ("state.db", "holdout_ledger.json", "holdout.json", "data.csv"):
        (tmp_path / name).write_text(f"SECRET-{name}")
    return tmp_path


@pytest.mark.parametrize("name", ["holdout_ledger.json", "state.db", "data.csv"])
def test_run_folder_files_are_not_there(name, run_folder, data, honest) -> None:
    msg = refused(module(f"self.s = open({str(run_folder / name)!r}).read()"), data)
    assert "FileNotFoundError" in msg and "SECRET" not in msg


def test_home_directory_is_not_there(data, honest) -> None:
    marker = Path.home() / f".autods-sandbox-test-{uuid.uuid4().hex}"
    marker.write_text("SECRET-home")
    try:
        msg = refused(module(f"self.s = open({str(marker)!r}).read()"), data)
    finally:
        marker.unlink()
    assert "FileNotFoundError" in msg and "SECRET" not in msg


def test_project_source_is_not_there(data, honest) -> None:
    """The judge's code is not even readable: autods is not importable inside."""
    msg = refused(module("import autods.judge.metrics"), data)
    assert "ModuleNotFoundError" in msg


@pytest.mark.parametrize("target", ["venv", "usr"])
def test_import_surface_is_read_only(target, data, honest) -> None:
    import sklearn

    path = Path(sklearn.__file__) if target == "venv" else Path("/usr/lib/autods-evil.py")
    before = path.read_bytes() if path.exists() else None
    msg = refused(module(f"open({str(path)!r}, 'a').write('import os')"), data)
    assert "OSError" in msg and "Read-only file system" in msg
    assert (path.read_bytes() if path.exists() else None) == before


def test_writes_outside_scratch_never_reach_the_host(tmp_path, data, honest) -> None:
    """/tmp inside is a private tmpfs: the code may write there, the host's /tmp sees nothing."""
    target = tmp_path / "evil" / "out.txt"
    X, y = data
    code = module(f"os.makedirs({str(target.parent)!r}, exist_ok=True)\nopen({str(target)!r}, 'w').write('x')")
    CodeEstimator(code).fit(X, y)
    assert not target.exists() and not target.parent.exists()


def test_file_size_limit(data, honest) -> None:
    msg = refused(module("open('big.bin', 'wb').write(b'0' * (64 * 2**20))"), data)
    assert "File too large" in msg


SPAWN = {
    "fork": "pid = os.fork()\nif pid == 0:\n    os._exit(0)",
    "subprocess": "import subprocess\nsubprocess.run(['/usr/bin/true'])",
    "raw clone syscall": ("import ctypes, platform\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                          "pid = libc.syscall({'x86_64': 56, 'aarch64': 220}[platform.machine()], 17, 0, 0, 0, 0)\n"
                          "if pid == 0:\n    os._exit(0)\nif pid < 0:\n    raise OSError(ctypes.get_errno(), 'clone')"),
}


@pytest.mark.parametrize("how", list(SPAWN))
def test_fork_bomb_creates_no_process(how, data, honest) -> None:
    """A fork bomb is refused at its very first process, not after some: the message says which
    attempt failed (a digit would be masked, a word is not), and on the host the sandbox's
    process tree is what it was before the call. As root (here and in CI) the kernel ignores
    RLIMIT_NPROC, so the seccomp filter alone is what holds."""
    from execution_helpers import descendants

    body = textwrap.indent(SPAWN[how], " " * 8)
    code = module("made = 0\nwhile True:\n    try:\n" + body + "\n    except OSError as exc:\n"
                  "        raise type(exc)(exc.errno, ('first' if made == 0 else 'a later') + ' attempt refused')\n"
                  "    made += 1")
    box = sandbox.get_sandbox()
    before = sorted(descendants(box._proc.pid))
    msg = refused(code, data)
    assert ("process limit (the sandbox allows threads, no child processes): "
            "BlockingIOError: [Errno #] first attempt refused") in msg
    assert box.alive and sorted(descendants(box._proc.pid)) == before


def test_the_seccomp_filter_alone_refuses_processes_and_keeps_threads(tmp_path) -> None:
    """No bubblewrap and no limit of ours: a plain host process (root here and in CI, which the
    kernel exempts from RLIMIT_NPROC) that installs the filter can start threads but no process
    (fork, vfork via subprocess, posix_spawn all answer EAGAIN)."""
    import subprocess

    from autods.execution import sandbox_child

    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent("""
        import errno, os, subprocess, sys, threading
        sys.path.insert(0, sys.argv[1])
        import sandbox_child
        sandbox_child.install_seccomp()
        out = []
        t = threading.Thread(target=out.append, args=("thread",)); t.start(); t.join()
        for name, spawn in [("fork", os.fork), ("subprocess", lambda: subprocess.run(["/usr/bin/true"])),
                            ("posix_spawn", lambda: os.posix_spawn("/usr/bin/true", ["true"], {}))]:
            try:
                if spawn() == 0:
                    os._exit(0)
                out.append(name + ":created")
            except OSError as exc:
                out.append(name + ":" + errno.errorcode[exc.errno])
        print(" ".join(out))
    """))
    run = subprocess.run([sys.executable, "-I", str(probe), str(Path(sandbox_child.__file__).parent)],
                         capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.split() == ["thread", "fork:EAGAIN", "subprocess:EAGAIN", "posix_spawn:EAGAIN"]


def test_threads_are_allowed(data, honest) -> None:
    X, y = data
    CodeEstimator(module("import threading\nt = threading.Thread(target=len, args=([],))\nt.start(); t.join()")).fit(X, y)


def test_memory_limit(data, honest) -> None:
    msg = refused(module("self.block = bytearray(3 * 2**30)"), data)
    assert "memory limit (400 MB)" in msg and "MemoryError" in msg


def test_cpu_time_limit(monkeypatch, data, honest) -> None:
    monkeypatch.setenv("AUTODS_SANDBOX_WALL_S", "30")  # on a busy machine 1 CPU second take longer
    msg = refused(module("while True:\n    pass"), data)
    assert "CPU time limit (1 s)" in msg


def test_wall_clock_limit(data, honest) -> None:
    msg = refused(module("time.sleep(60)"), data)
    assert "wall-clock limit (2.0 s)" in msg


def test_supervisor_cannot_be_stopped_or_killed(data, honest) -> None:
    """The zygote is the namespace's init: a call's SIGSTOP/SIGKILL to it is ignored, and the
    call itself is still killed at its wall-clock limit."""
    msg = refused(module("os.kill(1, signal.SIGSTOP)\nos.kill(1, signal.SIGKILL)\ntime.sleep(60)"), data)
    assert "wall-clock limit (2.0 s)" in msg


@pytest.mark.parametrize("path", ["/proc/1/fd/1", "/proc/1/mem", "/dev/shm/x"])
def test_control_pipe_and_shared_memory_are_out_of_reach(path, data, honest) -> None:
    """No forged reply on the zygote's pipe, no write to its memory, no second writable place."""
    msg = refused(module(f"open({path!r}, 'wb').write(b'x')"), data)
    assert "PermissionError" in msg or "Read-only file system" in msg


def test_parent_backstop_kills_a_silent_sandbox(monkeypatch, tmp_path) -> None:
    """If the sandbox stops answering, the parent kills it (process group and all) at wall + backstop."""
    fake = tmp_path / "bwrap"
    fake.write_text(f"#!{sys.executable}\nimport json, os, struct, time\n"
                    "head = json.dumps({'ready': True, 'seccomp': True, 'blobs': []}).encode()\n"
                    "os.write(1, struct.pack('>Q', len(head)) + head)\ntime.sleep(600)\n")
    fake.chmod(0o755)
    monkeypatch.setenv("AUTODS_BWRAP", str(fake))
    monkeypatch.setattr(sandbox, "BACKSTOP_S", 0.5)
    box = sandbox.Sandbox(sandbox.Limits(wall_s=0.5)).start()
    pid = box._proc.pid
    with pytest.raises(SandboxRefused, match="wall-clock limit and its sandbox was killed"):
        box.call({"op": "fit"}, {})
    assert not box.alive
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_printed_training_frame_goes_nowhere(capfd, data, honest) -> None:
    X, y = data
    CodeEstimator(module("print('LEAK', X.to_string(), y.tolist()); sys.stderr.write('LEAK' + X.to_csv())")).fit(X, y)
    msg = refused(module("print('LEAK', X.to_string())\nraise ValueError('LEAK ' + X.to_csv())"), data)
    captured = capfd.readouterr()
    assert "LEAK" not in captured.out + captured.err
    assert re.search(r"\d\.\d", msg) is None  # no value of the frame: numbers are masked
    assert "ValueError" in msg and "stdout" in msg and "withheld" in msg


def test_patching_the_metric_in_the_child_leaves_the_judge_alone(data, honest) -> None:
    X, y = data
    code = module("import sklearn.metrics\nsklearn.metrics.roc_auc_score = lambda *a, **k: 1.0\n"
                  "sklearn.metrics._ranking.roc_auc_score = sklearn.metrics.roc_auc_score",
                  predict="return np.column_stack([1 - X['c'].to_numpy() * 0 - 0.5, X['c'].to_numpy() * 0 + 0.5 + X['d'].to_numpy() * 1e-3])")
    pred = CodeEstimator(code).fit(X, y).predict_proba(X)[:, 1]
    assert roc_auc_score(y, pred) < 0.8  # the parent's sklearn is untouched: noise scores as noise
    assert "autods_code" not in sys.modules  # the child's pickle never came alive in the parent


@pytest.mark.parametrize("predict", ["return np.zeros((len(X) - 1, 2))", "return np.zeros((len(X), 3))",
                                     "return np.full((len(X), 2), np.nan)", "return np.zeros(len(X))",
                                     "return np.full((len(X), 2), 2.0)"])
def test_wrong_predictions_are_refused(predict, data, honest) -> None:
    msg = refused(module("pass", predict=predict), data, predict=True)
    assert "returned shape" in msg or "non-finite" in msg or "outside [0, 1]" in msg


def test_forged_error_report_is_masked(data, honest) -> None:
    """error.json is written by untrusted code: a forged report is masked like a real one."""
    forged = json.dumps({"type": "x; rm -rf /", "message": "12345.678 LEAK", "frames": [[1, "f", "1.5, 2.5"]]})
    code = module(f"open('../out/error.json', 'w').write({forged!r})\nos._exit(1)")
    msg = refused(code, data)
    assert "12345" not in msg and "1.5" not in msg and "rm -rf" not in msg


def test_values_hidden_in_an_exception_type_name_are_masked(data, honest) -> None:
    msg = refused(module("raise type('v_' + str(abs(int(X.iloc[0, 0] * 1e6))), (Exception,), {})()"), data)
    assert re.search(r"v_-?\d", msg) is None and "v_#" in msg


@pytest.mark.slow  # governs a run folder first: about 15 s
def test_through_the_harness_a_hostile_job_is_recorded_and_an_honest_one_scores(tmp_path) -> None:
    """run_job, as every executor runs it: the hostile code reads the run folder's governed frame
    (held-out labels included) and prints; the failure is recorded in one line, nothing it printed
    lands in the run folder, and the next (honest) code job of the run scores normally."""
    from execution_helpers import build_run_folder

    from autods.execution.base import Job
    from autods.execution.job import run_job

    folder = build_run_folder(tmp_path)
    stolen = folder.analytic / "frame.parquet"
    assert stolen.exists()
    hostile = module(f"print('LEAK' * 10)\nself.frame = open({str(stolen)!r}, 'rb').read()")
    bad = run_job(Job(job_id="e1", run_dir=str(folder.root), recipe={"family": "code", "params": {"source": hostile}},
                      n_resamples=50))
    assert not bad.ok and bad.error_kind == "recipe"
    assert "FileNotFoundError" in bad.error and "\n" not in bad.error and "LEAK" not in bad.error
    good = run_job(Job(job_id="e2", run_dir=str(folder.root), recipe={"family": "code", "params": {"source": HONEST}},
                       n_resamples=50))
    assert good.ok and good.record is not None and good.record["value"] > 0.6
    for path in folder.root.rglob("*"):
        if path.is_file():
            assert b"LEAK" not in path.read_bytes(), path


def test_data_larger_than_the_scratch_is_an_answer_not_a_crash(monkeypatch, data) -> None:
    """Inputs that overflow the scratch tmpfs are refused with the knob to turn; the sandbox lives on."""
    monkeypatch.setattr(sandbox, "PRELOAD", ())  # a second sandbox, started bare: this is about the zygote
    box = sandbox.Sandbox(sandbox.Limits(scratch_mb=1)).start()
    try:
        reply, _ = box.call({"op": "fit", "entry": "Model", "seed": 0}, {"X.npy": b"0" * (2 * 2**20)})
        assert reply["exit"] == 72 and box.alive
        from autods.execution.sandbox_report import explain_failure

        assert "AUTODS_SANDBOX_SCRATCH_MB" in explain_failure(reply, {}, {"wall_s": 1}, "fit")
    finally:
        box.kill()


# -- a case of our own (issue 13 "checked by"): secrets in the parent's environment ---------------------------

TOKEN_HUNT = module("""
import glob
seen = ' '.join(f'{k}={v}' for k, v in os.environ.items()).encode()
for path in glob.glob('/proc/*/environ') + glob.glob('/proc/*/task/*/environ') + glob.glob('/proc/*/cmdline'):
    try:
        seen += open(path, 'rb').read()
    except OSError:
        pass
if b'PLANTED' in seen:
    raise RuntimeError('a planted token was readable')
self.zygote_env = open('/proc/1/environ', 'rb').read()
""")


def test_api_keys_and_agent_tokens_never_reach_the_code(data, honest) -> None:
    """The test process holds provider keys and an agent token (PLANTED) in its environment, as
    a run does. Code that hunts for them in its own environment and every /proc/*/environ and
    cmdline it can see finds none (bubblewrap's --clearenv); its read of the zygote's environ is
    refused, with the reason recorded."""
    assert all(os.environ[k] == v for k, v in PLANTED.items())
    msg = refused(TOKEN_HUNT, data)
    assert "PermissionError" in msg and "open('…', '…').read()" in msg and "readable" not in msg
    assert not [v for v in PLANTED.values() if v in msg]


@pytest.mark.slow  # three code jobs of 15 folds each through the service: ~15 s on a quiet machine
def test_through_the_harness_the_token_hunt_is_recorded_and_the_run_state_is_intact(tmp_path) -> None:
    """The same hunt through the real harness and service, between two honest code jobs that
    score: its failure is recorded with the reason, the honest result is untouched, the audit
    chain verifies and no planted value lands in the run folder or the state database."""
    from agents_helpers import InProcess
    from execution_helpers import build_run_folder

    from autods.agents.harness import Harness
    from autods.execution.inline import InlineExecutor

    folder = build_run_folder(tmp_path)
    env = InProcess(tmp_path / "state.db")
    analyst, validator = env.client("analyst-1", "analyst"), env.client("validator-1", "validator")
    exp = env.client("experimenter-1", "experimenter")
    harness = Harness(env.client("harness", "harness"), InlineExecutor(), folder, n_resamples=50)
    entries = []
    for source, seed in ((HONEST, 0), (TOKEN_HUNT, 0), (HONEST, 1)):
        prop = analyst.propose({"family": "code", "params": {"source": source}}, "h", 0.01)
        validator.critique(prop.id, "approve", "reads only X and y")
        analyst.enqueue(prop.id, seed)
        item = exp.claim()
        harness.submit(item.model_dump(mode="json"), prop.recipe)
        entries += harness.poll(60)
    assert [e["event"] for e in entries] == ["recorded", "failed", "recorded"], entries
    reason = entries[1]["reason"]
    assert reason.startswith("recipe: code experiment fit failed in the sandbox: PermissionError: "), reason
    assert "open('…', '…').read()" in reason and "readable" not in reason
    first = entries[0]
    results = env.clients[0].list_results()
    assert [(r.id, r.value) for r in results][0] == (first["result_id"], first["value"]) and first["value"] > 0.6
    assert [i.status for i in env.clients[0].list_queue()] == ["done", "failed", "done"]
    assert env.store.verify_audit_chain()
    env.close()
    for path in [*folder.root.rglob("*"), *tmp_path.glob("state.db*")]:
        if path.is_file():
            content = path.read_bytes()  # the code's own source names the marker; the values are what must not appear
            assert not [v for v in PLANTED.values() if v.encode() in content], path
