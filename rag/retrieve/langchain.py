"""A LangChain ``BaseRetriever`` over :class:`rag.retrieve.hybrid.Retriever`.

Each hit becomes ``Document(page_content=clause text, metadata={doc_no, clause, title,
score, sources, clause_id})``.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.models import Hit
from rag.retrieve.hybrid import Filters, Retriever


def hit_to_document(hit: Hit) -> Document:
    c = hit.clause
    return Document(
        page_content=c.text,
        metadata={
            "doc_no": c.doc_no,
            "clause": c.label,
            "title": c.doc_title,
            "score": float(hit.score),
            "sources": list(hit.sources),
            "clause_id": c.id,
        },
    )


class PolicyRetriever(BaseRetriever):
    """LangChain adapter: ``PolicyRetriever(retriever=Retriever(...), k=5)``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Retriever
    k: int = 5
    filters: Filters | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        hits = self.retriever.search(
            query, k=int(kwargs.get("k", self.k)), filters=kwargs.get("filters", self.filters)
        )
        return [hit_to_document(h) for h in hits]
