"""The application's state, typed: what app.py puts there for the app's lifetime, as handlers see it
(`state: AppState`). Litestar wraps the app's one state dict per request; nothing is copied."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.datastructures import State

if TYPE_CHECKING:
    import asyncpg

    from tableorder.db import Reads
    from tableorder.events.bus import Source
    from tableorder.events.hub import Hub
    from tableorder.events.relay import Relay
    from tableorder.menu.cache import Load, MenuCache
    from tableorder.security import Credentials, TokenService
    from tableorder.settings import Settings


class AppState(State):
    settings: Settings
    tokens: TokenService
    pool: asyncpg.Pool
    reads: Reads
    hub: Hub
    menu_cache: MenuCache
    menu_load: Load  # reads a store's menu document (menu.queries.menu_document on `reads`)
    credentials: Credentials
    listener: Source  # the PostgreSQL listener, or the NATS subscriber (EVENT_BUS)
    relay: Relay | None  # None with EVENT_PUBLISH=commit

    def __init__(self, state: Any = None, deep_copy: bool = False) -> None:
        # Litestar builds one per request from the app's state dict: share it, never copy it.
        super().__init__(state if state is not None else {}, deep_copy=False)
