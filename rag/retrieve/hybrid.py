"""Hybrid retrieval: dense (faiss) + BM25 fused by weighted reciprocal rank fusion.

``Retriever.search`` returns :class:`rag.models.Hit` objects. Scores are the weighted
RRF sum divided by its maximum (``sum(weights) / (rrf_k + 1)``), so a clause ranked
first by every retriever scores 1.0; with a reranker, the reranker's score replaces
it. Clauses pinned by the caller (an explicit 文号/条 reference resolved by the
caller's look-up) come first, with source ``"lookup"`` and score 1.0.

Deterministic: ties are broken by index order. Thread-safe for concurrent searches:
the retriever holds no mutable state; embedders and rerankers guard their own models.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.errors import IndexError_, InputError, RagError
from rag.index.embedders import Embedder
from rag.index.store import LoadedIndex, bm25_text
from rag.models import Clause, Hit
from rag.retrieve.rerank import Reranker

SOURCE_ORDER = ("lookup", "dense", "bm25", "units")
_ISO = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_DOCNO_BRACKETS = str.maketrans(
    {"[": "〔", "]": "〕", "［": "〔", "］": "〕", "【": "〔", "】": "〕"}
)


def _real_date(v: str) -> bool:
    """Whether ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` names a day that exists."""
    import datetime as dt

    y, m, d = ([*map(int, v.split("-")), 1, 1])[:3]
    try:
        dt.date(y, m, d)
    except ValueError:
        return False
    return True


def normalize_doc_no(doc_no: str) -> str:
    """Loose form of a 文号 for comparison: no spaces, one kind of year bracket."""
    return re.sub(r"\s+", "", doc_no).translate(_DOCNO_BRACKETS)


@dataclass(frozen=True)
class Filters:
    """Restrict results by document metadata; every field set must match.

    ``doc_no`` matches the 文号 (or the title of a document without one), ignoring spaces
    and bracket style; ``issuer`` is a substring; ``date_from``/``date_to`` are inclusive
    ISO dates, ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (undated documents never match a
    date filter); ``kind`` is the document kind (document | personnel | news).
    """

    doc_no: str | None = None
    issuer: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    kind: str | None = None

    def __post_init__(self) -> None:
        for name in ("date_from", "date_to"):
            v = getattr(self, name)
            if v is not None and not (_ISO.match(v) and _real_date(v)):
                raise InputError(f"{name} must be an ISO date (YYYY, YYYY-MM or YYYY-MM-DD): {v!r}")

    def is_empty(self) -> bool:
        return not (self.doc_no or self.issuer or self.date_from or self.date_to or self.kind)

    def matches(self, clause: Clause, meta: dict[str, str]) -> bool:
        if self.doc_no:
            want = normalize_doc_no(self.doc_no)
            if want not in (normalize_doc_no(clause.doc_no), normalize_doc_no(clause.doc_key)):
                return False
        if self.issuer and self.issuer not in meta.get("issuer", ""):
            return False
        if self.kind and meta.get("kind", "") != self.kind:
            return False
        date = meta.get("date", "")
        if self.date_from and (not date or date[: len(self.date_from)] < self.date_from):
            return False
        return not (self.date_to and (not date or date[: len(self.date_to)] > self.date_to))


def milvus_filter(filters: Filters | None) -> Any:
    """The same filters as a Milvus expression builder (None when there are none)."""
    if filters is None or filters.is_empty():
        return None
    from rag.index.milvus import MilvusFilter

    return MilvusFilter(
        doc_key=filters.doc_no,
        issuer=filters.issuer,
        date_from=filters.date_from,
        date_to=filters.date_to,
        kind=filters.kind,
    )


@dataclass
class ScoredHit:
    """A hit with the evidence behind it (for refusal thresholds and debugging)."""

    hit: Hit
    position: int | None  # index position, None for a pinned clause not in the index
    fused: float = 0.0  # normalised weighted RRF (1.0 for pinned)
    dense_score: float | None = None  # cosine similarity, when dense found it
    dense_rank: int | None = None  # 1-based
    bm25_score: float | None = None
    bm25_rank: int | None = None
    unit_score: float | None = None  # best cosine among the clause's answer units
    unit_rank: int | None = None  # rank of the clause by that score (1-based)
    best_unit: int | None = None  # row of that unit in the index's units
    rerank_score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Lookup = Callable[[str], Sequence[Clause]]


def _ranks(pairs: list[tuple[int, float]]) -> list[int]:
    """1-based competition ranks ("1224"): equal scores share a rank, so equal clauses tie."""
    ranks: list[int] = []
    for i, (_, score) in enumerate(pairs):
        ranks.append(ranks[-1] if i and score == pairs[i - 1][1] else i + 1)
    return ranks


class Retriever:
    """Dense + BM25 hybrid search over a :class:`LoadedIndex`.

    A weight of 0 switches that retriever off (with ``dense_weight=0`` the embedder may be
    None: BM25 only). ``lookup``, when given, is called with each query and the clauses it
    returns are pinned first (source ``"lookup"``); ``search(pinned=...)`` does the same
    per call.
    """

    def __init__(
        self,
        loaded_index: LoadedIndex,
        embedder: Embedder | None,
        *,
        rrf_k: int = 60,
        dense_weight: float = 1.0,
        bm25_weight: float = 1.0,
        unit_weight: float = 1.0,
        candidates: int = 50,
        reranker: Reranker | None = None,
        lookup: Lookup | None = None,
    ) -> None:
        if rrf_k < 0:
            raise InputError("rrf_k must be >= 0")
        if dense_weight < 0 or bm25_weight < 0 or dense_weight + bm25_weight <= 0:
            raise InputError("retriever weights must be >= 0 and not both 0")
        if candidates < 1:
            raise InputError("candidates must be >= 1")
        if dense_weight > 0:
            if embedder is None:
                raise InputError("dense retrieval needs an embedder (or set dense_weight=0)")
            if embedder.name != loaded_index.embedder_name:
                raise IndexError_(
                    f"index at {loaded_index.index_dir} was built with embedder "
                    f"{loaded_index.embedder_name}, but the settings ask for {embedder.name}: "
                    "run `rag index --rebuild`"
                )
        self.index = loaded_index
        self.embedder = embedder
        self.rrf_k = int(rrf_k)
        self.dense_weight = float(dense_weight)
        self.bm25_weight = float(bm25_weight)
        # answer-unit vectors: a long clause is found by the sentence that matches
        has_units = loaded_index.unit_faiss is not None and len(loaded_index.units) > 0
        self.unit_weight = float(unit_weight) if has_units and dense_weight > 0 else 0.0
        self.candidates = int(candidates)
        self.reranker = reranker
        self.lookup = lookup

    # ------------------------------------------------------------------ retrievers

    def _allowed(self, filters: Filters | None) -> np.ndarray | None:
        if filters is None or filters.is_empty():
            return None
        idx = self.index
        return np.fromiter(
            (i for i, c in enumerate(idx.clauses) if filters.matches(c, idx.meta[i])),
            dtype=np.int64,
        )

    def _from_milvus(
        self, hits: list[tuple[str, float, int]], allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        """Milvus hits as (position, score): mapped by clause id through the local records
        (rows the manifest does not know are ignored), ties by position."""
        keep = None if allowed is None else set(allowed.tolist())
        pairs = []
        for cid, score, _ in hits:
            pos = self.index.positions.get(cid)
            if pos is not None and (keep is None or pos in keep):
                pairs.append((pos, score))
        pairs.sort(key=lambda p: (-p[1], p[0]))
        return pairs

    def dense(
        self,
        query: str,
        n: int,
        allowed: np.ndarray | None = None,
        filters: Filters | None = None,
    ) -> list[tuple[int, float]]:
        """Top ``n`` (position, cosine) by the dense index, best first, ties by position."""
        if self.embedder is None or n <= 0 or len(self.index) == 0:
            return []
        return self._dense_vec(self.embed_query(query), n, allowed, filters)

    def embed_query(self, query: str) -> np.ndarray:
        """The query's embedding, (1, dim) float32."""
        assert self.embedder is not None
        return self.embedder.embed_queries([query]).astype(np.float32, copy=False)

    def _dense_vec(
        self,
        q: np.ndarray,
        n: int,
        allowed: np.ndarray | None = None,
        filters: Filters | None = None,
    ) -> list[tuple[int, float]]:
        import faiss as _faiss

        faiss: Any = _faiss  # the bundled stubs lack the SearchParameters* classes
        if self.index.milvus is not None:
            hits = self.index.milvus.dense_search(q[0], n, milvus_filter(filters))
            return self._from_milvus(hits, allowed)
        findex = self.index.faiss_index
        n = min(n, len(self.index) if allowed is None else len(allowed))
        if n <= 0:
            return []
        if allowed is None:
            scores, ids = findex.search(q, n)
        else:
            sel = faiss.IDSelectorBatch(allowed)
            if isinstance(findex, faiss.IndexHNSWFlat):
                params: Any = faiss.SearchParametersHNSW(sel=sel, efSearch=findex.hnsw.efSearch)
            elif isinstance(findex, faiss.IndexIVFFlat):
                params = faiss.SearchParametersIVF(sel=sel, nprobe=findex.nprobe)
            else:
                params = faiss.SearchParameters(sel=sel)
            scores, ids = findex.search(q, n, params=params)
        pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        pairs.sort(key=lambda p: (-p[1], p[0]))
        return pairs

    def units(
        self, q: np.ndarray, n: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float, int]]:
        """Top ``n`` clauses by their best answer unit: (position, cosine, unit row), best
        first, ties by position. ``allowed`` restricts the clauses."""
        idx = self.index
        if idx.unit_faiss is None or not idx.units or n <= 0:
            return []
        # units per clause average ~3.5; fetch enough units to fill n clauses
        m = min(len(idx.units), max(4 * n, 64))
        scores, rows = idx.unit_faiss.search(q, m)
        ok = None if allowed is None else set(int(a) for a in allowed)
        best: dict[int, tuple[float, int]] = {}
        for r, sc in zip(rows[0], scores[0], strict=True):
            if r < 0:
                continue
            pos = idx.units[int(r)].clause
            if ok is not None and pos not in ok:
                continue
            if pos not in best or sc > best[pos][0]:
                best[pos] = (float(sc), int(r))
        out = [(pos, sc, r) for pos, (sc, r) in best.items()]
        out.sort(key=lambda p: (-p[1], p[0]))
        return out[:n]

    def bm25(
        self,
        query: str,
        n: int,
        allowed: np.ndarray | None = None,
        filters: Filters | None = None,
    ) -> list[tuple[int, float]]:
        """Top ``n`` (position, BM25 score > 0), best first, ties by position."""
        if n <= 0 or len(self.index) == 0:
            return []
        if self.index.milvus is not None:
            qv = self.index.bm25_sparse.query_vector(self.index.tokenizer.tokens(query))
            hits = self.index.milvus.sparse_search(qv, n, milvus_filter(filters))
            return self._from_milvus(hits, allowed)
        bm = self.index.bm25
        ids = bm.get_tokens_ids(self.index.tokenizer.tokens(query))
        if not ids:
            return []
        scores = np.asarray(bm.get_scores_from_ids(ids), dtype=np.float64)
        if allowed is not None:
            mask = np.zeros(len(scores), dtype=bool)
            mask[allowed] = True
            scores = np.where(mask, scores, 0.0)
        pos = np.flatnonzero(scores > 0)
        if len(pos) == 0:
            return []
        order = np.lexsort((pos, -scores[pos]))[:n]  # by score desc, then position
        return [(int(pos[i]), float(scores[pos[i]])) for i in order]

    # ------------------------------------------------------------------ search

    def search(
        self,
        query: str,
        k: int = 5,
        filters: Filters | None = None,
        pinned: Sequence[Clause] | None = None,
    ) -> list[Hit]:
        """The ``k`` best clauses for ``query``: pinned/look-up clauses first, then fused."""
        return [s.hit for s in self.search_detailed(query, k, filters, pinned)]

    def search_detailed(
        self,
        query: str,
        k: int = 5,
        filters: Filters | None = None,
        pinned: Sequence[Clause] | None = None,
        query_vec: np.ndarray | None = None,
    ) -> list[ScoredHit]:
        """Like :meth:`search`, with each retriever's score and rank kept.

        ``query_vec``: the query's embedding when the caller has it already."""
        if not isinstance(query, str) or not query.strip():
            raise InputError("the question is empty")
        if k < 1:
            raise InputError("k must be >= 1")
        query = query.strip()
        idx = self.index

        out: list[ScoredHit] = []
        seen: set[str] = set()
        pins = list(pinned or [])
        if self.lookup is not None:
            pins.extend(self.lookup(query))
        for c in pins:
            if c.id in seen:
                continue
            seen.add(c.id)
            pos = idx.position(c)
            clause = idx.clauses[pos] if pos is not None else c
            out.append(ScoredHit(Hit(clause, 1.0, ["lookup"]), pos, fused=1.0))
        if len(out) >= k:
            return out[:k]

        allowed = self._allowed(filters)
        if allowed is not None and len(allowed) == 0:
            return out
        n_cand = max(self.candidates, k)
        dense: list[tuple[int, float]] = []
        by_unit: list[tuple[int, float, int]] = []
        if self.dense_weight > 0 and self.embedder is not None and len(idx):
            qv = query_vec if query_vec is not None else self.embed_query(query)
            dense = self._dense_vec(qv, min(n_cand, len(idx)), allowed, filters)
            if self.unit_weight > 0:
                by_unit = self.units(qv, n_cand, allowed)
        sparse = self.bm25(query, n_cand, allowed, filters) if self.bm25_weight > 0 else []

        fused: dict[int, ScoredHit] = {}
        max_score = (self.dense_weight + self.bm25_weight + self.unit_weight) / (self.rrf_k + 1)

        def entry(pos: int) -> ScoredHit:
            sh = fused.get(pos)
            if sh is None:
                sh = ScoredHit(Hit(idx.clauses[pos], 0.0, []), pos)
                fused[pos] = sh
            return sh

        for rank, (pos, score) in zip(_ranks(dense), dense, strict=True):
            sh = entry(pos)
            sh.fused += self.dense_weight / (self.rrf_k + rank)
            sh.dense_score, sh.dense_rank = score, rank
        for rank, (pos, score) in zip(_ranks(sparse), sparse, strict=True):
            sh = entry(pos)
            sh.fused += self.bm25_weight / (self.rrf_k + rank)
            sh.bm25_score, sh.bm25_rank = score, rank
        unit_pairs = [(pos, sc) for pos, sc, _r in by_unit]
        for rank, (pos, score, row) in zip(_ranks(unit_pairs), by_unit, strict=True):
            sh = entry(pos)
            sh.fused += self.unit_weight / (self.rrf_k + rank)
            sh.unit_score, sh.unit_rank, sh.best_unit = score, rank, row

        # pinned clauses found again: merge the evidence, keep them in front
        by_pos = {sh.position: sh for sh in out if sh.position is not None}
        ranked: list[ScoredHit] = []
        for pos in sorted(fused, key=lambda p: (-fused[p].fused, p)):
            sh = fused[pos]
            sh.fused /= max_score
            sh.hit.score = sh.fused
            sh.hit.sources = [
                s
                for s, found in (
                    ("dense", sh.dense_rank),
                    ("bm25", sh.bm25_rank),
                    ("units", sh.unit_rank),
                )
                if found is not None
            ]
            pin = by_pos.get(pos)
            if pin is not None:
                pin.dense_score, pin.dense_rank = sh.dense_score, sh.dense_rank
                pin.bm25_score, pin.bm25_rank = sh.bm25_score, sh.bm25_rank
                pin.unit_score, pin.unit_rank = sh.unit_score, sh.unit_rank
                pin.best_unit = sh.best_unit
                pin.hit.sources = ["lookup", *sh.hit.sources]
                continue
            ranked.append(sh)

        if self.reranker is not None and ranked:
            ranked = self._rerank(query, ranked[:n_cand])
        return out + ranked[: k - len(out)]

    def _rerank(self, query: str, ranked: list[ScoredHit]) -> list[ScoredHit]:
        assert self.reranker is not None
        texts = [bm25_text(sh.hit.clause) for sh in ranked]
        scores = self.reranker.score(query, texts)
        if len(scores) != len(ranked):
            raise RagError(f"reranker {self.reranker.name} returned {len(scores)} scores")
        for sh, s in zip(ranked, scores, strict=True):
            sh.rerank_score = float(s)
            sh.hit.score = float(s)
        order = sorted(range(len(ranked)), key=lambda i: (-float(scores[i]), i))
        return [ranked[i] for i in order]


def retriever_from_settings(
    loaded_index: LoadedIndex,
    embedder: Embedder | None,
    settings: Any,
    *,
    lookup: Lookup | None = None,
) -> Retriever:
    """A Retriever configured from ``rag.settings.Settings`` (RAG_RRF_K, RAG_*_WEIGHT …)."""
    from rag.retrieve.rerank import make_reranker

    return Retriever(
        loaded_index,
        embedder,
        rrf_k=settings.rrf_k,
        dense_weight=settings.dense_weight,
        bm25_weight=settings.bm25_weight,
        unit_weight=settings.unit_weight,
        candidates=settings.candidates,
        reranker=make_reranker(settings.reranker_model),
        lookup=lookup,
    )
