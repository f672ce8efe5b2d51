"""A tenant's knowledge as the AI reads it: searched in the store's own full-text index, cached per tenant.

``KnowledgeBase.search`` turns a question into terms (``hub.knowledge.text``), corrects typos against
the tenant's own words, asks the backend (``hub.knowledge.search``) within ``timeout_s``, and returns
the best passages. Results and vocabularies are cached per tenant; a change on any node is announced
on the knowledge channel and every node drops that tenant's cache at once (a lost announcement is
caught by the cache's TTL, and a broker resync drops everything).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.chat.fanout import Fanout
from hub.keys import Keys
from hub.knowledge.search import Backend, backend_for
from hub.knowledge.text import Terms, Vocabulary, clauses, terms
from hub.protocol import KnowledgeChanged, decode_node_frame, encode
from hub.store import knowledge as store
from hub.store.database import reading

logger = logging.getLogger(__name__)

MAX_CLAUSES = 3  # a message's questions searched one by one (beyond the whole message)


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    body: str
    url: str | None
    language: str
    rank: float  # the backend's, higher is better
    relevance: float  # the share of the question's words the entry holds, 0 to 1 (Terms.relevance)


@dataclass
class _TenantCache:
    loaded_at: float
    vocabulary: Vocabulary | None = None
    results: OrderedDict[tuple[tuple[str, ...], str | None, int], tuple[Passage, ...]] | None = None


class KnowledgeBase:
    ttl_s = 60.0
    tenants_cached = 2000
    results_per_tenant = 200

    def __init__(self, engine: AsyncEngine, fanout: Fanout, keys: Keys, timeout_s: float) -> None:
        self.engine = engine
        self.fanout = fanout
        self.channel = keys.knowledge_channel()
        self.timeout_s = timeout_s
        self.backend: Backend = backend_for(engine.dialect.name)
        self._tenants: OrderedDict[str, _TenantCache] = OrderedDict()

    async def start(self) -> None:
        await self.fanout.join(self.channel, self)

    async def stop(self) -> None:
        await self.fanout.leave(self.channel, self)

    # --- changes --------------------------------------------------------------------------------

    def changed(self, tenant_id: str) -> None:
        """After a change is committed: this node forgets at once, every other node when the frame comes."""
        self._tenants.pop(tenant_id, None)
        self.fanout.publish(self.channel, 0, encode(KnowledgeChanged(tenant_id=tenant_id)))

    def deliver(self, seq: int, frame: str) -> None:
        message = decode_node_frame(frame)
        if isinstance(message, KnowledgeChanged):
            self._tenants.pop(message.tenant_id, None)

    def resync(self) -> None:
        self._tenants.clear()  # announcements may have been lost while the broker was away

    # --- search ---------------------------------------------------------------------------------

    async def passages(
        self, tenant_id: str, question: str, language: str | None = None, limit: int = 3
    ) -> tuple[Passage, ...]:
        """What a reply is given: the best passages for the whole message and for each of its questions
        ("Hi! Do you repair e-bikes, and how much is a chain?" asks two), each passage once with the
        relevance of the question it answers best, most relevant first."""
        parts = clauses(question)
        asked = [question, *parts[:MAX_CLAUSES]] if len(parts) > 1 else [question]
        found: dict[str, Passage] = {}
        for text in asked:
            for passage in await self.search(tenant_id, text, language, limit):
                known = found.get(passage.id)
                if known is None or passage.relevance > known.relevance:
                    found[passage.id] = passage
        ranked = sorted(found.values(), key=lambda passage: -passage.relevance)
        return tuple(ranked[:limit])

    async def search(
        self, tenant_id: str, question: str, language: str | None = None, limit: int = 3, *, fresh: bool = False
    ) -> tuple[Passage, ...]:
        """The best passages for ``question``, best first; none when nothing matches, the search fails or
        takes longer than ``timeout_s`` (a reply then goes on without knowledge: it is logged). ``fresh``:
        ask the database even when the answer is cached (the benchmark measures that)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._search(tenant_id, question, language, limit, fresh)
        except Exception as exc:  # TimeoutError included: knowledge helps a reply, it never stops one
            logger.warning(
                "knowledge search for tenant %s failed: %r", tenant_id, exc, exc_info=not isinstance(exc, TimeoutError)
            )
            return ()

    async def _search(
        self, tenant_id: str, question: str, language: str | None, limit: int, fresh: bool
    ) -> tuple[Passage, ...]:
        cache = self._cache(tenant_id)
        if cache.vocabulary is None:
            async with reading(self.engine) as connection:
                rows = await store.vocabulary(connection, tenant_id)
            cache.vocabulary = Vocabulary([f"{title} {body}" for title, body in rows])
        if not cache.vocabulary.words:
            return ()
        wanted = terms(question, cache.vocabulary)
        key = (wanted.stems, language, limit)
        results = cache.results if cache.results is not None else OrderedDict()
        cache.results = results
        if key in results and not fresh:
            results.move_to_end(key)
            return results[key]
        found = await self._ask(tenant_id, wanted, language, limit)
        if self._tenants.get(tenant_id) is cache:  # not forgotten meanwhile (a change came in)
            results[key] = found
            while len(results) > self.results_per_tenant:
                results.popitem(last=False)
        return found

    async def _ask(self, tenant_id: str, wanted: Terms, language: str | None, limit: int) -> tuple[Passage, ...]:
        async with reading(self.engine) as connection:
            ranked = await self.backend.search(connection, tenant_id, wanted, language, limit)
            entries = await store.entries_by_id(connection, tenant_id, [entry_id for entry_id, _ in ranked])
        return tuple(
            Passage(
                entry.id,
                entry.title,
                entry.body,
                entry.url,
                entry.language,
                rank,
                wanted.relevance(entry.title, entry.body),
            )
            for entry_id, rank in ranked
            if (entry := entries.get(entry_id)) is not None and entry.enabled
        )

    def _cache(self, tenant_id: str) -> _TenantCache:
        now = time.monotonic()
        cache = self._tenants.get(tenant_id)
        if cache is None or now - cache.loaded_at > self.ttl_s:
            cache = _TenantCache(loaded_at=now)
            self._tenants[tenant_id] = cache
        self._tenants.move_to_end(tenant_id)
        while len(self._tenants) > self.tenants_cached:
            self._tenants.popitem(last=False)
        return cache
