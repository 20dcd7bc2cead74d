"""Optional second-stage reranking (off by default: ``RAG_RERANKER_MODEL`` empty).

A :class:`Reranker` scores (query, passage) pairs; higher is better. The only
implementation wraps a local sentence-transformers ``CrossEncoder`` directory and never
downloads anything.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rag.errors import RagError


@runtime_checkable
class Reranker(Protocol):
    @property
    def name(self) -> str: ...

    def score(self, query: str, texts: list[str]) -> list[float]: ...


class CrossEncoderReranker:
    """A local cross-encoder model (loaded lazily on CPU, ``local_files_only``)."""

    def __init__(
        self, model_path: str | Path, *, batch_size: int = 16, max_length: int = 512
    ) -> None:
        path = Path(model_path).expanduser()
        if not path.exists():
            raise RagError(f"reranker model path does not exist: {model_path}")
        self.model_path = path.resolve()
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"cross-encoder:{self.model_path}"

    def _get(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import CrossEncoder
            except ImportError as e:  # pragma: no cover - depends on the install
                raise RagError(f"sentence-transformers is not installed: {e}") from e
            try:
                self._model = CrossEncoder(
                    str(self.model_path),
                    device="cpu",
                    local_files_only=True,
                    max_length=self.max_length,
                )
            except Exception as e:
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise RagError(f"cannot load reranker {self.model_path}: {first}") from e
        return self._model

    def score(self, query: str, texts: list[str]) -> list[float]:
        if not texts:
            return []
        with self._lock:
            model = self._get()
            out = model.predict(
                [(query, t) for t in texts],
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
        return [float(x) for x in out]


def make_reranker(model_path: str | Path | None) -> Reranker | None:
    """A CrossEncoderReranker for a non-empty path, else None (reranking off)."""
    if model_path is None or not str(model_path).strip():
        return None
    return CrossEncoderReranker(str(model_path).strip())
