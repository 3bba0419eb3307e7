"""The ASGI application: wiring only."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.di import Provide

from tableorder import db
from tableorder.allow import AllowedMethods
from tableorder.apikeys.controller import ApiKeyController
from tableorder.asyncapi import asyncapi_route
from tableorder.auth.controller import AdminPasswordController, AuthController, LogoutController
from tableorder.calls.controller import AdminCallController, GuestCallController
from tableorder.events.bus import NatsSource, Source, publisher
from tableorder.events.housekeeping import prune_forever
from tableorder.events.hub import Hub
from tableorder.events.listener import Listener, StoreCache
from tableorder.events.relay import Relay
from tableorder.events.shutdown import end_streams_on_shutdown_signal
from tableorder.events.stream import AdminStreamController, GuestStreamController
from tableorder.health import HealthController
from tableorder.logs import configure_logging
from tableorder.menu import queries as menu_queries
from tableorder.menu.cache import MenuCache
from tableorder.menu.controller import (
    AdminCategoryController,
    AdminMenuItemController,
    AdminOptionGroupController,
    GuestMenuController,
)
from tableorder.menu.sold_out import restore_forever
from tableorder.openapi import openapi_config
from tableorder.orders.controller import AdminOrderController, GuestOrderController
from tableorder.pages import pages
from tableorder.problems import EXCEPTION_HANDLERS, APIRequest, refuse_repeated_query_parameters
from tableorder.request_id import RequestIdMiddleware
from tableorder.security import (
    Credentials,
    TokenService,
    admin_principal,
    admin_scope_guard,
    table_principal,
)
from tableorder.settings import Settings
from tableorder.stations.controller import AdminStationController, AdminTicketController
from tableorder.stores.controller import AdminStoreController
from tableorder.tables.controller import AdminTableController
from tableorder.webhooks.controller import WebhookController
from tableorder.webhooks.delivery import WebhookWorker


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    configure_logging(settings)
    db.configure(statement_cache_size=settings.database_statement_cache_size)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        url = settings.database_url or db.start_embedded_postgres()
        # Connections are opened on demand: a worker that starts while the database is down (a
        # replica restarted during a failover) comes up, answers 503 and recovers by itself.
        pool = await db.create_pool(
            url,
            min_size=0,
            max_size=settings.database_pool_size + settings.database_max_overflow,
            application_name=f"tableorder-api-{os.getpid()}",
            notify_on_commit=settings.event_publish == "commit",
        )
        await db.warm_up(pool)
        app.state.pool = pool
        # Reads that may use the replica; it connects lazily, so a replica that is down delays nothing.
        replica = await db.create_pool(
            settings.database_replica_url, min_size=0,
            max_size=settings.database_pool_size + settings.database_max_overflow,
            application_name=f"tableorder-read-{os.getpid()}",
        ) if settings.database_replica_url else None
        app.state.reads = db.Reads(pool, replica)
        hub: Hub  # made below, once the bus that feeds it is; the callbacks here run only after that
        menu_cache = app.state.menu_cache = MenuCache()
        app.state.menu_load = partial(menu_queries.menu_document, app.state.reads)
        credentials = app.state.credentials = Credentials(pool)
        # A token that stops holding ends its open streams too.
        credentials.on_change = lambda store_id: hub.revalidate(store_id, credentials.still_valid)
        credentials.on_clear = lambda: hub.revalidate_all(credentials.still_valid)
        webhooks = app.state.webhooks = WebhookWorker(pool, settings)

        def on_event(store_id: int, position: int) -> None:
            hub.notify(store_id, position)
            webhooks.wake(store_id)

        def on_connect() -> None:
            hub.wake_all()
            webhooks.wake()

        caches: dict[str, StoreCache] = {"menu.updated": menu_cache, "credentials.changed": credentials}
        nats = NatsSource(settings.nats_url, lambda *event: hub.deliver(*event), on_connect, caches) \
            if settings.event_bus == "nats" and settings.nats_url else None
        source: Source = nats if nats is not None else Listener(url, on_event=on_event, on_connect=on_connect,
                                                                caches=caches)
        hub = Hub(pool, settings.sse_max_connections_per_store, settings.sse_heartbeat_interval,
                                  max_per_table=settings.sse_max_connections_per_table,
                                  max_queued_bytes=settings.sse_max_queued_bytes,
                                  watcher=nats.subscriber if nats is not None else None)
        app.state.hub = hub
        hub.start()
        app.state.listener = source
        source.start()
        # Events are published after they commit, by whichever replica's relay holds the election.
        publish = publisher(settings)
        relay = app.state.relay = Relay(url, None, publish, bus=settings.event_bus,
                                         interval=settings.event_relay_interval,
                                         # On NATS no worker hears every store: the leader's worker
                                         # looks for due webhooks at once, the others on their poll.
                                         on_published=webhooks.wake_stores) \
            if settings.event_publish == "relay" else None
        if relay is not None:
            relay.start()
        webhooks.start()
        end_streams_on_shutdown_signal(hub)
        housekeeping = asyncio.create_task(prune_forever(pool, settings), name="housekeeping")
        # Items sold out until a time come back by themselves (every replica looks; racing is harmless).
        restocking = asyncio.create_task(restore_forever(pool), name="sold-out-until")
        # The ~58,000 objects of a started worker (modules, routes, schemas) live as long as it does.
        # Left to the collector, each full collection walks them all: about 60 ms with the event loop
        # stopped, which every open stream and request in flight would wait out. Frozen, they are
        # skipped, and full collections only look at what requests created.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            housekeeping.cancel()
            restocking.cancel()
            await webhooks.stop()
            if relay is not None:
                await relay.stop()
            hub.close()
            await source.stop()
            if replica is not None:
                await replica.close()
            await pool.close()

    # Who may call what is said once per router: the staff's routes take an admin principal, the
    # tablet's a table principal; the controllers below only say what they do.
    admin = Router(
        path="/admin",
        route_handlers=[
            AdminOrderController, AdminStreamController, AdminTableController,
            AdminCategoryController, AdminMenuItemController, AdminOptionGroupController, AdminStoreController,
            AdminPasswordController, ApiKeyController,
            WebhookController, AdminStationController, AdminTicketController, AdminCallController,
        ],
        dependencies={"principal": Provide(admin_principal)},
        # Every admin operation: staff, or an API key holding the scope the operation declares.
        guards=[admin_scope_guard],
        # Only the staff's operations take query parameters; the tablet's hot paths skip the check.
        before_request=refuse_repeated_query_parameters,
        security=[{"AdminToken": []}],
    )
    guest = Router(
        path="/",
        route_handlers=[GuestMenuController, GuestOrderController, GuestStreamController, GuestCallController],
        dependencies={"principal": Provide(table_principal)},
        security=[{"TableToken": []}],
    )
    api = Router(path="/api/v1", route_handlers=[AuthController, LogoutController, admin, guest])
    app = Litestar(
        route_handlers=[api, HealthController, pages, asyncapi_route(settings)],
        lifespan=[lifespan],
        state=None,
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=APIRequest,
        openapi_config=openapi_config(settings),
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins), allow_credentials=True)
        if settings.cors_origins else None,
        request_max_body_size=settings.max_request_bytes,
        debug=False,
        logging_config=None,
        on_startup=[lambda app: _init_state(app, settings)],
    )
    # Outermost, so requests that match no route (404, 405) get their id too.
    app.asgi_handler = RequestIdMiddleware(app.asgi_handler, AllowedMethods(app))
    return app


def _init_state(app: Litestar, settings: Settings) -> None:
    app.state.settings = settings
    app.state.tokens = TokenService(settings)
