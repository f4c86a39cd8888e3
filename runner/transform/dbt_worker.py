"""A long-lived dbt: one process that keeps dbt imported and forks a child per invocation.

A fresh `dbt` process pays 3-5 s before its first statement (imports, then the parse).
The service builds after every batch, and the test suite calls dbt hundreds of times,
so both start one worker and send it their invocations over a Unix socket:

    python -m runner.transform.dbt_worker SOCKET_PATH

A client (runner/transform/dbt_runner.py) uses it when $COFFEE_DBT_WORKER names the socket, and runs
a plain `dbt` process otherwise. One request per connection, one JSON line each way:
`{"args": [...], "env": {...}, "cwd": "..."}` answered by `{"returncode": N, "output": "..."}`
with dbt's exit codes (0 ok, 1 a node failed, 2 dbt could not run). Requests are served
one at a time, each under its own environment and working directory, as a child dbt
process would see them.

The worker imports dbt once and parses the project once; each request runs in a fork
of it with that manifest (dbtRunner(manifest=...)), so an invocation pays neither the
imports nor the parse, and still starts from the same clean state as every other (dbt's
global state never carries from one invocation to the next: the parent only ever ran the
one parse). The manifest is reused while what it was parsed from is unchanged: the project
files (paths, sizes, mtimes), the working directory, the connection and profile, the
`--vars`, and the values of every env_var() the parse read. A request with --vars or other
parse-time env values runs as a fresh dbt process (dbt's partial parse keeps its parse
short). When the project, connection or profile changed, the worker re-executes itself,
keeping its listening socket and that request's connection, and the new image parses the
new project in a clean process and answers the request with it (before, the request ran
as a fresh dbt and the new image parsed again for the next one: two parses per change).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from runner.core.logs import JsonLines
from runner.core.settings import settings

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
    named = settings().dbt_worker
    if named:
        yield named
        return
    folder = tempfile.mkdtemp(prefix="coffee-dbt-worker-")
    socket_path = os.path.join(folder, "dbt.sock")
    proc = subprocess.Popen([sys.executable, "-m", "runner.transform.dbt_worker", socket_path], start_new_session=True)
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


def invoke(args: list[str], env: dict[str, str], cwd: str, manifest: Any = None) -> tuple[int, str]:
    """Run one dbt invocation in this process: (exit code, console output)."""
    from dbt.cli.main import dbtRunner  # imported once by the parent, before any fork

    out = io.StringIO()
    with _as_child(env, cwd), contextlib.redirect_stdout(out):
        try:
            result = dbtRunner(manifest=manifest).invoke(args)
            code = EXIT_OK if result.success else EXIT_ERROR if result.exception else EXIT_FAILED
            if result.exception is not None:
                print(f"dbt could not run: {result.exception}")
        except Exception as exc:  # any dbt crash is this request's answer
            code = EXIT_ERROR
            print(f"dbt worker: {type(exc).__name__}: {exc}")
    return code, out.getvalue()


def serve(socket_path: str, listener_fd: int | None = None, parent: int | None = None,
          pending: Path | None = None) -> None:
    """Answer requests on `socket_path`, one at a time, until killed (SIGTERM) or orphaned.
    After a re-exec, `listener_fd` is the socket already listening, `parent` our parent and
    `pending` the file holding the request that made us re-execute (answered first)."""
    import dbt.cli.main  # noqa: F401  the expensive part, paid once and shared by every fork

    parent = parent or os.getppid()
    if listener_fd is None:
        Path(socket_path).unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(socket_path)
        os.chmod(socket_path, 0o600)  # requests carry the database password
        listener.listen(16)
    else:
        listener = socket.socket(fileno=listener_fd)
    with listener:
        if pending is not None:
            _answer_pending(pending)
        listener.settimeout(PARENT_CHECK_SECONDS)
        while os.getppid() == parent:  # a parent killed outright (SIGKILL) does not leave us behind
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            with conn:
                request = _read_request(conn)
                if request is not None and _needs_new_parse(request):
                    _reexec(socket_path, listener, parent, (conn, request))
                if request is not None:
                    _serve_one(conn, request)
            if _PARSED.stale:
                _reexec(socket_path, listener, parent)
    _log("the process that started this worker is gone; exiting")


def _reexec(socket_path: str, listener: socket.socket, parent: int,
            pending: tuple[socket.socket, Request] | None = None) -> None:
    """A fresh process image (dbt's globals clean for a new parse), keeping the socket; with
    `pending`, the connection and request that need the new parse, answered by the new image."""
    _log("project or connection changed: restarting to parse afresh")
    os.set_inheritable(listener.fileno(), True)
    extra: list[str] = []
    if pending is not None:
        conn, request = pending
        fd, path = tempfile.mkstemp(prefix="request-", dir=os.path.dirname(socket_path))  # 0600: a password
        with os.fdopen(fd, "w") as sink:
            json.dump({**asdict(request), "fd": conn.fileno()}, sink)
        os.set_inheritable(conn.fileno(), True)
        extra = [path]
    os.execv(sys.executable, [sys.executable, "-m", "runner.transform.dbt_worker", socket_path,
                              str(listener.fileno()), str(parent), *extra])


def _answer_pending(path: Path) -> None:
    """The request the previous image handed over (see _reexec), on its still-open connection."""
    doc = json.loads(path.read_text())
    path.unlink(missing_ok=True)
    with socket.socket(fileno=int(doc.pop("fd"))) as conn:
        conn.settimeout(None)
        _serve_one(conn, Request(**doc))


# --- the one parse ---------------------------------------------------------------------------

PROJECT_PARTS = ("dbt_project.yml", "packages.yml", "models", "macros", "seeds", "snapshots", "tests", "analyses")
KEY_ENV = ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "DBT_TARGET")  # what profiles.yml reads
NO_MANIFEST_COMMANDS = ("parse", "deps", "debug", "clean", "init", "--version", "--help")
PROJECT_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".md", ".jinja")


@dataclass
class _Parsed:
    """The parent's parse: its manifest and what it was parsed from (`stale`: this process has
    parsed once and a request needs another parse, so it must re-execute)."""

    key: tuple | None = None
    manifest: Any = None
    env_vars: dict[str, str] = field(default_factory=dict)
    used: bool = False  # this process has run dbt (a parse): dbt's globals are no longer clean
    stale: bool = False


_PARSED = _Parsed()


def _key(env: dict[str, str], cwd: str) -> tuple:
    """What a manifest depends on, besides --vars and parse-time env vars: the project, the
    connection, the profile."""
    profiles = Path(env.get("DBT_PROFILES_DIR") or Path.home() / ".dbt") / "profiles.yml"
    profile = profiles.read_bytes() if profiles.is_file() else b""
    return (cwd, tuple(env.get(k) for k in KEY_ENV), profile, _fingerprint(Path(cwd)))


def _fingerprint(project: Path) -> tuple:
    """Path, size and mtime of every file dbt reads (tests/ also holds the pytest suite, whose
    __pycache__ changes all the time: only dbt's own kinds of file count)."""
    entries = []
    for part in PROJECT_PARTS:
        top = project / part
        files = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        for path in files:
            if path.suffix in PROJECT_SUFFIXES or (part == "models" and path.suffix == ".py"):
                stat = path.stat()
                entries.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


def _env_vars_match(env: dict[str, str]) -> bool:
    """The env_var() values the parse read are still the values (or still unset)."""
    from dbt.constants import DEFAULT_ENV_PLACEHOLDER

    for name, value in _PARSED.env_vars.items():
        if ((env.get(name) is None) if value == DEFAULT_ENV_PLACEHOLDER else env.get(name) == value) is False:
            _log(f"{name} differs from its value at parse time: this request parses for itself")
            return False
    return True


def _takes_manifest(args: list[str]) -> bool:
    """Commands that need no manifest, and requests with --vars of their own, parse for themselves."""
    return bool(args) and args[0] not in NO_MANIFEST_COMMANDS and "--vars" not in args


def _manifest_for(args: list[str], env: dict[str, str], cwd: str) -> Any:
    """The manifest for this request: the parent's own (parsed now if this process never
    parsed; a request for another project or connection made it re-execute first, see
    serve), or None: the request runs as a fresh dbt, because it is a command that takes
    no manifest, or has --vars or parse-time env vars of its own (the manifest stays for
    the others), or the parse failed (the parent then re-executes, to try again)."""
    if not _takes_manifest(args):
        return None
    if _PARSED.key is not None:  # the same key: serve re-executed for any other
        return _PARSED.manifest if _env_vars_match(env) else None
    key = _key(env, cwd)
    from dbt.cli.main import dbtRunner

    started = time.monotonic()
    _PARSED.used = True
    with _as_child(env, cwd), contextlib.redirect_stdout(io.StringIO()):
        try:
            result = dbtRunner().invoke(["parse", "--no-partial-parse"])  # env_vars of this parse only
        except Exception as exc:  # the child's own parse will report it
            _log(f"parse failed ({type(exc).__name__}); this request parses for itself")
            _PARSED.stale = True
            return None
    if not result.success or result.result is None:
        _PARSED.stale = True
        return None
    _PARSED.key, _PARSED.manifest = key, result.result
    _PARSED.env_vars = dict(getattr(result.result, "env_vars", {}) or {})
    _log(f"parsed the project in {time.monotonic() - started:.2f} s")
    return _PARSED.manifest


@dataclass(frozen=True)
class Request:
    args: list[str]
    env: dict[str, str]
    cwd: str


def _read_request(conn: socket.socket) -> Request | None:
    try:
        raw = _read_line(conn)
        if not raw:
            return None  # a probe: connected, sent nothing
        doc = json.loads(raw)
        return Request(list(doc["args"]), dict(doc["env"]), str(doc["cwd"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _log(f"request dropped: {exc}")  # a client that died mid-request, or a malformed one
        return None


def _needs_new_parse(request: Request) -> bool:
    """This process parsed another project or connection than the one this request needs:
    it must re-execute (dbt's globals are not clean for a second parse) and parse anew."""
    return (_PARSED.key is not None and _takes_manifest(request.args)
            and _key(request.env, request.cwd) != _PARSED.key)


def _serve_one(conn: socket.socket, request: Request) -> None:
    """Find the request's manifest, then fork: the child answers and exits, so no
    invocation sees another's dbt state."""
    args, env, cwd = request.args, request.env, request.cwd
    manifest = _manifest_for(args, env, cwd)
    # without the manifest, in a process that has parsed: a fresh dbt process, since a second
    # parse on top of dbt's globals from the first can hang
    fresh = manifest is None and _PARSED.used
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _answer(conn, args, env, cwd, manifest, fresh)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        _log(f"child {pid} killed by signal {os.WTERMSIG(status)}")


def _log(line: str) -> None:
    """One line on stderr, in the runner's log format (the worker has no log pipeline of its own)."""
    text = f"dbt worker: {line}"
    if settings().log_format == "json":
        text = JsonLines().format(logging.makeLogRecord({"name": __name__, "msg": text, "levelname": "INFO",
                                                          "levelno": logging.INFO}))
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _answer(conn: socket.socket, args: list[str], env: dict[str, str], cwd: str, manifest: Any,
            fresh: bool) -> int:
    """In the child: run dbt (here, or in a fresh process), answer. Returns dbt's exit code."""
    started = time.monotonic()
    _log(f"start: dbt {shlex.join(args)}{'' if manifest is not None else ' (parsing)'}")
    if fresh:
        proc = subprocess.run([str(Path(sys.executable).with_name("dbt")), *args], cwd=cwd, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        code, output = proc.returncode, proc.stdout
    else:
        code, output = invoke(args, env, cwd, manifest)
    _log(f"done: exit {code} in {time.monotonic() - started:.2f} s")
    try:
        conn.sendall(json.dumps({"returncode": code, "output": output}).encode() + b"\n")
    except OSError as exc:  # the client went away: the worker carries on
        _log(f"answer dropped: {exc}")
    return code


if __name__ == "__main__":
    if len(sys.argv) not in (2, 4, 5):  # the extra arguments are the worker's own, after a re-exec
        sys.stderr.write("usage: python -m runner.transform.dbt_worker SOCKET_PATH\n")
        sys.exit(2)
    fd, parent = (int(a) for a in sys.argv[2:4]) if len(sys.argv) > 2 else (None, None)
    serve(sys.argv[1], fd, parent, Path(sys.argv[4]) if len(sys.argv) > 4 else None)
