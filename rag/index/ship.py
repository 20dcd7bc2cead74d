"""The vectors shipped with the project: the shipped corpus's clause and answer-unit
vectors for the default model, as one read-only segment of the content-hash cache
(``data/vector-cache/<embedder>/seg-shipped.npz``, float16), so that a fresh clone's
first ``rag index`` embeds nothing and CI does not embed the corpus from scratch.

Made from a built index (``python -m rag.index.ship INDEX_DIR``); a changed text or
another model simply misses the segment and is embedded as usual.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from rag.index.cache import HASH_BYTES, slug

SEGMENT = "seg-shipped.npz"


def _hashes(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["hash"] for line in f if line.strip()]


def export_shipped(index_dir: Path, out_root: Path) -> Path:
    """Write the clause and unit vectors of the index at ``index_dir`` as one float16
    segment under ``out_root`` (atomically); returns the segment's path."""
    manifest = json.loads((index_dir / "manifest.json").read_text("utf-8"))
    name, dim = str(manifest["embedder"]["name"]), int(manifest["embedder"]["dim"])
    hashes: list[str] = []
    parts: list[np.ndarray] = []
    for records, vectors in (("clauses.jsonl", "vectors.npy"), ("units.jsonl", "unit_vectors.npy")):
        hs = _hashes(index_dir / records)
        vs = np.load(index_dir / vectors, allow_pickle=False)
        if vs.shape != (len(hs), dim):
            raise ValueError(f"{vectors} has shape {vs.shape}, expected {(len(hs), dim)}")
        hashes += hs
        parts.append(vs)
    every = np.concatenate(parts)
    first: dict[str, int] = {}
    for i, h in enumerate(hashes):
        first.setdefault(h, i)
    order = sorted(first)  # a stable file for the same texts
    out_dir = Path(out_root) / slug(name, dim)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".seg-", suffix=".npz", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(
                f,
                hashes=np.array([h.encode("ascii") for h in order], dtype=f"S{HASH_BYTES}"),
                vectors=every[[first[h] for h in order]].astype(np.float16),
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; this file is for everyone
        os.replace(tmp, out_dir / SEGMENT)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out_dir / SEGMENT


if __name__ == "__main__":  # pragma: no cover - a maintainer's command
    from rag.settings import SHIPPED_VECTORS

    if len(sys.argv) != 2:
        sys.exit("usage: python -m rag.index.ship INDEX_DIR   (writes data/vector-cache/)")
    print(export_shipped(Path(sys.argv[1]), SHIPPED_VECTORS))
