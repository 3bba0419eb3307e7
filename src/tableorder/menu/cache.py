"""The tablets' menu, encoded once per change and served from memory.

Every replica keeps each store's menu body and ETag. The listener invalidates a store's entry on
`menu.updated` (any replica's edit reaches every replica that way) and clears everything when it
reconnects, since notifications may have been missed meanwhile; while it is down nothing is cached.
A generation number per store keeps a read that raced an edit from storing the older menu.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from tableorder.kit import PreparedResponse


class CachedMenu(NamedTuple):
    body: bytes
    etag: str
    ok: PreparedResponse  # 200 with the body
    not_modified: PreparedResponse  # 304 for a matching If-None-Match

    @classmethod
    def of(cls, body: bytes) -> CachedMenu:
        etag = etag_of(body)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        return cls(body, etag, PreparedResponse(body, 200, headers, media_type="application/json"),
                   PreparedResponse(b"", 304, headers))


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


class MenuCache:
    def __init__(self) -> None:
        self._entries: dict[int, CachedMenu] = {}
        self._generations: dict[int, int] = {}
        self._epoch = 0  # bumped by clear(): invalidates fills that started before it
        self.enabled = False  # only while the listener is connected

    async def get(self, store_id: int, load: Callable[[int], Awaitable[str | None]]) -> CachedMenu | None:
        entry = self._entries.get(store_id)
        if entry is not None:
            return entry
        generation, epoch = self._generations.get(store_id, 0), self._epoch
        document = await load(store_id)
        if document is None:
            return None
        entry = CachedMenu.of(document.encode())
        if self.enabled and generation == self._generations.get(store_id, 0) and epoch == self._epoch:
            self._entries[store_id] = entry
        return entry

    def invalidate(self, store_id: int) -> None:
        self._generations[store_id] = self._generations.get(store_id, 0) + 1
        self._entries.pop(store_id, None)

    def clear(self) -> None:
        self._epoch += 1
        self._entries.clear()
        self._generations.clear()

    def __len__(self) -> int:
        return len(self._entries)
