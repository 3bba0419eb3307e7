"""Settings: one frozen struct read from the environment (SPEC section 5) and checked at start."""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from collections.abc import Mapping
from typing import Literal

import msgspec

Environment = Literal["development", "staging", "production"]

DEVELOPMENT_JWT_SECRET = "development-only-secret-do-not-use-in-production"
MIN_SECRET_BYTES = 32

# Per-environment defaults (SPEC section 7); explicit variables always win.
ENVIRONMENT_DEFAULTS: dict[str, dict[str, str]] = {
    "development": {"DEBUG": "true", "LOG_LEVEL": "DEBUG", "DATABASE_POOL_SIZE": "5", "WORKERS": "1"},
    "staging": {"DEBUG": "false", "LOG_LEVEL": "INFO", "DATABASE_POOL_SIZE": "10", "WORKERS": "2"},
    "production": {"DEBUG": "false", "LOG_LEVEL": "WARNING", "DATABASE_POOL_SIZE": "20", "WORKERS": "4"},
}


class SettingsError(ValueError):
    """The environment describes a configuration the service must not start with."""


def trusted_proxies_valid(value: str) -> bool:
    """"*", or addresses and networks; uvicorn would take anything else for a name that never matches
    a peer (a typo, a host name, "10.0.0.1/8") and silently distrust the proxy."""
    if value == "*":
        return True
    try:
        for item in (item.strip() for item in value.split(",")):
            if "/" in item:
                ipaddress.ip_network(item)  # strict: host bits set is a mistake
            else:
                ipaddress.ip_address(item)
    except ValueError:
        return False
    return True


def public_url_valid(value: str) -> bool:
    """An absolute http(s) URL with a host and no query or fragment: what a client can prefix paths with."""
    url = urllib.parse.urlsplit(value)
    return url.scheme in {"http", "https"} and bool(url.hostname) and not url.query and not url.fragment


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    environment: Environment = "development"
    database_url: str | None = None
    database_replica_url: str | None = None
    database_pool_size: int = 5
    database_max_overflow: int = 10
    # Prepared statements asyncpg keeps per connection; 0 behind PgBouncer in transaction mode older
    # than 1.21 (no named statements at all then).
    database_statement_cache_size: int = 100
    jwt_secret_key: str = DEVELOPMENT_JWT_SECRET
    jwt_algorithm: str = "HS256"
    jwt_expiration_hours: float = 16.0
    debug: bool = True
    log_level: str = "INFO"
    cors_origins: tuple[str, ...] = ()
    sse_heartbeat_interval: float = 30.0
    # Admin (board) streams per store per replica; table tokens have their own, smaller quota.
    sse_max_connections_per_store: int = 100
    # Streams one table may hold open per replica (a tablet needs one; two allow a reload's overlap).
    sse_max_connections_per_table: int = 2
    # A stream whose client does not take a write within this many seconds is dropped (it resumes
    # losslessly with Last-Event-ID); and no stream holds more than this many bytes queued for it.
    sse_write_timeout: float = 10.0
    sse_max_queued_bytes: int = 262_144
    # Orders one table may place per minute (a sliding window); 0 turns the limit off.
    order_rate_limit_per_minute: int = 20
    # Orders one table session may hold (a party's visit; staff closing the session starts a new one).
    # Bounds the documents that carry a whole session (GET /orders, history); 0 turns the bound off.
    session_max_orders: int = 200
    workers: int = 1
    # Events older than this are pruned; a client resuming from before gets a `resync` event.
    event_retention_hours: float = 24.0
    # Login throttling, per (account, client address): LOGIN_MAX_FAILURES free failures, then each
    # further one locks the pair for LOGIN_BACKOFF_SECONDS, doubling, at most LOGIN_LOCKOUT_SECONDS;
    # a pair quiet for LOGIN_WINDOW_SECONDS (after its lock ends) starts over; a success clears it.
    # Across addresses, a store accepts LOGIN_STORE_MAX_FAILURES failures per login kind (admin,
    # table) per window, at most LOGIN_MAX_FAILURES of them from one address (so more than one address
    # must take part), then refuses that kind until the window ends; and one address gets
    # LOGIN_ADDRESS_MAX_FAILURES failures per window across every store and account. Both ceilings
    # spare an address that logged the same account in within LOGIN_KNOWN_ADDRESS_DAYS (0: none).
    login_max_failures: int = 5
    login_backoff_seconds: float = 1.0
    login_lockout_seconds: int = 3600
    login_window_seconds: int = 900
    login_store_max_failures: int = 30
    login_address_max_failures: int = 50
    login_known_address_days: float = 30.0
    # Peers trusted to state the client's address (X-Forwarded-For) and scheme, in uvicorn's meaning:
    # "*" or comma-separated addresses and networks. Behind nginx, nginx's address (or network).
    forwarded_allow_ips: str = "127.0.0.1,::1"
    # Largest request body accepted, in bytes; an order of 50 lines is about 3 KB.
    max_request_bytes: int = 65_536
    # Where clients reach the API (scheme, host, optional path prefix): the OpenAPI document's
    # `servers` entry, so a generated client works without being told the address.
    public_base_url: str = "http://127.0.0.1:8000"
    # Webhooks: deliver to URLs whose host resolves to loopback, private, link-local or other
    # non-public addresses (development and tests only); each request's time limit, all included;
    # requests in flight at once per worker process; how long a worker's claim on an endpoint lasts
    # without news from it (a worker that died is taken over after this).
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = 10.0
    webhook_concurrency: int = 8
    webhook_lease_seconds: float = 30.0
    # How committed events reach the replicas (issue 13): a relay (one active per database, standing
    # by on every replica) publishes them after commit, by one NOTIFY per batch (`postgres`) or to NATS
    # JetStream at NATS_URL (`nats`). EVENT_PUBLISH=commit is the design before the relay (every
    # transaction NOTIFYs as it commits), kept to measure against (postgres bus only).
    event_bus: Literal["postgres", "nats"] = "postgres"
    nats_url: str | None = None
    # Copies JetStream keeps of the event stream (3 on a cluster of three; 1 on a single server).
    nats_stream_replicas: int = 1
    # The most the JetStream stream keeps (its oldest messages go first); within each server's storage.
    nats_stream_max_bytes: int = 1024 * 1024 * 1024
    event_publish: Literal["relay", "commit"] = "relay"
    # How often the active relay looks for new commits, in seconds (what it adds to push latency).
    event_relay_interval: float = 0.01

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        environment = env.get("ENVIRONMENT", "development").strip().lower()
        if environment not in ENVIRONMENT_DEFAULTS:
            raise SettingsError(f"ENVIRONMENT must be one of {', '.join(ENVIRONMENT_DEFAULTS)}")
        # A variable set to an empty value (`DEBUG=` in an env file) is unset: the environment's
        # default applies, not the struct's development default.
        merged = {**ENVIRONMENT_DEFAULTS[environment], **{k: v for k, v in env.items() if v.strip()}}

        def get(name: str) -> str | None:
            value = merged.get(name)
            return value.strip() if value is not None and value.strip() != "" else None

        raw: dict[str, object] = {"environment": environment}
        for field in msgspec.structs.fields(cls):
            if field.name == "environment":
                continue
            value = get(field.name.upper())
            if value is None:
                continue
            if field.name == "cors_origins":
                raw[field.name] = [origin.strip() for origin in value.split(",") if origin.strip()]
            else:
                raw[field.name] = value
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"invalid setting: {exc}") from exc
        settings.validate()
        return settings

    def validate(self) -> None:
        # The development secret is published in the repository: only a development service with
        # DEBUG on may sign with it (or a short one). DEBUG=true does not make production safe.
        if self.environment != "development" or not self.debug:
            secret = self.jwt_secret_key.encode()
            if self.jwt_secret_key == DEVELOPMENT_JWT_SECRET or len(secret) < MIN_SECRET_BYTES:
                why = "DEBUG=false" if self.environment == "development" else f"ENVIRONMENT={self.environment}"
                raise SettingsError(
                    f"JWT_SECRET_KEY must be set to a random value of at least 32 bytes with {why} "
                    "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
        if self.jwt_algorithm not in {"HS256", "HS384", "HS512"}:
            raise SettingsError("JWT_ALGORITHM must be one of HS256, HS384, HS512")
        checks = {
            "DATABASE_POOL_SIZE": self.database_pool_size >= 1,
            "DATABASE_MAX_OVERFLOW": self.database_max_overflow >= 0,
            "DATABASE_STATEMENT_CACHE_SIZE": self.database_statement_cache_size >= 0,
            "JWT_EXPIRATION_HOURS": self.jwt_expiration_hours > 0,
            "SSE_HEARTBEAT_INTERVAL": self.sse_heartbeat_interval > 0,
            "SSE_MAX_CONNECTIONS_PER_STORE": self.sse_max_connections_per_store >= 1,
            "SSE_MAX_CONNECTIONS_PER_TABLE": self.sse_max_connections_per_table >= 1,
            "SSE_WRITE_TIMEOUT": self.sse_write_timeout > 0,
            "SSE_MAX_QUEUED_BYTES": self.sse_max_queued_bytes >= 16_384,
            "ORDER_RATE_LIMIT_PER_MINUTE": self.order_rate_limit_per_minute >= 0,
            "SESSION_MAX_ORDERS": self.session_max_orders >= 0,
            "WORKERS": self.workers >= 1,
            "LOGIN_MAX_FAILURES": self.login_max_failures >= 1,
            "LOGIN_BACKOFF_SECONDS": 0 < self.login_backoff_seconds <= self.login_lockout_seconds,
            "LOGIN_LOCKOUT_SECONDS": self.login_lockout_seconds >= 1,
            "LOGIN_WINDOW_SECONDS": self.login_window_seconds >= 1,
            "LOGIN_STORE_MAX_FAILURES": self.login_store_max_failures > self.login_max_failures,
            "LOGIN_ADDRESS_MAX_FAILURES": self.login_address_max_failures >= 1,
            "LOGIN_KNOWN_ADDRESS_DAYS": self.login_known_address_days >= 0,
            "FORWARDED_ALLOW_IPS": trusted_proxies_valid(self.forwarded_allow_ips),
            "PUBLIC_BASE_URL": public_url_valid(self.public_base_url),
            "WEBHOOK_TIMEOUT_SECONDS": 0 < self.webhook_timeout_seconds <= 60,
            "WEBHOOK_CONCURRENCY": 1 <= self.webhook_concurrency <= 100,
            # A claim must outlast a request and the step that records it.
            "WEBHOOK_LEASE_SECONDS": self.webhook_lease_seconds >= 2 * self.webhook_timeout_seconds,
            "NATS_URL": self.event_bus != "nats" or bool(self.nats_url),
            "NATS_STREAM_REPLICAS": 1 <= self.nats_stream_replicas <= 5,
            "NATS_STREAM_MAX_BYTES": self.nats_stream_max_bytes >= 1024 * 1024,
            "EVENT_PUBLISH": self.event_bus == "postgres" or self.event_publish == "relay",
            "EVENT_RELAY_INTERVAL": 0 < self.event_relay_interval <= 1,
            # On NATS it is also the stream's max age, which JetStream refuses below the stream's
            # 2-minute duplicate window (nats_bus.DUPLICATE_WINDOW_SECONDS): the relay would fail every batch.
            "EVENT_RETENTION_HOURS": self.event_retention_hours * 3600 >= (120 if self.event_bus == "nats" else 0)
            and self.event_retention_hours > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise SettingsError(f"out of range: {', '.join(bad)}")

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise SettingsError("DATABASE_URL is not set (tableorder serve starts an embedded PostgreSQL)")
        return self.database_url
