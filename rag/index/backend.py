"""Where the index's vectors are searched: FAISS files (default) or Milvus (``RAG_STORE``).

With ``RAG_STORE=milvus`` the index directory still holds every file it holds for FAISS
(the clause and unit records, the vectors the answerer reads, the manifest, which stays
the one truth about what is indexed), plus ``bm25_sparse.json`` (the BM25 statistics of
:mod:`rag.index.sparse`); the dense and BM25 searches go to two Milvus collections, one
for the clauses and one for the answer units (:mod:`rag.index.milvus`).

:func:`sync_milvus` brings the collections in line with a new build: when the previous
build went to the same collections with the same model (and the average clause length
has not drifted), only clauses and units that are new or changed are upserted and those
gone are deleted, by id; otherwise the collections are made anew. It runs before the new
index directory is swapped in; a crash in between leaves rows the old manifest does not
know, which the retriever ignores (hits are mapped to clauses by id through the local
records) and the next build repairs. The manifest records backend, URI without secrets,
collections and model; :func:`check_store` turns any mismatch with the settings into the
usual one-line ``rag index --rebuild`` error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexError_, InputError
from rag.index.sparse import Bm25Sparse

STORES = ("faiss", "milvus")
SPARSE_FILE = "bm25_sparse.json"
REBUILD_HINT = "run `rag index --rebuild`"


@dataclass(frozen=True)
class StoreConfig:
    """The chosen backend: ``faiss``, or ``milvus`` with its URI and collection name."""

    kind: str = "faiss"
    uri: str = ""
    token: str = ""
    collection: str = ""

    def __post_init__(self) -> None:
        if self.kind not in STORES:
            raise InputError(f"unknown RAG_STORE {self.kind!r}: use one of {', '.join(STORES)}")
        if self.kind == "milvus" and not self.uri:
            raise InputError("RAG_STORE=milvus needs RAG_MILVUS_URI (a *.db path or http://…)")

    @classmethod
    def from_settings(cls, settings: Any) -> StoreConfig:
        kind = str(settings.store).strip().lower() or "faiss"
        collection = settings.milvus_collection or default_collection(Path(settings.home))
        return cls(kind, settings.milvus_uri, settings.milvus_token, collection)

    @property
    def is_milvus(self) -> bool:
        return self.kind == "milvus"

    def clauses(self, dim: int, dense_index: str = "HNSW") -> Any:
        from rag.index.milvus import MilvusIndex

        return MilvusIndex(
            self.uri, self.collection, dim, token=self.token, dense_index=dense_index
        )

    def units(self, dim: int, dense_index: str = "HNSW") -> Any:
        from rag.index.milvus import MilvusIndex

        return MilvusIndex(
            self.uri, f"{self.collection}_units", dim, token=self.token, dense_index=dense_index
        )


def default_collection(home: Path) -> str:
    """``rag_<10 hex>``: one collection per RAG_HOME (its resolved path hashed)."""
    h = hashlib.sha256(str(Path(home).expanduser().resolve()).encode()).hexdigest()[:10]
    return f"rag_{h}"


def unit_id(clause_id: str, index: int) -> str:
    return f"{clause_id}#u{index}"


def dense_index_kind(n: int, ann_threshold: int) -> str:
    """Exact search below the threshold (as the FAISS path), HNSW above it."""
    return "FLAT" if n < ann_threshold else "HNSW"


# --------------------------------------------------------------------------- build


def _signature(rec: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(rec.get(k, "")) for k in ("hash", "doc_no", "doc_key", "issuer", "date", "kind")
    )


def _previous(
    index_dir: Path, cfg: StoreConfig, embedder_name: str, dim: int
) -> tuple[dict[str, tuple[str, ...]], dict[str, str], float] | None:
    """Signatures of the clauses and units the previous build put into the same
    collections with the same model, and its avgdl; None when a full sync is due."""
    try:
        manifest = json.loads((index_dir / "manifest.json").read_text("utf-8"))
        st = manifest.get("store", {})
        if (
            st.get("backend") not in ("milvus", "milvus-lite")
            or st.get("collection") != cfg.collection
            or st.get("uri") != cfg.clauses(dim).describe()["uri"]
            or manifest["embedder"]["name"] != embedder_name
            or int(manifest["embedder"]["dim"]) != dim
        ):
            return None
        avgdl = float(json.loads((index_dir / SPARSE_FILE).read_text("utf-8"))["avgdl"])
        clauses: dict[str, tuple[str, ...]] = {}
        ids: list[str] = []
        with (index_dir / "clauses.jsonl").open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    rec["doc_key"] = rec.get("doc_no") or rec.get("doc_title", "")
                    clauses[rec["id"]] = _signature(rec)
                    ids.append(rec["id"])
        units: dict[str, str] = {}
        with (index_dir / "units.jsonl").open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    units[unit_id(ids[int(rec["clause"])], int(rec["index"]))] = str(rec["hash"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    return clauses, units, avgdl


def sync_milvus(
    cfg: StoreConfig,
    *,
    index_dir: Path,
    out_dir: Path,
    records: Sequence[Mapping[str, Any]],
    tokens: Sequence[Sequence[str]],
    vectors: np.ndarray,
    unit_records: Sequence[tuple[str, str, int]],
    unit_vectors: np.ndarray,
    embedder_name: str,
    ann_threshold: int,
    rebuild: bool = False,
) -> dict[str, Any]:
    """Make the collections match this build; write ``bm25_sparse.json`` into ``out_dir``.

    ``records`` are the clause records as written to clauses.jsonl (id, hash, doc_no,
    doc_title, issuer, date, kind), ``tokens`` their BM25 tokens, ``unit_records``
    (unit id, content hash, unit row). Returns the manifest's ``store`` entry.
    """
    from rag.index.milvus import ClauseRow

    dim = int(vectors.shape[1])
    n, m = len(records), len(unit_records)
    kind_c = dense_index_kind(n, ann_threshold)
    kind_u = dense_index_kind(m, ann_threshold)
    clauses_db = cfg.clauses(dim, kind_c)
    units_db = cfg.units(dim, kind_u)
    prev = None if rebuild else _previous(index_dir, cfg, embedder_name, dim)

    bm25 = Bm25Sparse.fit(tokens)
    full = prev is None
    if prev is not None:
        bm25.avgdl = prev[2]  # keep the stored rows' length normalisation …
        if bm25.drifted():  # … until the corpus has changed too much for it
            bm25.avgdl = bm25.current_avgdl()
            full = True
    if not full and (not clauses_db.exists() or not units_db.exists()):
        full = True

    if full:
        clauses_db.create(drop=True)
        units_db.create(drop=True)
        old_c: dict[str, tuple[str, ...]] = {}
        old_u: dict[str, str] = {}
    else:
        assert prev is not None
        old_c, old_u = prev[0], prev[1]

    rows = []
    for i, rec in enumerate(records):
        r = {**rec, "doc_key": rec.get("doc_no") or rec.get("doc_title", "")}
        if old_c.get(rec["id"]) == _signature(r):
            continue
        rows.append(
            ClauseRow(
                id=rec["id"],
                dense=vectors[i],
                sparse=bm25.doc_vector(tokens[i]),
                seq=i,
                doc_no=str(rec.get("doc_no", "")),
                doc_key=str(r["doc_key"]),
                issuer=str(rec.get("issuer", "")),
                date=str(rec.get("date", "")),
                kind=str(rec.get("kind", "")),
                status=str(rec.get("status", "")),
            )
        )
    new_ids = {rec["id"] for rec in records}
    gone = [cid for cid in old_c if cid not in new_ids]
    n_up = clauses_db.upsert(rows)
    clauses_db.delete(gone)

    urows = [
        ClauseRow(id=uid, dense=unit_vectors[row], sparse={}, seq=row)
        for uid, h, row in unit_records
        if old_u.get(uid) != h
    ]
    new_uids = {uid for uid, _, _ in unit_records}
    ugone = [uid for uid in old_u if uid not in new_uids]
    n_uup = units_db.upsert(urows)
    units_db.delete(ugone)
    clauses_db.flush()
    units_db.flush()
    count = clauses_db.count()
    if count != n:
        raise IndexError_(
            f"Milvus collection {cfg.collection} holds {count} clauses after the update, "
            f"expected {n}: {REBUILD_HINT}"
        )
    bm25.save(out_dir / SPARSE_FILE)
    info = clauses_db.describe()
    clauses_db.close()
    units_db.close()
    return {
        **info,
        "units_collection": units_db.collection,
        "units_dense_index": kind_u,
        "synced": {
            "full": full,
            "clauses_upserted": n_up,
            "clauses_deleted": len(gone),
            "units_upserted": n_uup,
            "units_deleted": len(ugone),
        },
    }


# --------------------------------------------------------------------------- load


def check_store(manifest: Mapping[str, Any], cfg: StoreConfig | None, index_dir: Path) -> None:
    """Raise a one-line IndexError_ when the index was built for another backend."""
    if cfg is None:
        return
    st = manifest.get("store", {"backend": "faiss"})
    built = "milvus" if str(st.get("backend", "faiss")).startswith("milvus") else "faiss"
    if built != cfg.kind:
        raise IndexError_(
            f"index at {index_dir} was built for RAG_STORE={built}, "
            f"but the settings ask for {cfg.kind}: {REBUILD_HINT}"
        )
    if cfg.is_milvus:
        from rag.index.milvus import safe_uri

        if st.get("uri") != safe_uri(cfg.uri) or st.get("collection") != cfg.collection:
            raise IndexError_(
                f"index at {index_dir} was built into Milvus {st.get('uri')} "
                f"collection {st.get('collection')}, but the settings ask for "
                f"{safe_uri(cfg.uri)} collection {cfg.collection}: {REBUILD_HINT}"
            )


def open_milvus(
    manifest: Mapping[str, Any], cfg: StoreConfig, index_dir: Path, n: int
) -> tuple[Any, Bm25Sparse]:
    """The clause collection (checked to hold ``n`` rows) and the BM25 statistics."""
    st = manifest["store"]
    dim = int(manifest["embedder"]["dim"])
    db = cfg.clauses(dim, str(st.get("dense_index", "HNSW")))
    count = db.count()
    if count != n:
        raise IndexError_(
            f"Milvus collection {cfg.collection} holds {count} clauses, the index at "
            f"{index_dir} has {n}: {REBUILD_HINT}"
        )
    return db, Bm25Sparse.load(index_dir / SPARSE_FILE)
