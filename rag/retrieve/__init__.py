"""Hybrid retrieval (dense + BM25 + look-up) over the index; LangChain adapter in ``.langchain``."""

from rag.retrieve.hybrid import Filters, Retriever, ScoredHit, retriever_from_settings
from rag.retrieve.rerank import CrossEncoderReranker, Reranker, make_reranker

__all__ = [
    "CrossEncoderReranker",
    "Filters",
    "Reranker",
    "Retriever",
    "ScoredHit",
    "make_reranker",
    "retriever_from_settings",
]
