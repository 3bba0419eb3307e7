"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import msgspec
from litestar import Controller, get

from tableorder.problems import ProblemError, problem_spec
from tableorder.state import AppState


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    streams: int  # open event streams in this worker
    feeds: int  # stores with at least one open stream in this worker
    replica_reads: int  # reads this worker served from DATABASE_REPLICA_URL
    primary_reads: int  # replica-eligible reads served by the primary (no replica, lagging or down)


class HealthController(Controller):
    path = "/health"
    tags = ["Operations"]

    @get(operation_id="GetHealth", summary="Liveness: the process answers (no database)")
    async def health(self) -> Health:
        return Health(status="ok")

    @get("/ready", operation_id="GetReadiness",
         summary="Readiness: the database answers and this replica's event listener is connected",
         responses={503: problem_spec("Not ready: the database or the event listener is down")})
    async def ready(self, state: AppState) -> Readiness:
        try:
            async with state.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1", timeout=2)
        except Exception as exc:  # whatever the failure, the replica is not ready
            raise ProblemError(503, "The database does not answer.", slug="not-ready",
                               headers={"Retry-After": "5"}) from exc
        if not state.listener.connected:
            raise ProblemError(503, "The event listener is not connected.", slug="not-ready",
                               headers={"Retry-After": "2"})
        return Readiness(status="ready", streams=state.hub.stream_count(), feeds=state.hub.feed_count(),
                         replica_reads=state.reads.on_replica, primary_reads=state.reads.on_primary)
