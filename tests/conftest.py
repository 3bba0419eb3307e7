"""Fixtures: a real PostgreSQL (embedded, or DATABASE_URL when set), a fresh database per test run,
and a real uvicorn process serving the app over loopback."""

from __future__ import annotations

import http.cookiejar
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import pytest

from tableorder import db
from tests.helpers import Stores
from tests.nats_server import NatsServer, require_nats_server_binary

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The server to test on: DATABASE_URL when set, else an embedded PostgreSQL in a temp dir
    of its own (not pytest's numbered dirs, which concurrent runs prune under each other)."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    import pgserver

    data_dir = tempfile.mkdtemp(prefix="tableorder-test-pg-")
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(data_dir, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    base, _, query = url.partition("?")
    scheme, _, rest = base.partition("://")
    authority, _, _ = rest.partition("/")
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")


async def _admin_execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def fresh_database(postgres_url: str) -> AsyncIterator[object]:
    """A factory for empty databases on the test server, dropped at the end."""
    created: list[str] = []

    async def make(prefix: str = "tableorder_test") -> str:
        name = f"{prefix}_{secrets.token_hex(4)}"
        await _admin_execute(postgres_url, f'CREATE DATABASE "{name}"')
        created.append(name)
        return with_database(postgres_url, name)

    yield make
    for name in created:
        await _admin_execute(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def database_url(fresh_database) -> str:  # type: ignore[no-untyped-def]
    """A migrated database shared by the run; tests isolate themselves by creating their own stores."""
    url: str = await fresh_database()
    db.migrate(url)
    return url


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(database_url, min_size=1, max_size=10, application_name="tableorder-tests")
    yield pool
    await pool.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """One `uvicorn tableorder.app:create_app` process on loopback."""

    def __init__(self, database_url: str, env: dict[str, str] | None = None, workers: int = 1, *,
                 capture_output: bool = False, access_log: bool = False) -> None:
        """`capture_output`: the process's stdout and stderr go to a file, read with `output()`
        (else they are inherited). `access_log`: let uvicorn log each request."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Every test's client is 127.0.0.1: the per-address login ceiling would turn one test's failed
        # logins (schemathesis makes dozens) into another's 429s; test_auth tests it on a server of its own.
        # PUBLIC_BASE_URL: the OpenAPI document's `servers` entry is where this process listens.
        self.env = {**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "development",
                    "LOG_LEVEL": "WARNING", "LOGIN_ADDRESS_MAX_FAILURES": "1000000", "PUBLIC_BASE_URL": self.url,
                    **(env or {})}
        self.workers = workers
        self.access_log = access_log
        self.process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = tempfile.TemporaryFile() if capture_output else None  # noqa: SIM115

    def output(self) -> str:
        """Everything the process wrote so far (requires capture_output=True)."""
        assert self._output is not None, "ServerProcess(capture_output=True) captures the output"
        self._output.flush()
        self._output.seek(0)
        return self._output.read().decode(errors="replace")

    def start(self, timeout: float = 30, ready_path: str = "/health/ready") -> ServerProcess:
        """Start uvicorn and wait until `ready_path` answers 200 (`/health`: live, even without a database)."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tableorder.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers),
             *([] if self.access_log else ["--no-access-log"])],
            env=self.env, cwd=ROOT, stdout=self._output, stderr=subprocess.STDOUT if self._output else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}{ready_path}", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not become ready")

    def __enter__(self) -> ServerProcess:
        # `with ServerProcess(...).start() as server` must not start a second process (the first
        # would outlive the test: nothing would stop it).
        if self.process is not None and self.process.poll() is None:
            return self
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def api(self, **options: Any) -> httpx.AsyncClient:
        """An HTTP client for this server's API (`/api/v1`)."""
        return httpx.AsyncClient(base_url=f"{self.url}/api/v1", **{"timeout": 30, **options})

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def server(database_url: str) -> Iterator[ServerProcess]:
    process = ServerProcess(database_url).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
async def client(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30, limits=limits) as client:
        # Shared by every test: it must never carry an admin's login cookie into another request.
        client.cookies.jar.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        yield client


@pytest.fixture(scope="session")
def stores(pool: asyncpg.Pool, client: httpx.AsyncClient) -> Stores:
    return Stores(pool, client)


@pytest.fixture(scope="session")
def openapi_document(server: ServerProcess) -> dict[str, Any]:
    """The live OpenAPI document of the shared server."""
    response = httpx.get(f"{server.url}/schema/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    """A real nats-server (JetStream, file storage in a temp dir) shared by the run; tests that stop,
    kill or restart a server start a `NatsServer` of their own."""
    with NatsServer(require_nats_server_binary()) as server:
        yield server
