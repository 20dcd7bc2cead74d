"""The naive baseline: fixed-size character chunks of the repaired files, dense search.

No structure is used: each shipped file's repaired text (``clean_file_text`` of the raw
file, the same text ingestion starts from) is cut into consecutive 500-character windows,
embedded with the same model as the clauses (as passages) and searched by cosine.

Deciding whether a chunk "is" a gold clause (retrieval metrics): a gold citation
(document, clause) stands for the index clauses that the lenient metric accepts for it
(same article or same top outline item, :func:`rag.eval.metrics.clause_match`); a chunk
covers the citation when it comes from the same file as one of those clauses and shares at
least :func:`required_run` consecutive characters with that clause's text (40, or half
of a clause shorter than 80 characters but at least 20, or all of a clause shorter than
20), both in the evaluation's normal form (:func:`rag.eval.metrics.normalize_text`: no
whitespace or punctuation, numerals unified). Half a short clause is enough so that a
clause cut by a chunk boundary still counts. This is generous to the baseline: touching 40
characters of a long article counts as retrieving it, while the clause systems must rank
the clause itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from rag.models import Clause, Document

CHUNK_CHARS = 500
MIN_OVERLAP = 40


@dataclass(frozen=True)
class Chunk:
    """A window ``[start, end)`` of a file's repaired text."""

    file: str
    start: int
    end: int
    text: str


def chunk_text(text: str, size: int = CHUNK_CHARS, overlap: int = 0) -> list[tuple[int, int]]:
    """Consecutive ``size``-character windows ``(start, end)`` of ``text``.

    Windows step by ``size - overlap``; the last one may be shorter; windows holding only
    whitespace are dropped. ``chunk_text("abcdefg", 3) == [(0, 3), (3, 6), (6, 7)]``.
    """
    if size < 1:
        raise ValueError("chunk size must be >= 1")
    if not 0 <= overlap < size:
        raise ValueError("overlap must be >= 0 and smaller than the chunk size")
    out: list[tuple[int, int]] = []
    step = size - overlap
    for start in range(0, len(text), step):
        end = min(start + size, len(text))
        if text[start:end].strip():
            out.append((start, end))
        if end == len(text):
            break
    return out


def chunk_sources(
    texts: Mapping[str, str], size: int = CHUNK_CHARS, overlap: int = 0
) -> list[Chunk]:
    """Chunks of every file (file name → repaired text), files in name order."""
    out: list[Chunk] = []
    for name in sorted(texts):
        text = texts[name]
        out.extend(Chunk(name, s, e, text[s:e]) for s, e in chunk_text(text, size, overlap))
    return out


def shipped_texts(root: Path | None = None) -> dict[str, str]:
    """File name → repaired text of the shipped corpus files (what ingestion starts from)."""
    from rag.ingest.mojibake import clean_file_text
    from rag.ingest.pipeline import read_text, shipped_files
    from rag.settings import SHIPPED_CORPUS

    return {p.name: clean_file_text(read_text(p)) for p in shipped_files(root or SHIPPED_CORPUS)}


# --------------------------------------------------------------------------- matching


def norm(text: str) -> str:
    """The evaluation's normal form of a text (see :func:`rag.eval.metrics.normalize_text`)."""
    from rag.eval.metrics import normalize_text

    return normalize_text(text)


def required_run(length: int, min_chars: int = MIN_OVERLAP) -> int:
    """Consecutive characters a chunk must share with a clause of ``length`` characters.

    ``min_chars`` (40) for long clauses, half of a shorter clause but at least
    ``min_chars // 2``, and the whole clause when it is shorter than that:
    ``required_run(200) == 40``, ``required_run(68) == 34``, ``required_run(30) == 20``,
    ``required_run(12) == 12``.
    """
    floor = min(length, min_chars // 2)
    return min(min_chars, max(-(-length // 2), floor))


def shares_run(chunk_norm: str, clause_norm: str, min_chars: int = MIN_OVERLAP) -> bool:
    """Whether the normalised texts share :func:`required_run` consecutive characters."""
    if not clause_norm or not chunk_norm:
        return False
    n = required_run(len(clause_norm), min_chars)
    if len(chunk_norm) < n:
        return False
    if n == len(clause_norm):
        return clause_norm in chunk_norm
    grams = {chunk_norm[i : i + n] for i in range(len(chunk_norm) - n + 1)}
    return any(clause_norm[i : i + n] in grams for i in range(len(clause_norm) - n + 1))


@dataclass(frozen=True)
class GoldTarget:
    """What a chunk must overlap to cover one gold citation: (file, normalised text) pairs."""

    ref: Any  # rag.eval.metrics.Ref
    texts: tuple[tuple[str, str], ...]


def gold_targets(refs: Sequence[Any], clauses: Sequence[Clause]) -> list[GoldTarget]:
    """For each distinct gold ref, the texts of the clauses the lenient metric accepts for it."""
    from rag.eval.metrics import Ref, clause_match
    from rag.ingest.labels import split_label

    out: list[GoldTarget] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for g in refs:
        key = (g.doc, tuple(split_label(g.clause)))
        if key in seen:
            continue
        seen.add(key)
        texts = []
        for c in clauses:
            if Ref.of(c.doc_no, c.doc_title, c.label).doc != g.doc:
                continue
            if c.span is None or not clause_match(g.clause, c.label, lenient=True):
                continue
            texts.append((c.span.file, norm(c.text)))
        out.append(GoldTarget(g, tuple(texts)))
    return out


def covers(chunk: Chunk, chunk_norm: str, target: GoldTarget) -> bool:
    """Whether the chunk covers the gold target (same file, shared run of characters)."""
    return any(f == chunk.file and shares_run(chunk_norm, t) for f, t in target.texts)


def coverable(target: GoldTarget, chunks: Sequence[Chunk], norms: Sequence[str]) -> bool:
    """Whether any chunk at all covers the target (the baseline's ceiling)."""
    files = {f for f, _ in target.texts}
    return any(c.file in files and covers(c, norms[i], target) for i, c in enumerate(chunks))


def first_cover_ranks(
    ranked: Sequence[int], chunks: Sequence[Chunk], norms: Sequence[str], targets: list[GoldTarget]
) -> list[int | None]:
    """For each target, the 1-based rank of the first chunk in ``ranked`` covering it."""
    out: list[int | None] = []
    for t in targets:
        rank = None
        for r, i in enumerate(ranked, 1):
            if covers(chunks[i], norms[i], t):
                rank = r
                break
        out.append(rank)
    return out


def rank_scores(first_ranks: Sequence[int | None], ks: Sequence[int] = (3, 5, 10)) -> dict:
    """recall@k (share of targets covered in the top k) and MRR@10, like the clause metrics."""
    out: dict[str, float | None] = {}
    n = len(first_ranks)
    for k in ks:
        out[f"retrieval_recall@{k}"] = (
            sum(1 for r in first_ranks if r is not None and r <= k) / n if n else None
        )
    hits = [r for r in first_ranks if r is not None and r <= 10]
    out["mrr@10"] = (1.0 / min(hits) if hits else 0.0) if n else None
    return out


# --------------------------------------------------------------------------- documents


def line_of(text: str, offset: int) -> int:
    """1-based line number of character ``offset`` in ``text``."""
    return text.count("\n", 0, offset) + 1


def chunk_document(chunk: Chunk, text: str, documents: Sequence[Document]) -> Document | None:
    """The printed document of the chunk's file whose line span overlaps the chunk most."""
    first, last = line_of(text, chunk.start), line_of(text, max(chunk.start, chunk.end - 1))
    best: Document | None = None
    best_overlap = 0
    for d in documents:
        if not d.printed or d.source != chunk.file or d.span is None:
            continue
        ov = min(last, d.span.end_line) - max(first, d.span.start_line) + 1
        if ov > best_overlap:
            best, best_overlap = d, ov
    return best


# --------------------------------------------------------------------------- embeddings


def cache_key(embedder_name: str, chunks: Sequence[Chunk]) -> str:
    h = hashlib.sha256(embedder_name.encode())
    for c in chunks:
        h.update(f"\0{c.file}\0{c.start}\0".encode())
        h.update(c.text.encode())
    return h.hexdigest()[:16]


def chunk_vectors(
    chunks: Sequence[Chunk], embedder: Any, cache_dir: Path, *, progress: bool = True
) -> tuple[np.ndarray, bool]:
    """Passage embeddings of the chunks, cached as ``naive-<key>.npy`` (no pickle).

    Returns the (n, dim) float32 array and whether it came from the cache.
    """
    import numpy as np

    key = cache_key(embedder.name, chunks)
    path = cache_dir / f"naive-{key}.npy"
    if path.is_file():
        try:
            v = np.load(path, allow_pickle=False)
            if v.shape == (len(chunks), embedder.dim) and v.dtype == np.float32:
                return v, True
        except (OSError, ValueError):
            pass
    from tqdm import tqdm

    parts = []
    step = 32
    with tqdm(
        total=len(chunks), desc="embedding naive chunks", unit="chunk", disable=not progress
    ) as bar:
        for s in range(0, len(chunks), step):
            batch = [c.text for c in chunks[s : s + step]]
            parts.append(np.asarray(embedder.embed_passages(batch), dtype=np.float32))
            bar.update(len(batch))
    v = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, v, allow_pickle=False)
    tmp.replace(path)
    meta = {
        "embedder": embedder.name,
        "chunk_chars": max((c.end - c.start for c in chunks), default=0),
        "chunks": [{"file": c.file, "start": c.start, "end": c.end} for c in chunks],
    }
    path.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
    return v, False


def top_chunks(vectors: np.ndarray, query_vec: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` chunks most similar to the query, best first (ties by index)."""
    import numpy as np

    scores = vectors @ np.asarray(query_vec, dtype=np.float32).reshape(-1)
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [int(i) for i in order[:k]]
