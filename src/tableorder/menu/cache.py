"""The tablets' menu, encoded once per change and served from memory.

Every replica keeps each store's menu body and ETag, one per language asked for (the languages a
request prefers, in order: the database picks the first the store keeps). The listener invalidates a
store's entries on
`menu.updated` (any replica's edit reaches every replica that way) and clears everything when it
reconnects, since notifications may have been missed meanwhile; while it is down nothing is cached.
A generation number per store keeps a read that raced an edit from storing the older menu.

Once it has read a store's menu the cache knows the languages the store keeps, and keeps its menu by
the language a request gets (the first of those it prefers that the store keeps), not by the list it
sent: however a guest orders ko, en, ja and zh (65 lists), a store's menu is built at most once per
language it keeps.

A worker keeps at most MENU_CACHE_MAX_BYTES of menus, the least recently read leaving first: with
menus bounded in the database (500 items in 100 categories, at most 9.6 MB), any one store's menu
fits, and no one store, nor many, can fill every worker. Requests for a menu that is not kept share
one load of it (after a change every tablet of the store asks at once), so a worker never holds a
copy per request.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import NamedTuple

import msgspec

from tableorder.kit import PreparedResponse

MENU_CACHE_MAX_BYTES = 16 * 1024 * 1024


# What a request asks for: its preferred languages, best first (empty: the store's working language).
Languages = tuple[str, ...]
Key = tuple[int, Languages]
# Reads a store's menu document in the first of the languages the store keeps (None: no such store).
Load = Callable[[int, Languages], Awaitable[bytes | None]]


RawHeaders = list[tuple[bytes, bytes]]


class CachedMenu(NamedTuple):
    body: bytes
    etag: str
    ok: PreparedResponse  # 200 with the body
    not_modified: PreparedResponse  # 304 for a matching If-None-Match
    # The same two answers' headers as ASGI sends them, for GET /menu's lean path
    # (controller.serve_cached_menu), which adds the request's X-Request-ID to a copy.
    ok_headers: RawHeaders
    not_modified_headers: RawHeaders
    etag_bytes: bytes

    @classmethod
    def of(cls, body: bytes) -> CachedMenu:
        etag = etag_of(body)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Accept-Language"}
        ok = PreparedResponse(body, 200, headers, media_type="application/json")
        raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        return cls(body, etag, ok, PreparedResponse(b"", 304, headers),
                   [*raw, (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
                   raw, etag.encode("latin-1"))


class _StoreHead(msgspec.Struct):
    languages: Languages


class _MenuHead(msgspec.Struct):
    """What the cache reads of a menu document: the languages the store keeps and the one it is in."""

    store: _StoreHead
    language: str


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


class MenuCache:
    def __init__(self, max_bytes: int = MENU_CACHE_MAX_BYTES) -> None:
        self._entries: OrderedDict[Key, CachedMenu] = OrderedDict()  # the least recently read first
        self._kept: dict[int, set[Languages]] = {}  # the store's entries, by languages
        self._generations: dict[int, int] = {}
        # The languages each store keeps, as its menu last said (a change of them invalidates the store).
        self._languages: dict[int, Languages] = {}
        self._epoch = 0  # bumped by clear(): invalidates fills that started before it
        self.enabled = False  # only while the listener is connected
        self.max_bytes = max_bytes
        self.nbytes = 0  # the bodies kept
        # Loads under way; a change or a clear() takes a store's out, so who asks after it loads anew.
        self._loading: dict[Key, asyncio.Future[CachedMenu | None]] = {}

    def peek(self, store_id: int, languages: Languages = ()) -> CachedMenu | None:
        """The store's menu in the first of `languages` it keeps, if it is kept (nothing is loaded)."""
        key = self._key(store_id, languages)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def _key(self, store_id: int, languages: Languages) -> Key:
        kept = self._languages.get(store_id)
        if kept:
            # A loop, not next() over a generator: this runs on every GET /menu.
            for code in languages:
                if code in kept:
                    break
            else:
                code = kept[0]
            languages = (code,)
        return store_id, languages

    async def get(self, store_id: int, load: Load, languages: Languages = ()) -> CachedMenu | None:
        """The store's menu in the first of `languages` it keeps; `load(store_id, languages)` reads it
        when it is not kept."""
        key = self._key(store_id, languages)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(self._fill(key, load))
            loading.add_done_callback(partial(self._loaded, key))
        # Shielded: a request that goes away does not cancel the load the others wait for.
        return await asyncio.shield(loading)

    async def _fill(self, key: Key, load: Load) -> CachedMenu | None:
        store_id, languages = key
        generation, epoch = self._generations.get(store_id, 0), self._epoch
        document = await load(store_id, languages)
        if document is None:
            return None
        entry = CachedMenu.of(document)
        if self.enabled and generation == self._generations.get(store_id, 0) and epoch == self._epoch:
            try:
                head = msgspec.json.decode(document, type=_MenuHead)
            except msgspec.DecodeError:
                pass  # not a menu document (nothing learnt; kept by the languages asked for)
            else:
                self._languages[store_id] = head.store.languages
                key = (store_id, (head.language,))
            self._keep(key, entry)
        return entry

    def _loaded(self, key: Key, loading: asyncio.Future[CachedMenu | None]) -> None:
        if self._loading.get(key) is loading:
            del self._loading[key]
        if not loading.cancelled():
            loading.exception()  # retrieved here too: every request waiting for it raises it already

    def _keep(self, key: Key, entry: CachedMenu) -> None:
        size = len(entry.body)
        if size > self.max_bytes:
            return  # served, not kept
        self._drop(key)  # never counted twice
        while self._entries and self.nbytes + size > self.max_bytes:
            self._drop(next(iter(self._entries)))
        self._entries[key] = entry
        self._kept.setdefault(key[0], set()).add(key[1])
        self.nbytes += size

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.nbytes -= len(entry.body)
            kept = self._kept.get(key[0])
            if kept is not None:
                kept.discard(key[1])
                if not kept:
                    del self._kept[key[0]]

    def invalidate(self, store_id: int) -> None:
        """Every language of the store's menu goes."""
        self._generations[store_id] = self._generations.get(store_id, 0) + 1
        self._languages.pop(store_id, None)
        for languages in list(self._kept.get(store_id, ())):
            self._drop((store_id, languages))
        for key in [key for key in self._loading if key[0] == store_id]:
            del self._loading[key]

    def clear(self) -> None:
        self._epoch += 1
        self._entries.clear()
        self._kept.clear()
        self._generations.clear()
        self._languages.clear()
        self._loading.clear()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._entries)
