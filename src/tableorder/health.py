"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, get

from tableorder.problems import ProblemError, problem_spec
from tableorder.state import AppState

Count = Annotated[int, msgspec.Meta(ge=0)]
# Any request, whatever its route, is refused with this before it gets anywhere.
BAD_REQUEST = {400: problem_spec("The request is malformed (e.g. an invalid Host header)")}


class Health(msgspec.Struct):
    """The process is alive."""

    status: Literal["ok"]


class Readiness(msgspec.Struct):
    """This replica can serve: its database answers and its event listener is connected; with this
    worker's counters."""

    status: Literal["ready"]
    streams: Count  # open event streams in this worker
    feeds: Count  # stores with at least one open stream in this worker
    replica_reads: Count  # reads this worker served from DATABASE_REPLICA_URL
    primary_reads: Count  # replica-eligible reads served by the primary (no replica, lagging or down)
    event_bus: Literal["postgres", "nats"]  # how this replica hears of committed events (EVENT_BUS)
    # This worker's event relay: publishing (one per database is), standing by, or not run
    # (EVENT_PUBLISH=commit).
    relay: Literal["active", "standby", "off"]


class HealthController(Controller):
    path = "/health"
    tags = ["Operations"]

    @get(operation_id="GetHealth", summary="Liveness: the process answers (no database)", responses=BAD_REQUEST)
    async def health(self) -> Health:
        """Liveness for load balancers and orchestrators: answers while the process runs, without touching the
        database."""
        return Health(status="ok")

    @get("/ready", operation_id="GetReadiness",
         summary="Readiness: the database answers and this replica's event listener is connected",
         responses={**BAD_REQUEST, 503: problem_spec("Not ready: the database or the event listener is down")})
    async def ready(self, state: AppState) -> Readiness:
        """Readiness: 200 only when the database answers and this replica's event listener is connected, with this
        worker's stream and read counters; 503 with Retry-After otherwise."""
        try:
            async with state.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1", timeout=2)
        except Exception as exc:  # whatever the failure, the replica is not ready
            raise ProblemError(503, "The database does not answer.", slug="not-ready",
                               headers={"Retry-After": "5"}) from exc
        if not state.listener.connected:
            raise ProblemError(503, "The event listener is not connected.", slug="not-ready",
                               headers={"Retry-After": "2"})
        relay: Literal["active", "standby", "off"] = (
            "off" if state.relay is None else "active" if state.relay.active else "standby")
        return Readiness(status="ready", streams=state.hub.stream_count(), feeds=state.hub.feed_count(),
                         replica_reads=state.reads.on_replica, primary_reads=state.reads.on_primary,
                         event_bus=state.settings.event_bus, relay=relay)
