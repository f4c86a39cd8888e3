"""A long-lived dbt: one process that keeps dbt imported and reuses each parsed manifest.

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

A manifest is reused while the project's files (their paths, sizes and mtimes), the
parse-affecting options (--vars, --target, --profile, --project-dir) and the connection
the profile resolves to (the PG* and DBT_PROFILES_DIR variables: a manifest names its
database) stay the same; anything else parses again. The manifest is handed to dbt's programmatic runner as its
documentation says it may be: "reuse a pre-parsed manifest across invocations".
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import socket
import sys
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SOCKET_ENV = "COFFEE_DBT_WORKER"
PARSE_OPTIONS = ("--vars", "--target", "--profile", "--project-dir")
PARSE_ENV_PREFIXES = ("PG", "DBT_PROFILES_DIR")
PROJECT_PARTS = ("dbt_project.yml", "models", "macros", "seeds", "snapshots", "tests", "analyses")
MAX_MANIFESTS = 4  # distinct (project state, vars) kept parsed; a service uses one or two
MAX_REQUEST_BYTES = 16 * 1024 * 1024
EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


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


def _fingerprint(project: Path) -> tuple[tuple[str, int, int], ...]:
    entries = []
    for part in PROJECT_PARTS:
        root = project / part
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            stat = path.stat()
            entries.append((str(path.relative_to(project)), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


def _parse_args(args: list[str]) -> list[str]:
    """The options among `args` that change what a parse produces."""
    picked: list[str] = []
    for index, arg in enumerate(args):
        name = arg.split("=", 1)[0]
        if name in PARSE_OPTIONS:
            picked += [arg] if "=" in arg else args[index:index + 2]
    return picked


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


class Worker:
    """Runs dbt invocations in this process, keeping the parsed manifests."""

    def __init__(self) -> None:
        from dbt.cli.main import dbtRunner  # dbt is heavy: only the worker imports it

        self._runner_class = dbtRunner
        self._manifests: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.last_parse = ""  # "manifest reused", "manifest parsed" or "dbt parsed"

    def invoke(self, args: list[str], env: dict[str, str], cwd: str) -> tuple[int, str]:
        out = io.StringIO()
        started = time.monotonic()
        _log(f"start: dbt {shlex.join(args)}")
        with _as_child(env, cwd), contextlib.redirect_stdout(out):
            try:
                manifest = self._manifest(args, env, Path(cwd))
                result = self._runner_class(manifest=manifest).invoke(args)
                code = EXIT_OK if result.success else EXIT_ERROR if result.exception else EXIT_FAILED
                if result.exception is not None:
                    print(f"dbt could not run: {result.exception}")
            except Exception as exc:  # any dbt crash is this request's answer
                code = EXIT_ERROR
                print(f"dbt worker: {type(exc).__name__}: {exc}")
        _log(f"done: exit {code} in {time.monotonic() - started:.2f} s, {self.last_parse}")
        return code, out.getvalue()

    def _manifest(self, args: list[str], env: dict[str, str], project: Path) -> Any:
        """The parsed manifest for this project state, or None to let dbt parse."""
        connection = sorted((k, v) for k, v in env.items() if k.startswith(PARSE_ENV_PREFIXES))
        key = (str(project), _fingerprint(project), tuple(_parse_args(args)), tuple(connection))
        manifest = self._manifests.get(key)
        self.last_parse = "manifest reused"
        if manifest is None:
            parsed = self._runner_class().invoke(["parse", *_parse_args(args)])
            if not parsed.success or parsed.result is None:
                self.last_parse = "dbt parsed"
                return None  # the command itself parses and reports the problem
            manifest = parsed.result
            self.last_parse = "manifest parsed"
            self._manifests[key] = manifest
            while len(self._manifests) > MAX_MANIFESTS:
                self._manifests.popitem(last=False)
        self._manifests.move_to_end(key)
        return manifest


def serve(socket_path: str) -> None:
    """Answer requests on `socket_path` until killed (SIGTERM ends it like any process)."""
    worker = Worker()
    Path(socket_path).unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(socket_path)
        os.chmod(socket_path, 0o600)  # requests carry the database password
        listener.listen(16)
        while True:
            conn, _ = listener.accept()
            with conn:
                _answer(worker, conn)


def _log(line: str) -> None:
    sys.stderr.write(f"dbt worker: {line}\n")
    sys.stderr.flush()


def _answer(worker: Worker, conn: socket.socket) -> None:
    try:
        raw = _read_line(conn)
        if not raw:
            return  # a probe: connected, sent nothing
        request = json.loads(raw)
        code, output = worker.invoke(list(request["args"]), dict(request["env"]), str(request["cwd"]))
        conn.sendall(json.dumps({"returncode": code, "output": output}).encode() + b"\n")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # A client that died mid-request, or a malformed one: the worker carries on.
        _log(f"request dropped: {exc}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python -m runner.dbt_worker SOCKET_PATH\n")
        sys.exit(2)
    serve(sys.argv[1])
