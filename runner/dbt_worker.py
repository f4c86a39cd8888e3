"""A long-lived dbt: one process that keeps dbt imported and forks a child per invocation.

A fresh `dbt` process pays 3-5 s before its first statement (imports, then the parse).
The service builds after every batch, and the test suite calls dbt hundreds of times,
so both start one worker and send it their invocations over a Unix socket:

    python -m runner.dbt_worker SOCKET_PATH

A client (runner/dbt.py) uses it when $COFFEE_DBT_WORKER names the socket, and runs
a plain `dbt` process otherwise. One request per connection, one JSON line each way:
`{"args": [...], "env": {...}, "cwd": "..."}` answered by `{"returncode": N, "output": "..."}`
with dbt's exit codes (0 ok, 1 a node failed, 2 dbt could not run). Requests are served
one at a time, each under its own environment and working directory, as a child dbt
process would see them.

The worker imports dbt once; each request runs in a fork of it, so every invocation
starts from the same clean state, exactly as a fresh process would, and dbt's own
partial parse (target/partial_parse.msgpack) keeps the parse short. Keeping the parsed
manifest in memory across invocations (dbtRunner(manifest=...)) would save the parse
too; it is not done yet: the fork keeps every invocation as isolated as a fresh process.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SOCKET_ENV = "COFFEE_DBT_WORKER"
MAX_REQUEST_BYTES = 16 * 1024 * 1024
EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
PARENT_CHECK_SECONDS = 1.0


@contextlib.contextmanager
def running() -> Iterator[str | None]:
    """A worker for this process and the processes it starts ($COFFEE_DBT_WORKER names it),
    stopped on exit; the one already named, if any. None when it could not start: dbt then
    runs as fresh processes, as without a worker."""
    if os.environ.get(SOCKET_ENV):
        yield os.environ[SOCKET_ENV]
        return
    folder = tempfile.mkdtemp(prefix="coffee-dbt-worker-")
    socket_path = os.path.join(folder, "dbt.sock")
    proc = subprocess.Popen([sys.executable, "-m", "runner.dbt_worker", socket_path], start_new_session=True)
    try:
        listening = _wait_listening(socket_path, proc)
        if listening:
            os.environ[SOCKET_ENV] = socket_path
        else:
            _log(f"did not start within {START_TIMEOUT_SECONDS} s; dbt runs as fresh processes")
        yield socket_path if listening else None
    finally:
        os.environ.pop(SOCKET_ENV, None)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # with dbt's multiprocessing resource tracker
        proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_listening(socket_path: str, proc: subprocess.Popen) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(socket_path)
                return True
            except OSError:
                time.sleep(0.05)
    return False


def send(socket_path: str, args: list[str], env: dict[str, str], cwd: Path,
         timeout: float) -> tuple[int, str]:
    """One invocation through the worker: (dbt's exit code, its console output).

    Raises OSError when the worker cannot be reached or goes away mid-request.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(socket_path)
        conn.sendall(json.dumps({"args": args, "env": env, "cwd": str(cwd)}).encode() + b"\n")
        answer = _read_line(conn)
    if not answer:
        raise ConnectionError("the dbt worker closed the connection without answering")
    doc = json.loads(answer)
    return int(doc["returncode"]), str(doc["output"])


def _read_line(conn: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_REQUEST_BYTES:
        chunk = conn.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)


@contextlib.contextmanager
def _as_child(env: dict[str, str], cwd: str) -> Iterator[None]:
    """The environment and working directory a child dbt process would have had."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)


def invoke(args: list[str], env: dict[str, str], cwd: str) -> tuple[int, str]:
    """Run one dbt invocation in this process: (exit code, console output)."""
    from dbt.cli.main import dbtRunner  # imported once by the parent, before any fork

    out = io.StringIO()
    with _as_child(env, cwd), contextlib.redirect_stdout(out):
        try:
            result = dbtRunner().invoke(args)
            code = EXIT_OK if result.success else EXIT_ERROR if result.exception else EXIT_FAILED
            if result.exception is not None:
                print(f"dbt could not run: {result.exception}")
        except Exception as exc:  # any dbt crash is this request's answer
            code = EXIT_ERROR
            print(f"dbt worker: {type(exc).__name__}: {exc}")
    return code, out.getvalue()


def serve(socket_path: str) -> None:
    """Answer requests on `socket_path`, one at a time, until killed (SIGTERM)."""
    import dbt.cli.main  # noqa: F401  the expensive part, paid once and shared by every fork

    parent = os.getppid()
    Path(socket_path).unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(socket_path)
        os.chmod(socket_path, 0o600)  # requests carry the database password
        listener.listen(16)
        listener.settimeout(PARENT_CHECK_SECONDS)
        while os.getppid() == parent:  # a parent killed outright (SIGKILL) does not leave us behind
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            with conn:
                _serve_one(conn)
    _log("the process that started this worker is gone; exiting")


def _serve_one(conn: socket.socket) -> None:
    """Fork: the child answers and exits, so no invocation sees another's dbt state."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _answer(conn)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        _log(f"child {pid} killed by signal {os.WTERMSIG(status)}")


def _log(line: str) -> None:
    sys.stderr.write(f"dbt worker: {line}\n")
    sys.stderr.flush()


def _answer(conn: socket.socket) -> int:
    """In the child: read the request, run dbt, answer. Returns dbt's exit code."""
    try:
        raw = _read_line(conn)
        if not raw:
            return EXIT_OK  # a probe: connected, sent nothing
        request = json.loads(raw)
        args, started = list(request["args"]), time.monotonic()
        _log(f"start: dbt {shlex.join(args)}")
        code, output = invoke(args, dict(request["env"]), str(request["cwd"]))
        _log(f"done: exit {code} in {time.monotonic() - started:.2f} s")
        conn.sendall(json.dumps({"returncode": code, "output": output}).encode() + b"\n")
        return code
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # A client that died mid-request, or a malformed one: the worker carries on.
        _log(f"request dropped: {exc}")
        return EXIT_ERROR


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m runner.dbt_worker SOCKET_PATH\n")
        sys.exit(2)
    serve(sys.argv[1])
