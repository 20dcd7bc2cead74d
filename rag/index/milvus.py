"""Clauses in Milvus: dense + sparse (BM25) vectors and filter fields, one collection per index.

``RAG_MILVUS_URI`` chooses the engine: a local file path ending in ``.db`` runs Milvus
Lite inside the process (no server; what the tests use), ``http://host:19530`` talks to
Milvus standalone or a distributed cluster (credentials as ``http://user:pass@host`` or
``RAG_MILVUS_TOKEN``; :func:`safe_uri` drops them before anything is written down).

Each row is one clause: its id (primary key), the dense passage vector (inner product),
the project's own BM25 sparse vector (:mod:`rag.index.sparse`, over the jieba tokens of
:mod:`rag.index.tokenize`, so the tokens and scores are today's ``bm25s`` ones — Milvus's
built-in BM25 function with its jieba analyzer would tokenise differently: no domain
dictionary options beyond a word list, no character bigrams, no NFKC or stop words), and
scalar fields for filters: ``doc_no``, ``doc_key`` (the 文号, or the title of a document
without one, in the loose form of :func:`normalize_key`), ``issuer``, ``date``, ``kind``
and ``status`` (validity, empty when unknown), plus ``seq``, the clause's position in
index order, which breaks score ties the way the FAISS path does.

Searches: :meth:`MilvusIndex.dense_search` and :meth:`MilvusIndex.sparse_search` (each
side on its own, with scores, for callers that fuse themselves) and
:meth:`MilvusIndex.hybrid_search` (both in one request, fused by Milvus's RRF ranker).
Writes are upserts and deletes by clause id, so an update touches only what changed.
``pymilvus`` (and ``milvus-lite``) are the optional extra ``[scale]``, imported lazily.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from rag.errors import IndexError_, InputError

ID_MAX = 512
SHORT_MAX = 256
DATE_MAX = 16
SEARCH_EF = 128
EMPTY_TOKEN_ID = 2**32 - 2  # sparse ids are uint32; vocabularies never get this far
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
SCALAR_FIELDS = ("doc_no", "doc_key", "issuer", "date", "kind", "status")
_DOCKEY_BRACKETS = str.maketrans(
    {"[": "〔", "]": "〕", "［": "〔", "］": "〕", "【": "〔", "】": "〕"}
)


def normalize_key(doc_key: str) -> str:
    """Loose form of a 文号 or title for exact matching: no spaces, one kind of bracket."""
    return re.sub(r"\s+", "", doc_key).translate(_DOCKEY_BRACKETS)


def is_lite(uri: str) -> bool:
    """A local file (Milvus Lite) rather than a server URI."""
    return "://" not in uri


def safe_uri(uri: str) -> str:
    """The URI without user, password or token, for manifests and messages."""
    if is_lite(uri):
        return str(Path(uri).expanduser())
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _escape(value: str, *, like: bool = False) -> str:
    """The inside of a Milvus string literal; with ``like``, ``%`` and ``_`` stay literal."""
    v = value.replace("\\", "\\\\").replace('"', '\\"')
    if like:
        # the pattern's own escape is a backslash, itself escaped inside the literal
        v = v.replace("%", "\\\\%").replace("_", "\\\\_")
    return v


def _literal(value: str) -> str:
    return f'"{_escape(value)}"'


@dataclass(frozen=True)
class MilvusFilter:
    """Filters as Milvus understands them; every field set must match.

    ``doc_key`` is compared with both the 文号 and the title-or-文号 key (loose form);
    ``issuer`` is a substring; ``date_from``/``date_to`` are inclusive prefixes of ISO
    dates (``2014`` takes all of 2014), and undated clauses never match a date filter.
    """

    doc_key: str | None = None
    issuer: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    kind: str | None = None
    status: str | None = None

    def expression(self) -> str:
        parts: list[str] = []
        if self.doc_key:
            k = _literal(normalize_key(self.doc_key))
            parts.append(f"(doc_no == {k} or doc_key == {k})")
        if self.issuer:
            parts.append(f'issuer like "%{_escape(self.issuer, like=True)}%"')
        if self.kind:
            parts.append(f"kind == {_literal(self.kind)}")
        if self.status:
            parts.append(f"status == {_literal(self.status)}")
        if self.date_from or self.date_to:
            parts.append('date != ""')
        if self.date_from:
            parts.append(f"date >= {_literal(self.date_from)}")
        if self.date_to:
            # "~" sorts after digits and "-": every date starting with date_to is <= it
            parts.append(f"date <= {_literal(self.date_to + '~')}")
        return " and ".join(parts)


@dataclass
class ClauseRow:
    """One clause as stored in Milvus."""

    id: str
    dense: np.ndarray
    sparse: dict[int, float]
    seq: int
    doc_no: str = ""
    doc_key: str = ""
    issuer: str = ""
    date: str = ""
    kind: str = ""
    status: str = ""

    def to_entity(self) -> dict[str, Any]:
        if len(self.id) > ID_MAX:
            raise InputError(f"clause id longer than {ID_MAX} characters: {self.id[:40]}…")
        ent: dict[str, Any] = {
            "id": self.id,
            "dense": np.asarray(self.dense, dtype=np.float32).tolist(),
            # Milvus wants a non-zero weight in every sparse row: a clause without tokens
            # gets a reserved id that no query vector has
            "sparse": {int(k): float(v) for k, v in self.sparse.items() if v}
            or {EMPTY_TOKEN_ID: 1.0},
            "seq": int(self.seq),
        }
        for name in SCALAR_FIELDS:
            value = str(getattr(self, name))
            if name == "doc_key" or name == "doc_no":
                value = normalize_key(value)
            ent[name] = value[: DATE_MAX if name == "date" else SHORT_MAX]
        return ent


def _one_line(e: BaseException) -> str:
    msg = getattr(e, "message", None) or str(e) or type(e).__name__
    return str(msg).strip().splitlines()[0]


class MilvusIndex:
    """One collection of clause rows in a Milvus (Lite file or server)."""

    def __init__(
        self,
        uri: str,
        collection: str,
        dim: int,
        *,
        token: str = "",
        dense_index: str = "HNSW",
    ) -> None:
        if not uri:
            raise InputError(
                "RAG_MILVUS_URI is empty: give a file path (*.db) or http://host:19530"
            )
        if is_lite(uri) and not uri.endswith(".db"):
            raise InputError(f"a Milvus Lite path must end in .db: {uri}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", collection):
            raise InputError(f"bad Milvus collection name {collection!r}")
        self.uri = uri
        self.collection = collection
        self.dim = int(dim)
        self.token = token
        self.dense_index = dense_index.upper()
        self._client: Any = None
        self._lock = threading.Lock()
        self._loaded = False

    # ------------------------------------------------------------------ connection

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    from pymilvus import MilvusClient
                except ImportError as e:
                    raise IndexError_(
                        "the Milvus backend needs the scale extra: pip install -e '.[scale]'"
                    ) from e
                uri = self.uri
                if is_lite(uri):
                    Path(uri).expanduser().parent.mkdir(parents=True, exist_ok=True)
                    uri = str(Path(uri).expanduser())
                try:
                    self._client = MilvusClient(uri=uri, token=self.token)
                except Exception as e:
                    raise IndexError_(
                        f"cannot connect to Milvus at {safe_uri(self.uri)}: {_one_line(e)}"
                    ) from e
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                try:
                    self._client.close()
                finally:
                    self._client = None
                    self._loaded = False

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (IndexError_, InputError):
            raise
        except Exception as e:
            raise IndexError_(
                f"Milvus {what} failed on {self.collection} at {safe_uri(self.uri)}: {_one_line(e)}"
            ) from e

    # ------------------------------------------------------------------ schema

    def exists(self) -> bool:
        return bool(self._call("lookup", self.client.has_collection, self.collection))

    def create(self, *, drop: bool = False) -> None:
        """Create the collection (and its indexes); with ``drop``, replace an existing one."""
        from pymilvus import DataType

        c = self.client
        if self.exists():
            if not drop:
                return
            self._call("drop", c.drop_collection, self.collection)
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=ID_MAX)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("seq", DataType.INT64)
        for name in SCALAR_FIELDS:
            schema.add_field(
                name, DataType.VARCHAR, max_length=DATE_MAX if name == "date" else SHORT_MAX
            )
        ip = c.prepare_index_params()
        params = (
            {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}
            if self.dense_index == "HNSW"
            else {}
        )
        ip.add_index("dense", index_type=self.dense_index, metric_type="IP", params=params)
        ip.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        self._call("create", c.create_collection, self.collection, schema=schema, index_params=ip)

    def drop(self) -> None:
        if self.exists():
            self._call("drop", self.client.drop_collection, self.collection)

    def describe(self) -> dict[str, Any]:
        """What a manifest records: backend, URI without secrets, collection, dim, index."""
        return {
            "backend": "milvus-lite" if is_lite(self.uri) else "milvus",
            "uri": safe_uri(self.uri),
            "collection": self.collection,
            "dim": self.dim,
            "dense_index": self.dense_index,
        }

    # ------------------------------------------------------------------ writes

    def upsert(self, rows: Iterable[ClauseRow], *, batch_size: int = 500) -> int:
        """Insert or replace rows by id; returns how many were written."""
        n = 0
        batch: list[dict[str, Any]] = []
        for row in rows:
            ent = row.to_entity()
            if len(ent["dense"]) != self.dim:
                raise IndexError_(
                    f"clause {row.id} has a {len(ent['dense'])}-dim vector, "
                    f"the collection {self.dim}"
                )
            batch.append(ent)
            if len(batch) >= batch_size:
                self._call("upsert", self.client.upsert, self.collection, batch)
                n += len(batch)
                batch = []
        if batch:
            self._call("upsert", self.client.upsert, self.collection, batch)
            n += len(batch)
        return n

    def delete(self, ids: Sequence[str]) -> int:
        """Delete rows by clause id (ids not present are ignored)."""
        if not ids:
            return 0
        n = 0
        for i in range(0, len(ids), 1000):
            chunk = list(ids[i : i + 1000])
            self._call("delete", self.client.delete, self.collection, ids=chunk)
            n += len(chunk)
        return n

    def flush(self) -> None:
        self._call("flush", self.client.flush, self.collection)

    # ------------------------------------------------------------------ reads

    def _ready(self) -> Any:
        """The client, with the collection loaded for reading (once per connection)."""
        c = self.client
        if not self._loaded:
            if not self.exists():
                raise IndexError_(
                    f"no Milvus collection {self.collection} at {safe_uri(self.uri)}: "
                    "run `rag index` to build it"
                )
            self._call("load", c.load_collection, self.collection)
            self._loaded = True
        return c

    def count(self) -> int:
        res = self._call(
            "count", self._ready().query, self.collection, filter="", output_fields=["count(*)"]
        )
        return int(res[0]["count(*)"])

    def ids(self) -> set[str]:
        """Every clause id in the collection."""
        it = self._call(
            "scan",
            self._ready().query_iterator,
            self.collection,
            batch_size=1000,
            output_fields=["id"],
        )
        out: set[str] = set()
        try:
            while True:
                batch = it.next()
                if not batch:
                    break
                out.update(str(r["id"]) for r in batch)
        finally:
            it.close()
        return out

    def get(
        self, ids: Sequence[str], fields: Sequence[str] = ("seq",)
    ) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        rows = self._call(
            "get", self._ready().get, self.collection, ids=list(ids), output_fields=list(fields)
        )
        return {str(r["id"]): {f: r.get(f) for f in fields} for r in rows}

    @staticmethod
    def _pairs(hits: Any) -> list[tuple[str, float, int]]:
        """(id, score, seq), best first; ties by index order like the FAISS path."""
        out = [(str(h["id"]), float(h["distance"]), int(h["entity"]["seq"])) for h in hits]
        out.sort(key=lambda p: (-p[1], p[2]))
        return out

    def dense_search(
        self, query: np.ndarray, n: int, flt: MilvusFilter | None = None
    ) -> list[tuple[str, float, int]]:
        """Top ``n`` (id, inner product, seq) for one query vector."""
        if n <= 0:
            return []
        q = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        res = self._call(
            "search",
            self._ready().search,
            self.collection,
            [q],
            anns_field="dense",
            limit=n,
            filter=flt.expression() if flt else "",
            output_fields=["seq"],
            search_params={"metric_type": "IP", "params": {"ef": max(SEARCH_EF, n)}},
        )
        return self._pairs(res[0])

    def sparse_search(
        self, query: dict[int, float], n: int, flt: MilvusFilter | None = None
    ) -> list[tuple[str, float, int]]:
        """Top ``n`` (id, BM25 score > 0, seq) for one sparse query vector."""
        if n <= 0 or not query:
            return []
        res = self._call(
            "search",
            self._ready().search,
            self.collection,
            [{int(k): float(v) for k, v in query.items()}],
            anns_field="sparse",
            limit=n,
            filter=flt.expression() if flt else "",
            output_fields=["seq"],
            search_params={"metric_type": "IP", "params": {"drop_ratio_search": 0.0}},
        )
        return [p for p in self._pairs(res[0]) if p[1] > 0]

    def hybrid_search(
        self,
        query: np.ndarray,
        sparse_query: dict[int, float],
        n: int,
        flt: MilvusFilter | None = None,
        *,
        candidates: int = 50,
        rrf_k: int = 60,
    ) -> list[tuple[str, float, int]]:
        """Top ``n`` (id, RRF score, seq): dense and sparse ``candidates`` deep, fused by
        Milvus's RRF ranker (sum of 1 / (rrf_k + rank)) in one request."""
        from pymilvus import AnnSearchRequest, RRFRanker

        if not sparse_query:
            return self.dense_search(query, n, flt)
        expr = flt.expression() if flt else ""
        q = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        reqs = [
            AnnSearchRequest(
                [q],
                "dense",
                {"metric_type": "IP", "params": {"ef": max(SEARCH_EF, candidates)}},
                limit=candidates,
                expr=expr or None,
            ),
            AnnSearchRequest(
                [{int(k): float(v) for k, v in sparse_query.items()}],
                "sparse",
                {"metric_type": "IP", "params": {"drop_ratio_search": 0.0}},
                limit=candidates,
                expr=expr or None,
            ),
        ]
        res = self._call(
            "hybrid search",
            self._ready().hybrid_search,
            self.collection,
            reqs,
            ranker=RRFRanker(rrf_k),
            limit=n,
            output_fields=["seq"],
        )
        return self._pairs(res[0])
