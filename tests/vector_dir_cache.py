"""A content-hash vector cache for the parallel-embedding tests: each ``put`` writes one
``.npy`` of vectors and one ``.txt`` of their hashes (atomically, hashes last), ``get``
reads them all. Same interface as ``rag.index.cache.VectorCache`` (get / put)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class DirCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def batches(self) -> list[Path]:
        return sorted(self.root.glob("*.txt"))

    def get(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        want = set(hashes)
        out: dict[str, np.ndarray] = {}
        for txt in self.batches():
            vecs = np.load(txt.with_suffix(".npy"), allow_pickle=False)
            for h, v in zip(txt.read_text("utf-8").split(), vecs, strict=True):
                if h in want:
                    out[h] = v
        return out

    def put(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        name = uuid.uuid4().hex
        npy, txt = self.root / f"{name}.npy", self.root / f"{name}.txt"
        np.save(self.root / f".{name}.tmp.npy", np.asarray(vectors, np.float32), allow_pickle=False)
        os.replace(self.root / f".{name}.tmp.npy", npy)
        (self.root / f".{name}.tmp").write_text("\n".join(hashes), "utf-8")
        os.replace(self.root / f".{name}.tmp", txt)
