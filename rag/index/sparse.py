"""BM25 as sparse vectors, over the project's own jieba tokens (:mod:`rag.index.tokenize`).

For a vector database that scores sparse vectors by inner product (Milvus), BM25 is
split in two so that the product is exactly the score ``bm25s`` gives (its default
"lucene" variant, k1 = 1.5, b = 0.75)::

    document vector  d[t] = tf / (tf + k1·(1 − b + b·|d| / avgdl))
    query vector     q[t] = count of t in the query · log(1 + (N − df + 0.5) / (df + 0.5))

The idf sits on the query side, so adding or removing a document changes only that
document's rows (plus the statistics here); avgdl stays the value the vectors were made
with (``avgdl``) until :meth:`Bm25Sparse.drifted` says a re-encoding is due.
Statistics are kept as one JSON file: the vocabulary (token → id, in first-seen order,
ids never reused) and each token's document frequency.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import IndexError_

K1 = 1.5
B = 0.75
FORMAT = "bm25-sparse/v1"


@dataclass
class Bm25Sparse:
    """Vocabulary, document frequencies and lengths of an indexed collection."""

    vocab: dict[str, int] = field(default_factory=dict)
    df: list[int] = field(default_factory=list)
    n_docs: int = 0
    total_len: int = 0
    avgdl: float = 0.0  # the value the stored document vectors were encoded with
    k1: float = K1
    b: float = B

    # ------------------------------------------------------------------ statistics

    @classmethod
    def fit(cls, docs: Iterable[Sequence[str]], *, k1: float = K1, b: float = B) -> Bm25Sparse:
        """Statistics of a whole collection (lists of tokens); fixes ``avgdl``."""
        model = cls(k1=k1, b=b)
        model.add(docs)
        model.avgdl = model.current_avgdl()
        return model

    def current_avgdl(self) -> float:
        return self.total_len / self.n_docs if self.n_docs else 0.0

    def add(self, docs: Iterable[Sequence[str]]) -> None:
        """Count documents in (new tokens get the next free ids)."""
        for toks in docs:
            self.n_docs += 1
            self.total_len += len(toks)
            for t in set(toks):
                i = self.vocab.get(t)
                if i is None:
                    i = self.vocab[t] = len(self.df)
                    self.df.append(0)
                self.df[i] += 1

    def remove(self, docs: Iterable[Sequence[str]]) -> None:
        """Count documents out (their tokens keep their ids)."""
        for toks in docs:
            self.n_docs -= 1
            self.total_len -= len(toks)
            for t in set(toks):
                i = self.vocab.get(t)
                if i is not None and self.df[i] > 0:
                    self.df[i] -= 1
        if self.n_docs < 0:
            raise IndexError_("BM25 statistics went negative: rebuild the index")

    def drifted(self, tolerance: float = 0.05) -> bool:
        """True when the average length moved more than ``tolerance`` from ``avgdl``."""
        cur = self.current_avgdl()
        if not self.avgdl:
            return bool(cur)
        return abs(cur - self.avgdl) / self.avgdl > tolerance

    # ------------------------------------------------------------------ vectors

    def idf(self, token_id: int) -> float:
        df = self.df[token_id]
        return math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))

    def doc_vector(self, tokens: Sequence[str]) -> dict[int, float]:
        """The document side: saturated, length-normalised term frequencies."""
        if not tokens:
            return {}
        avgdl = self.avgdl or self.current_avgdl() or 1.0
        norm = self.k1 * (1 - self.b + self.b * len(tokens) / avgdl)
        out: dict[int, float] = {}
        for t, tf in Counter(tokens).items():
            i = self.vocab.get(t)
            if i is not None:
                out[i] = tf / (tf + norm)
        return out

    def query_vector(self, tokens: Sequence[str]) -> dict[int, float]:
        """The query side: idf times how often the token occurs in the query."""
        out: dict[int, float] = {}
        for t, n in Counter(tokens).items():
            i = self.vocab.get(t)
            if i is not None and self.df[i] > 0:
                out[i] = n * self.idf(i)
        return out

    # ------------------------------------------------------------------ files

    def to_json(self) -> dict[str, Any]:
        tokens = sorted(self.vocab, key=self.vocab.__getitem__)
        return {
            "format": FORMAT,
            "k1": self.k1,
            "b": self.b,
            "n_docs": self.n_docs,
            "total_len": self.total_len,
            "avgdl": self.avgdl,
            "tokens": tokens,
            "df": [self.df[self.vocab[t]] for t in tokens],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Bm25Sparse:
        if d.get("format") != FORMAT:
            raise IndexError_(f"BM25 statistics in format {d.get('format')!r}, expected {FORMAT}")
        tokens = list(d["tokens"])
        return cls(
            vocab={t: i for i, t in enumerate(tokens)},
            df=[int(x) for x in d["df"]],
            n_docs=int(d["n_docs"]),
            total_len=int(d["total_len"]),
            avgdl=float(d["avgdl"]),
            k1=float(d["k1"]),
            b=float(d["b"]),
        )

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False), "utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Bm25Sparse:
        try:
            return cls.from_json(json.loads(Path(path).read_text("utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise IndexError_(
                f"cannot read BM25 statistics {path}: run `rag index --rebuild`"
            ) from e
