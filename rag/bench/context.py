"""What the sections share in one run: settings, gold set, index, naive chunks (loaded once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.bench.common import DEFAULT_GOLD, log

if TYPE_CHECKING:
    import numpy as np

    from rag.bench.naive import Chunk
    from rag.eval.gold import GoldItem
    from rag.index.store import LoadedIndex
    from rag.ingest.store import Corpus
    from rag.settings import Settings


@dataclass
class Context:
    settings: Settings
    quick: bool = False
    gold_path: Path = DEFAULT_GOLD
    notes: list[str] = field(default_factory=list)
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def cache_dir(self) -> Path:
        return Path(self.settings.home) / "bench"

    def gold(self) -> list[GoldItem]:
        if "gold" not in self._cache:
            from rag.eval.gold import read_gold

            self._cache["gold"] = read_gold(self.gold_path)
        return list(self._cache["gold"])

    def corpus(self) -> Corpus:
        """The corpus store; the shipped corpus parsed in memory when the store is empty."""
        if "corpus" not in self._cache:
            from rag.ingest import store
            from rag.ingest.pipeline import ingest, shipped_files
            from rag.settings import SHIPPED_CORPUS

            corpus = store.load(self.settings.corpus_db)
            if not corpus.documents:
                log(f"corpus store {self.settings.corpus_db} is empty: parsing the shipped corpus")
                corpus, _ = ingest(shipped_files(SHIPPED_CORPUS), store.Corpus())
            self._cache["corpus"] = corpus
        return self._cache["corpus"]

    def ensure_index(self) -> None:
        """Build the index (``rag ingest && rag index``) when ``$RAG_HOME/index`` has none."""
        if self._cache.get("index_checked"):
            return
        s = self.settings
        if not (s.index_dir / "manifest.json").is_file():
            from rag.index.embedders import embedder_from_settings
            from rag.index.store import build_index
            from rag.ingest import store
            from rag.ingest.pipeline import ingest, shipped_files
            from rag.settings import SHIPPED_CORPUS

            msg = f"no index at {s.index_dir}: ran `rag ingest && rag index` first"
            log(msg + " (building now)")
            self.notes.append(msg)
            corpus = store.load(s.corpus_db)
            if not corpus.documents:
                corpus, _ = ingest(shipped_files(SHIPPED_CORPUS), corpus)
                store.save(corpus, s.corpus_db)
            self._cache.pop("corpus", None)
            build_index(
                corpus.clauses(),
                embedder_from_settings(s, progress=True),
                s.index_dir,
                faiss_kind=s.faiss_kind,
                documents=corpus.printed(),
                ann_threshold=s.ann_threshold,
            )
        self._cache["index_checked"] = True

    def embedder(self) -> Any:
        """The settings' embedder (one instance, model loaded once)."""
        if "embedder" not in self._cache:
            from rag.index.embedders import embedder_from_settings

            self._cache["embedder"] = embedder_from_settings(self.settings)
        return self._cache["embedder"]

    def query_cache(self) -> Any:
        """The embedder with query embeddings remembered (accuracy sections only)."""
        if "qcache" not in self._cache:
            from rag.bench.common import CachedQueryEmbedder

            self._cache["qcache"] = CachedQueryEmbedder(self.embedder())
        return self._cache["qcache"]

    def index(self) -> LoadedIndex:
        if "index" not in self._cache:
            from rag.index.store import load_index

            self.ensure_index()
            self._cache["index"] = load_index(self.settings.index_dir, self.embedder().name)
        return self._cache["index"]

    def naive(self) -> tuple[list[Chunk], list[str], np.ndarray, dict[str, str]]:
        """Naive chunks, their normal forms, their embeddings and the file texts."""
        if "naive" not in self._cache:
            from rag.bench.naive import chunk_sources, chunk_vectors, norm, shipped_texts

            texts = shipped_texts()
            chunks = chunk_sources(texts)
            vectors, cached = chunk_vectors(chunks, self.embedder(), self.cache_dir)
            log(
                f"naive baseline: {len(chunks)} chunks of {len(texts)} files "
                f"({'embeddings from cache' if cached else 'embedded now, cached'})"
            )
            self._cache["naive"] = (chunks, [norm(c.text) for c in chunks], vectors, texts)
        return self._cache["naive"]
