"""Logging: JSON lines in production (DEBUG=false), readable lines in development."""

from __future__ import annotations

import logging

import structlog

from tableorder import request_id
from tableorder.settings import Settings


def configure_logging(settings: Settings) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # A request's id: the service's own lines pass it as `extra`, the access line gets it from
        # the context variable set while the response starts (see request_id.py).
        structlog.stdlib.ExtraAdder(allow=["request_id"]),
        request_id.add_to_log,
    ]
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=False) if settings.debug else structlog.processors.JSONRenderer()
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    handler.setLevel(settings.log_level.upper())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for noisy in ("faker", "pgserver", "asyncio", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
