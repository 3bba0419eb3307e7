"""The production topology of compose.prod.yaml as plain processes on loopback (no Docker engine needed).

    PostgreSQL primary ──streaming──▶ PostgreSQL replica (initdb, pg_basebackup -R)
          ▲   ▲ (writes, LISTEN)            ▲ (reads that may use the replica)
          │   └───────────┐                 │
    backend 1 (uvicorn, 2 workers)   backend 2 (uvicorn, 2 workers)
                 ▲                         ▲
                 └──── nginx (nginx/nginx.conf, TLS) ────┘

`Topology(bus="nats")` is the variant for EVENT_BUS=nats: nothing LISTENs, so the backends (and the
CLI and the migration) reach the primary through PgBouncer in transaction pool mode (Debian's
pgbouncer), and a nats-server (JetStream, file storage in the stack's directory) carries the events.

Migrations run through `ops/deploy.sh migrate` (DEPLOY_LOCAL=1), the command a deployment runs.
nginx runs the repository's nginx/nginx.conf with only upstream addresses, listen ports and
file paths (certificate, pid, logs) substituted; `Topology.nginx_conf_changes` lists them.

`python -m ops.topology.stack [--bus nats]` starts the stack and waits (Ctrl-C stops it); tests use `Topology`.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ops.bench.common import free_port
from ops.topology.nats import Nats

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# The backends' interpreter: TOPOLOGY_BACKEND_PYTHON (e.g. a runtime-only virtualenv, as deployed), else ours.
BACKEND_PYTHON = os.environ.get("TOPOLOGY_BACKEND_PYTHON") or sys.executable


def postgres_bin() -> Path:
    """PostgreSQL's programs: PG_BIN when set, else those shipped in the `pgserver` package."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def wait_for(check: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (httpx.TransportError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


class Postgres:
    """One PostgreSQL cluster in a directory of its own, listening on 127.0.0.1:port."""

    def __init__(self, root: Path, name: str, port: int | None = None) -> None:
        self.root = root
        self.name = name
        self.data = root / name
        self.log = root / f"{name}.log"
        self.port = port or free_port()
        root.mkdir(exist_ok=True)
        # initdb and postgres refuse to run as root: run them as pgserver's unprivileged user.
        self.user: str | None = None
        if os.geteuid() == 0:
            from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

            self.user = ensure_user_exists("pgserver").pw_name
            ensure_prefix_permissions(postgres_bin())
            shutil.chown(root, self.user)

    def url(self, database: str = "tableorder") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        subprocess.run([str(postgres_bin() / command[0]), *command[1:]], check=True, capture_output=True,
                       user=self.user, cwd=self.root, timeout=120)

    def init_primary(self, log_statements: bool = False) -> Postgres:
        """`log_statements`: every statement goes to the log with the session's application_name."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-instructions")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.root}'
max_connections = 300
wal_level = replica
max_wal_senders = 5
hot_standby = on
""")
            if log_statements:
                conf.write("log_statement = 'all'\nlog_line_prefix = '%m [%p] %a: '\n")
        # initdb -A trust already allows `host replication all 127.0.0.1/32`.
        return self

    def standby_of(self, primary: Postgres) -> Postgres:
        self._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "-D",
                  str(self.data), "-R", "-X", "stream", "-c", "fast")
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {self.port}\n")
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def psql(self, sql: str, database: str = "tableorder") -> str:
        result = subprocess.run([str(postgres_bin() / "psql"), "-XAtq", "-h", "127.0.0.1", "-p", str(self.port),
                                 "-U", "postgres", "-d", database, "-c", sql],
                                check=True, capture_output=True, text=True, timeout=30)
        return result.stdout.strip()


def pgbouncer_binary() -> str:
    """Debian's pgbouncer (in /usr/sbin, which a user's PATH may not have)."""
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise RuntimeError("pgbouncer is missing: apt-get install pgbouncer (make topology-test does)")
    return found


class PgBouncer:
    """PgBouncer in transaction pool mode in front of one cluster: a server connection belongs to a
    client for one transaction only, so nothing that lives in a session (LISTEN, session advisory
    locks, SET, protocol-level prepared statements before PgBouncer 1.21) may be used through it."""

    def __init__(self, root: Path, upstream: Postgres, pool_size: int = 20) -> None:
        self.root = root
        self.upstream = upstream
        self.pool_size = pool_size
        self.port = free_port()
        self.ini = root / "pgbouncer.ini"
        self.log = root / "pgbouncer.log"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "tableorder") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def config(self) -> str:
        return f"""[databases]
tableorder = host=127.0.0.1 port={self.upstream.port} dbname=tableorder

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.root / "userlist.txt"}
admin_users = postgres
pool_mode = transaction
default_pool_size = {self.pool_size}
max_client_conn = 1000
; asyncpg's startup parameters (client_encoding, application_name, TimeZone) are all ones PgBouncer
; tracks itself and sets on whichever server connection a client is given: none needs ignoring.
ignore_startup_parameters =
; After the primary restarts, try it again within a second (default 15 s), and fail a query that
; waited 10 s for a server connection rather than 120 s (the app answers 503 meanwhile).
server_login_retry = 1
query_wait_timeout = 10
logfile = {self.log}
pidfile = {self.root / "pgbouncer.pid"}
"""

    def start(self) -> PgBouncer:
        self.root.mkdir(exist_ok=True)
        self.ini.write_text(self.config())
        (self.root / "userlist.txt").write_text('"postgres" ""\n')
        user = self.upstream.user  # PgBouncer refuses to run as root
        if user is not None:
            for path in (self.root, self.ini, self.root / "userlist.txt"):
                shutil.chown(path, user)
        self.process = subprocess.Popen([pgbouncer_binary(), "-q", str(self.ini)], user=user, cwd=self.root,
                                        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: self.process is not None and self.process.poll() is None and _can_connect(self.port),
                 "pgbouncer")
        return self

    def show(self, what: str) -> list[dict[str, str]]:
        """A `SHOW <what>` of the admin console (CLIENTS, SERVERS, POOLS, ...), one dict per row."""
        result = subprocess.run([str(postgres_bin() / "psql"), "-XAq", "-F", "\t", "-P", "footer=off", "-h",
                                 "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "pgbouncer", "-c",
                                 f"SHOW {what}"], check=True, capture_output=True, text=True, timeout=30)
        header, *rows = result.stdout.splitlines()
        names = header.split("\t")
        return [dict(zip(names, row.split("\t"), strict=True)) for row in rows]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: PgBouncer exits at once
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Backend:
    """One backend replica: uvicorn with 2 workers and proxy headers, as the Dockerfile runs it."""

    def __init__(self, name: str, env: dict[str, str], workers: int = 2) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Backend:
        return self.launch().wait_ready()

    def launch(self) -> Backend:
        """Start the process without waiting for it (backends start side by side; see wait_ready)."""
        self.process = subprocess.Popen(
            [BACKEND_PYTHON, "-m", "uvicorn", "tableorder.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers), "--proxy-headers"],
            # nginx runs on loopback here: its X-Forwarded-For names the client (read from the
            # environment, as the image does).
            env={**self.env, "FORWARDED_ALLOW_IPS": "127.0.0.1"}, cwd=ROOT, start_new_session=True,
            stdout=subprocess.DEVNULL)
        return self

    def wait_ready(self) -> Backend:
        wait_for(lambda: httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200,
                 f"backend {self.name}", timeout=60)
        return self

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        # uvicorn's workers, not multiprocessing's resource tracker that runs next to them
        return [int(pid) for pid in out.split()
                if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()]

    def kill(self) -> None:
        """SIGKILL to the whole process group: a crashed container, not a graceful stop."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


class Nginx:
    def __init__(self, root: Path, upstreams: list[Backend]) -> None:
        self.root = root
        self.http_port = free_port()
        self.https_port = free_port()
        self.cert = root / "fullchain.pem"
        self.key = root / "privkey.pem"
        self.conf = root / "nginx.conf"
        self.upstreams = upstreams
        self.process: subprocess.Popen[bytes] | None = None
        self.changes: list[tuple[list[str], list[str]]] = []  # (lines before, lines after) per change

    def write_certificate(self) -> None:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", str(self.key), "-out", str(self.cert)], check=True, capture_output=True)

    def render(self) -> str:
        """nginx/nginx.conf with this machine's addresses, ports and paths; every changed line is recorded."""
        source = (ROOT / "nginx" / "nginx.conf").read_text()
        servers = "".join(f"        server 127.0.0.1:{b.port} max_fails=3 fail_timeout=10s;\n" for b in self.upstreams)
        ipv6 = socket.has_ipv6 and _can_bind("::1")
        rules: list[tuple[str, str]] = [
            (r"^\s*server backend:8000 .*;\n", servers),
            (r"listen 80\b", f"listen 127.0.0.1:{self.http_port}"),
            (r"listen \[::\]:80\b", f"listen [::1]:{self.http_port}"),
            (r"listen 443\b", f"listen 127.0.0.1:{self.https_port}"),
            (r"listen \[::\]:443\b", f"listen [::1]:{self.https_port}"),
            (r"/etc/nginx/certs/fullchain\.pem", str(self.cert)),
            (r"/etc/nginx/certs/privkey\.pem", str(self.key)),
            (r"^pid .*;", f"pid {self.root / 'nginx.pid'};"),
            (r"/var/log/nginx/", f"{self.root}/"),
        ]
        text = source
        for pattern, replacement in rules:
            text, count = re.subn(pattern, replacement.replace("\\", "\\\\"), text, flags=re.M)
            if count == 0:
                raise RuntimeError(f"nginx/nginx.conf no longer has a line matching {pattern!r}")
        if not ipv6:  # no IPv6 loopback in this sandbox: drop the [::1] listens
            text = re.sub(r"^\s*listen \[::1\]:\d+.*\n", "", text, flags=re.M)
        before, after = source.splitlines(), text.splitlines()
        self.changes = [(before[i1:i2], after[j1:j2]) for tag, i1, i2, j1, j2 in
                        difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes() if tag != "equal"]
        return text

    def test_config(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nginx", "-t", "-c", str(self.conf), "-p", str(self.root)],
                              capture_output=True, text=True)

    def start(self) -> Nginx:
        self.write_certificate()
        self.conf.write_text(self.render())
        check = self.test_config()
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        self.process = subprocess.Popen(
            ["nginx", "-c", str(self.conf), "-p", str(self.root), "-g", "daemon off;"], start_new_session=True)
        wait_for(lambda: _can_connect(self.https_port), "nginx")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _can_bind(host: str) -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


def _can_connect(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Topology:
    def __init__(self, bus: str = "postgres", *, log_statements: bool = False) -> None:
        """`bus`: EVENT_BUS; "nats" also puts PgBouncer (transaction mode) between everything and the
        primary. `log_statements`: the primary logs every statement (what ran, by which client)."""
        if bus not in {"postgres", "nats"}:
            raise ValueError(f"unknown bus {bus!r}")
        self.bus = bus
        self.log_statements = log_statements
        self.root = Path(tempfile.mkdtemp(prefix="tableorder-topology-"))
        self.root.chmod(0o755)  # the postgres user must reach its data directories
        self.primary = Postgres(self.root / "pg", "primary")
        self.replica = Postgres(self.root / "pg", "replica")
        self.pgbouncer = PgBouncer(self.root / "pgbouncer", self.primary) if bus == "nats" else None
        self.nats = Nats(self.root) if bus == "nats" else None
        self.jwt_secret = secrets.token_urlsafe(48)
        self.backends: list[Backend] = []
        self.nginx: Nginx | None = None

    @property
    def base_url(self) -> str:
        assert self.nginx is not None
        return f"https://localhost:{self.nginx.https_port}"

    @property
    def database_url(self) -> str:
        """DATABASE_URL: PgBouncer's address in the nats variant, else the primary's."""
        return self.pgbouncer.url() if self.pgbouncer is not None else self.primary.url()

    def backend_env(self) -> dict[str, str]:
        bus: dict[str, str] = {"EVENT_BUS": "postgres"}
        if self.nats is not None:
            # No protocol-level prepared statements: PgBouncer before 1.21 (Debian 12 has 1.18) would
            # hand a statement prepared on one server connection's session to another.
            bus = {"EVENT_BUS": "nats", "NATS_URL": self.nats.url, "DATABASE_STATEMENT_CACHE_SIZE": "0"}
        return {
            **{k: v for k, v in os.environ.items()
               if k not in {"DATABASE_URL", "DATABASE_REPLICA_URL", "EVENT_BUS", "NATS_URL", "EVENT_PUBLISH"}},
            **bus,
            "ENVIRONMENT": "production",
            "JWT_SECRET_KEY": self.jwt_secret,
            "DATABASE_URL": self.database_url,
            "DATABASE_REPLICA_URL": self.replica.url(),
            "DATABASE_POOL_SIZE": "5",
            "LOG_LEVEL": "WARNING",
            "SSE_HEARTBEAT_INTERVAL": "5",
            # The topology tests and the memory run place far more than 20 orders per table a minute.
            "ORDER_RATE_LIMIT_PER_MINUTE": "0", "SESSION_MAX_ORDERS": "0",
        }

    def migrate(self) -> None:
        """Exactly what a deployment runs: `ops/deploy.sh migrate` (alembic upgrade head)."""
        env = {**os.environ, "DEPLOY_LOCAL": "1", "DATABASE_URL": self.database_url,
               "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        subprocess.run([str(ROOT / "ops" / "deploy.sh"), "migrate"], env=env, check=True, capture_output=True,
                       timeout=120)

    def start(self) -> Topology:
        try:
            self.primary.init_primary(self.log_statements)
            self.primary.start()
            self.primary.psql("CREATE DATABASE tableorder", database="postgres")
            self.replica.standby_of(self.primary)
            self.replica.start()
            if self.nats is not None:
                self.nats.start()
            if self.pgbouncer is not None:
                self.pgbouncer.start()
            self.migrate()
            self.backends = [Backend(f"backend-{n}", self.backend_env()).launch() for n in (1, 2)]
            for backend in self.backends:
                backend.wait_ready()
            self.nginx = Nginx(self.root, self.backends).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for backend in self.backends:
            backend.stop()
        for service in (self.pgbouncer, self.nats):
            if service is not None:
                service.stop()
        for cluster in (self.replica, self.primary):
            with contextlib.suppress(subprocess.SubprocessError):
                cluster.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bus", choices=["postgres", "nats"], default="postgres",
                        help="EVENT_BUS; nats also puts PgBouncer (transaction mode) in front of the primary")
    arguments = parser.parse_args()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})  # for sigwait below
    topology = Topology(arguments.bus).start()
    print(f"nginx: {topology.base_url} (self-signed), backends: {[b.url for b in topology.backends]}, "
          f"primary :{topology.primary.port}, replica :{topology.replica.port}"
          + (f", pgbouncer :{topology.pgbouncer.port}" if topology.pgbouncer else "")
          + (f", nats {topology.nats.url}" if topology.nats else ""), flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        topology.stop()
