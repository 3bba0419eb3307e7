"""A small Server-Sent Events reader over httpx, for tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Message:
    event: str
    data: str
    id: int | None

    def json(self) -> Any:
        return json.loads(self.data)


class EventStream:
    """Connects to an SSE endpoint and collects its messages (and comment lines) in the background."""

    def __init__(self, base_url: str, path: str, headers: dict[str, str], last_event_id: int | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        self.url = base_url + path
        self._client = client
        self.headers = dict(headers)
        if last_event_id is not None:
            self.headers["Last-Event-ID"] = str(last_event_id)
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self.comments = 0
        self.status: int | None = None
        self.ended = asyncio.Event()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.body_on_error: str | None = None

    async def __aenter__(self) -> EventStream:
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self._connected.wait(), 10)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _read(self) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = self._client or await stack.enter_async_context(
                    httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)))
                response = await stack.enter_async_context(client.stream("GET", self.url, headers=self.headers))
                self.status = response.status_code
                if response.status_code != 200:
                    self.body_on_error = (await response.aread()).decode()
                    self._connected.set()
                    return
                event, data, last_id = "message", [], None
                async for line in sse_lines(response):
                    if line.startswith("retry:"):
                        self._connected.set()
                    elif line.startswith(":"):
                        self.comments += 1
                    elif line.startswith("id:"):
                        last_id = int(line[3:].strip())
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                    elif line == "" and data:
                        await self.messages.put(Message(event, "\n".join(data), last_id))
                        event, data, last_id = "message", [], None
        except httpx.TransportError:
            pass
        finally:
            self._connected.set()
            self.ended.set()

    async def next(self, timeout: float = 5) -> Message:  # noqa: ASYNC109
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def take(self, count: int, timeout: float = 10) -> list[Message]:  # noqa: ASYNC109
        return [await self.next(timeout) for _ in range(count)]

    async def quiet(self, seconds: float = 0.5) -> list[Message]:
        """Whatever arrives within `seconds` (to prove that nothing more does)."""
        await asyncio.sleep(seconds)
        out = []
        while not self.messages.empty():
            out.append(self.messages.get_nowait())
        return out


_LINE_END = re.compile(rb"\r\n|\r|\n")


async def sse_lines(response: httpx.Response) -> AsyncIterator[str]:
    """Lines as the SSE specification splits them: at CR, LF or CRLF only (httpx's aiter_lines also
    splits at U+2028, U+2029 and U+0085, which may appear inside a JSON string)."""
    pending = b""
    async for chunk in response.aiter_bytes():
        pending += chunk
        # A CR at the very end may be the first half of a CRLF: keep it for the next chunk.
        held = b"\r" if pending.endswith(b"\r") else b""
        parts = _LINE_END.split(pending[: len(pending) - len(held)])
        pending = parts.pop() + held  # the last part is not a complete line yet
        for part in parts:
            yield part.decode()
