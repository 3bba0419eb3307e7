"""End event streams as soon as the server is told to stop.

uvicorn waits for open responses to finish before it runs the application's shutdown, and an
event stream never finishes by itself: without this, SIGTERM would hang until the graceful
timeout (or forever). We chain a handler in front of uvicorn's own for SIGTERM and SIGINT that
ends every stream; clients then reconnect (with Last-Event-ID) to another replica.
"""

from __future__ import annotations

import asyncio
import signal
from types import FrameType
from typing import Any

from tableorder.events.hub import Hub


def end_streams_on_shutdown_signal(hub: Hub) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(sig: int, frame: FrameType | None, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(hub.close)
            if callable(previous):
                previous(sig, frame)
            else:  # SIG_DFL or SIG_IGN: restore it and let it act
                signal.signal(sig, previous)
                signal.raise_signal(sig)

        try:
            signal.signal(signum, handler)
        except ValueError:  # not the main thread (e.g. an embedded server): nothing to chain
            return
