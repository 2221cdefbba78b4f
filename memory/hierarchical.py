"""Hierarchical memory (HEMA, SCM): compact summaries plus verbatim episodes in Chroma.

Every item (a dialogue turn or a document chunk) is journaled in SQLite, stored
verbatim as an episode in the session's own Chroma collection of the shared
client, and folded into a running level-1 summary; every K items the level-1
summary is folded into the level-2 summary-of-summaries and starts afresh, so
summary errors cannot cascade over thousands of items. Every P items the
lowest-salience episodes are pruned. :meth:`HierarchicalMemory.build_context`
assembles summaries, recalled episodes and the recent tail within a budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longdoc.errors import MemorySessionError
from longdoc.memory._sync import SyncAPI
from longdoc.memory.context import cap_tokens, fit_context, render
from longdoc.memory.salience import SalienceRule, prune_victims
from longdoc.memory.state import MemoryState
from longdoc.memory.types import (
    ContextPiece,
    Controller,
    Episode,
    MemoryContext,
    MemorySummary,
    RecalledEpisode,
    Summarizer,
    TokenCounter,
)

if TYPE_CHECKING:
    from longdoc._portal import Portal
    from longdoc.config import Settings
    from longdoc.retrieval.embedding import Embedder
    from longdoc.retrieval.store import Store

__all__ = ["HierarchicalMemory", "Item", "collection_name"]

Item = str | tuple[str, str]  # a text, or (text, role)
_SESSION = re.compile(r"^\S(.{0,198}\S)?$", re.DOTALL)


def collection_name(session_id: str) -> str:
    """The session's Chroma collection: readable prefix plus a hash, so any id maps safely."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", session_id).strip("-")[:40]
    digest = hashlib.sha256(session_id.encode()).hexdigest()[:12]
    return f"memory-{slug}-{digest}" if slug else f"memory-{digest}"


def _metadata(ep: Episode) -> dict[str, Any]:
    return {
        "session": ep.session_id,
        "ordinal": ep.ordinal,
        "timestamp": ep.timestamp,
        "role": ep.role,
        "source": ep.source,
        "last_retrieved": -1 if ep.last_retrieved is None else ep.last_retrieved,
    }


class HierarchicalMemory(SyncAPI):
    """Long-term memory of one session: summaries, episodes, salience, budgeted contexts.

    Args:
        session_id: the session (1-200 characters, no surrounding whitespace).
            Sessions never see each other's items; the same id after a restart
            sees everything stored before.
        summarizer: writes the summaries (see :class:`~longdoc.memory.types.Summarizer`).
        count_tokens: the model's token counter; every budget is counted with it.
        settings: settings (data dir, Chroma, ``memory_*`` knobs); default from the environment.
        controller: an optional SCM controller consulted when a context is over budget.
        prune: whether pruning runs (default: on when ``memory_prune_every`` > 0);
            document chunks are spared unless ``memory_prune_documents``.
        client: a Chroma client to share (default: the one the settings describe).
        embedder: an embedder to use instead of the settings' model.
        **overrides: ``Settings`` fields for this memory only (``memory_fold_every=...``).

    Example:
        >>> mem = HierarchicalMemory("alice", summarizer=s, count_tokens=gw.count_tokens)
        >>> mem.add("My locker code is 4417.", role="user")  # doctest: +SKIP
        >>> mem.build_context("What is my locker code?", 3500).text  # doctest: +SKIP
    """

    def __init__(
        self,
        session_id: str,
        *,
        summarizer: Summarizer,
        count_tokens: TokenCounter,
        settings: Settings | None = None,
        controller: Controller | None = None,
        prune: bool | None = None,
        client: Any = None,
        embedder: Embedder | None = None,
        **overrides: Any,
    ) -> None:
        from longdoc.config import load_settings, with_overrides

        if not isinstance(session_id, str) or not _SESSION.match(session_id):
            raise MemorySessionError(
                f"invalid session_id {session_id!r}: use 1-200 characters, no surrounding "
                "whitespace",
                parameter="session_id",
                session_id=session_id,
            )
        self.session_id = session_id
        self.settings = s = with_overrides(settings or load_settings(), **overrides)
        self.summarizer, self.count_tokens, self.controller = summarizer, count_tokens, controller
        self.prune_enabled = s.memory_prune_every > 0 if prune is None else prune
        self.rule = SalienceRule(
            s.memory_salience_lambda,
            s.memory_salience_gamma,
            s.memory_salience_beta,
            s.memory_salience_window,
        )
        self.state = MemoryState(Path(s.data_dir) / "memory" / "memory.sqlite3")
        self.state.session(session_id)
        self._client, self._embedder = client, embedder
        self._store: Store | None = None
        self._portal: Portal | None = None
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
        self._locks = weakref.WeakKeyDictionary()

    # --- plumbing ---------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The session's episode collection (opened on first use: Chroma loads lazily)."""
        if self._store is None:
            from longdoc.retrieval.embedding import LazyEmbedder
            from longdoc.retrieval.store import Store, make_client

            s = self.settings
            if self._client is None:
                self._client, _ = make_client(s)
            embedder = self._embedder or LazyEmbedder(
                s.embedding_model,
                s.embedding_backend,
                s.data_dir,
                s.embedding_device,
                s.embedding_process,
            )
            self._store = Store(
                self._client, collection_name(self.session_id), embedder, s.embed_batch_size
            )
        return self._store

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    @property
    def items(self) -> int:
        """Items added to the session so far (pruned ones included)."""
        return int(self.state.session(self.session_id)["items"])

    # --- adding -----------------------------------------------------------------------
    async def aadd(
        self, text: str, role: str = "user", *, source: str = "", key: str | None = None
    ) -> Episode | None:
        """Add one item: journal, embed, update the running summary, fold and prune as due.

        Args:
            text: the item, stored verbatim.
            role: ``user``, ``assistant``, ``turn``, ``document``...
            source: where it came from (document name and chunk), kept as metadata.
            key: an idempotency key: an item with a key already in the session is
                not added again (a resumed reader re-sending a chunk).

        Returns:
            The new episode, or None when ``key`` was already present.
        """
        added = await self.aadd_many([(text, role)], source=source, keys=[key])
        return added[0] if added else None

    async def aadd_many(
        self,
        items: Sequence[Item],
        *,
        role: str = "user",
        source: str = "",
        keys: Sequence[str | None] | None = None,
    ) -> list[Episode]:
        """Add several items at once: one embedding batch, one summary update per block.

        Args:
            items: texts, or ``(text, role)`` pairs.
            role: the role of plain texts.
            source: metadata for every item.
            keys: idempotency keys, one per item (None entries have none).

        Returns:
            The episodes added (items whose key was present are skipped).
        """
        if keys is not None and len(keys) != len(items):
            raise MemorySessionError(
                f"{len(keys)} keys for {len(items)} items",
                parameter="keys",
                session_id=self.session_id,
            )
        rows = []
        for i, item in enumerate(items):
            text, item_role = (item, role) if isinstance(item, str) else item
            if not isinstance(text, str) or not text.strip():
                raise MemorySessionError(
                    f"item {i} is empty: memory stores text",
                    parameter="items",
                    session_id=self.session_id,
                )
            rows.append((text, item_role, source, keys[i] if keys else None))
        async with self._lock():
            added = self.state.append(self.session_id, rows)
            await self._catch_up()
        return added

    async def _catch_up(self) -> None:
        """Finish every pending step of the journal: embed, summarize, fold, prune."""
        row = self.state.session(self.session_id)
        items = row["items"]
        if row["embedded_through"] < items:
            pending = self.state.episodes(self.session_id, row["embedded_through"], items)
            await asyncio.to_thread(self._embed, pending)
            self.state.set_fields(self.session_id, embedded_through=items)
        await self._summarize(row, items)
        await self._prune_due(items)

    async def aresume(self) -> None:
        """Finish work a killed process left pending (embedding, summaries, folds, pruning)."""
        async with self._lock():
            await self._catch_up()

    def _embed(self, episodes: Sequence[Episode]) -> None:
        if episodes:
            self.store.upsert(
                [f"{e.ordinal:012d}" for e in episodes],
                [e.text for e in episodes],
                [_metadata(e) for e in episodes],
            )

    async def _summarize(self, row: dict[str, Any], items: int) -> None:
        k = self.settings.memory_fold_every
        level1, done, folded = row["level1"], row["level1_through"], row["level2_through"]
        level2 = row["level2"]
        while True:
            if done % k == 0 and done > folded:  # a block is complete: fold it first
                parts = [p for p in (level2, level1) if p]
                if parts:  # (both empty only when the summarizer returned nothing)
                    level2 = await self.summarizer.fold(parts, self.settings.memory_fold_tokens)
                level2 = await asyncio.to_thread(
                    cap_tokens, level2, self.settings.memory_fold_tokens, self.count_tokens
                )
                self.state.commit_fold(self.session_id, done, level1, level2)
                level1, folded = "", done
            elif done < items:
                stop = min(items, (done // k + 1) * k)  # never past the block's end
                new = self.state.episodes(self.session_id, done, stop)
                if new:  # (none when forgotten before they were summarized)
                    level1 = await self.summarizer.update(
                        level1, new, self.settings.memory_summary_tokens
                    )
                level1 = await asyncio.to_thread(
                    cap_tokens, level1, self.settings.memory_summary_tokens, self.count_tokens
                )
                done = stop
                self.state.set_fields(self.session_id, level1=level1, level1_through=done)
            else:
                return

    async def _prune_due(self, items: int) -> None:
        every = self.settings.memory_prune_every
        row = self.state.session(self.session_id)
        last = row["pruned_through"]
        if not self.prune_enabled or every <= 0 or items - last < every:
            return
        for _ in range((items - last) // every):
            await self.aprune(now=items)
        self.state.set_fields(self.session_id, pruned_through=items - items % every)

    async def aprune(self, now: int | None = None) -> list[int]:
        """Remove the lowest-salience fraction of the episodes now (the tail is spared).

        Returns:
            The ordinals removed.
        """
        s = self.settings
        now = self.items if now is None else now
        spared = frozenset() if s.memory_prune_documents else frozenset({"document"})
        victims = prune_victims(
            self.state.bookkeeping(self.session_id),
            self.rule,
            now,
            s.memory_prune_fraction,
            protect_tail=max(s.memory_tail_items, 1),
            protect_roles=spared,
        )
        await self._delete(victims)
        return victims

    async def _delete(self, ordinals: Sequence[int]) -> None:
        if ordinals:
            ids = [f"{o:012d}" for o in ordinals]
            await asyncio.to_thread(self.store.delete, ids)
            self.state.delete_episodes(self.session_id, ordinals)

    # --- reading ----------------------------------------------------------------------
    async def arecall(
        self, query: str, k: int | None = None, *, exclude: Sequence[int] = ()
    ) -> list[RecalledEpisode]:
        """The ``k`` episodes most similar to ``query``, ordered by salience (ties: recency).

        Recalled episodes earn the retrieval bonus for the next R items.

        Args:
            query: what to look for.
            k: how many; default ``memory_recall_k``.
            exclude: ordinals not to return (the tail already in the context).
        """
        k = self.settings.memory_recall_k if k is None else k
        if k <= 0 or not query.strip():
            return []
        found = await asyncio.to_thread(self.store.query, query, k + len(exclude))
        skip = set(exclude)
        hits = [(r, sim) for r, sim in found if int(r.metadata["ordinal"]) not in skip][:k]
        if not hits:
            return []
        now = self.items
        sims = {int(r.metadata["ordinal"]): sim for r, sim in hits}
        episodes = self.state.episodes(self.session_id, ordinals=list(sims))
        out = [
            RecalledEpisode(
                episode=e,
                similarity=sims[e.ordinal],
                salience=self.rule.weight(e.ordinal, e.last_retrieved, now),
            )
            for e in episodes
        ]
        out.sort(key=lambda r: (-r.salience, -r.episode.ordinal))
        await asyncio.to_thread(self._mark_retrieved, [r.episode for r in out], now)
        return out

    def _mark_retrieved(self, episodes: Sequence[Episode], now: int) -> None:
        self.state.mark_retrieved(self.session_id, [e.ordinal for e in episodes], now)
        marked = [e.model_copy(update={"last_retrieved": now}) for e in episodes]
        # Chroma keeps the bookkeeping beside the vector too, for anyone reading the collection.
        self.store.update_metadata(
            [f"{e.ordinal:012d}" for e in marked], [_metadata(e) for e in marked]
        )

    def tail(self, n: int | None = None) -> list[Episode]:
        """The ``n`` most recent stored episodes (default ``memory_tail_items``), oldest first."""
        n = self.settings.memory_tail_items if n is None else n
        items = self.items
        return self.state.episodes(self.session_id, max(0, items - n), items) if n > 0 else []

    async def abuild_context(
        self, query: str, budget_tokens: int, *, k: int | None = None
    ) -> MemoryContext:
        """Level-2 + level-1 summaries + recalled episodes + the recent tail, within budget.

        Args:
            query: what the context is for (episodes are recalled by similarity to it).
            budget_tokens: the most tokens the context text may have, by ``count_tokens``.
            k: episodes to recall; default ``memory_recall_k``.

        Returns:
            The context; ``tokens <= budget_tokens`` always holds.

        Raises:
            MemorySessionError: the budget is negative.
        """
        if budget_tokens < 0:
            raise MemorySessionError(
                f"budget_tokens must be >= 0, not {budget_tokens}", parameter="budget_tokens"
            )
        row = self.state.session(self.session_id)
        tail = self.tail()
        recalled = await self.arecall(query, k, exclude=[e.ordinal for e in tail])
        pieces = [
            ContextPiece(kind=kind, text=row[kind]) for kind in ("level2", "level1") if row[kind]
        ]
        pieces += [
            ContextPiece(
                kind="episode",
                text=r.episode.text,
                ordinal=r.episode.ordinal,
                role=r.episode.role,
                similarity=r.similarity,
            )
            for r in recalled
        ]
        pieces += [
            ContextPiece(kind="tail", text=e.text, ordinal=e.ordinal, role=e.role) for e in tail
        ]
        if self.controller is not None and recalled:
            pieces = await self._control(query, pieces, recalled, budget_tokens)
        return await asyncio.to_thread(fit_context, pieces, budget_tokens, self.count_tokens)

    async def _control(
        self,
        query: str,
        pieces: list[ContextPiece],
        recalled: list[RecalledEpisode],
        budget: int,
    ) -> list[ContextPiece]:
        """SCM: when over budget, the controller keeps, shortens or drops each recalled episode."""
        total = await asyncio.to_thread(self.count_tokens, render(pieces))
        if total <= budget:
            return pieces
        fixed = [p for p in pieces if p.kind != "episode"]
        spare = budget - await asyncio.to_thread(self.count_tokens, render(fixed))
        decisions = await self.controller.decide(query, recalled, max(0, spare))  # type: ignore[union-attr]
        if len(decisions) != len(recalled):
            raise MemorySessionError(
                f"the controller gave {len(decisions)} decisions for {len(recalled)} episodes",
                parameter="controller",
                session_id=self.session_id,
            )
        by_ordinal = {r.episode.ordinal: d for r, d in zip(recalled, decisions, strict=True)}
        out = []
        for p in pieces:
            d = by_ordinal.get(p.ordinal) if p.kind == "episode" and p.ordinal is not None else None
            if d is None or d.action == "raw":
                out.append(p)
            elif d.action == "summary" and d.line.strip():
                out.append(p.model_copy(update={"text": d.line.strip(), "shortened": True}))
        return out

    async def asummary(self) -> MemorySummary:
        """The compact memory: current level-1 and level-2 summaries and the level-2 history."""
        row = self.state.session(self.session_id)
        history = self.state.history(self.session_id, 2)
        return MemorySummary(
            session_id=self.session_id,
            items=row["items"],
            level1=row["level1"],
            level2=row["level2"],
            folds=len(history),
            level2_history=history,
        )

    def episodes(self, start: int = 0, stop: int | None = None) -> list[Episode]:
        """Stored episodes with ordinals in ``[start, stop)``, oldest first."""
        return self.state.episodes(self.session_id, start, stop)

    async def aforget(self, ordinals: Sequence[int] | None = None) -> int:
        """Forget some episodes, or the whole session (summaries included) when None.

        Returns:
            How many episodes were removed.
        """
        async with self._lock():
            if ordinals is not None:
                present = [
                    e.ordinal for e in self.state.episodes(self.session_id, ordinals=ordinals)
                ]
                await self._delete(present)
                return len(present)
            n = self.state.count_episodes(self.session_id)
            await asyncio.to_thread(self._drop_collection)
            self.state.delete_session(self.session_id)
            self.state.session(self.session_id)  # the id stays usable, empty
            return n

    def _drop_collection(self) -> None:
        from chromadb.errors import NotFoundError

        name = collection_name(self.session_id)
        client = self.store.client
        self._store = None
        with contextlib.suppress(NotFoundError, ValueError):  # never embedded: nothing to drop
            client.delete_collection(name)

    def close(self) -> None:
        """Release the sync loop and the SQLite connection."""
        if self._portal is not None:
            self._portal.close()
            self._portal = None
        self.state.close()

    def __enter__(self) -> HierarchicalMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
