"""HTTP API (FastAPI). The same JSON shapes as the CLI; no logic beyond presentation.

The assistant (model, index, corpus) is loaded once per process and shared
read-only by all requests.
"""

from __future__ import annotations

import secrets
import threading
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from rag.answer.service import Assistant, Turn
from rag.errors import IndexError_, InputError, NotFoundError, RagError
from rag.ingest import store
from rag.ingest.lookup import find_clauses, find_document
from rag.ingest.store import Corpus
from rag.retrieve.hybrid import Filters
from rag.settings import Settings

MAX_QUESTION = 2000  # hard cap on the request body field; the settings' limit applies too


class FiltersIn(BaseModel):
    doc_no: str | None = Field(default=None, max_length=64)
    issuer: str | None = Field(default=None, max_length=64)
    date_from: str | None = Field(default=None, max_length=10)
    date_to: str | None = Field(default=None, max_length=10)
    kind: str | None = Field(default=None, max_length=16)

    def to_filters(self) -> Filters | None:
        if not any((self.doc_no, self.issuer, self.date_from, self.date_to, self.kind)):
            return None
        doc_no = self.doc_no
        if doc_no:
            from rag.ingest.docno import canonical_doc_no

            doc_no = canonical_doc_no(doc_no)
        return Filters(doc_no, self.issuer, self.date_from, self.date_to, self.kind)


class TurnIn(BaseModel):
    question: str = Field(max_length=MAX_QUESTION)
    answer: str = Field(default="", max_length=20_000)


class AskIn(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    history: list[TurnIn] = Field(default_factory=list, max_length=20)
    filters: FiltersIn | None = None
    mode: str | None = Field(default=None, pattern="^(extractive|llm)$")
    k: int | None = Field(default=None, ge=1, le=20)
    id: str | None = Field(default=None, max_length=200)


class StatusIn(BaseModel):
    status: str = Field(
        max_length=16,
        description="现行有效, 尚未施行, 已过有效期, 已被废止, 未注明, or auto (as the text says)",
    )
    note: str = Field(default="", max_length=500)


class FeedbackIn(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    answer: str = Field(max_length=20_000)
    citations: list[dict[str, Any]] = Field(default_factory=list, max_length=20)
    verdict: str = Field(pattern="^(helpful|wrong)$")
    comment: str = Field(default="", max_length=2000)


class State:
    """Lazily loaded, shared, read-only state of the server process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._assistant: Assistant | None = None
        self._corpus: Corpus | None = None
        self._lock = threading.Lock()

    @property
    def assistant(self) -> Assistant:
        with self._lock:
            if self._assistant is None:
                self._assistant = Assistant(self.settings)
            return self._assistant

    @property
    def corpus(self) -> Corpus:
        with self._lock:
            if self._corpus is None:
                self._corpus = store.load(self.settings.corpus_db)
            return self._corpus

    def forget_corpus(self) -> None:
        """Drop the loaded corpus and the documents' validity: read again on next use."""
        with self._lock:
            self._corpus = None
            assistant = self._assistant
        if assistant is not None:
            assistant.reload_validity()


def create_api(settings: Settings | None = None, state: State | None = None) -> FastAPI:
    settings = settings or Settings()
    st = state or State(settings)
    app = FastAPI(
        title="policy-rag API",
        description="Answers from Chinese policy texts with 文号 and clause citations.",
        version="1",
    )
    app.state.rag = st

    @app.exception_handler(RagError)
    async def rag_error(_req: Request, exc: RagError) -> JSONResponse:
        code = 400
        if isinstance(exc, NotFoundError):
            code = 404
        elif isinstance(exc, IndexError_):
            code = 503
        elif not isinstance(exc, InputError):
            code = 422
        return JSONResponse({"detail": str(exc)}, status_code=code)

    def check_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        want = settings.api_key
        if want and not (x_api_key and secrets.compare_digest(x_api_key, want)):
            raise HTTPException(status_code=401, detail="missing or wrong X-API-Key")

    guarded = [Depends(check_key)]

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        try:
            a = st.assistant
            return {
                "status": "ok",
                "index_loaded": True,
                "clauses": len(a.index.clauses),
                "documents": len(st.corpus.printed()),
                "manifest": a.index.manifest,
            }
        except RagError as e:
            return {"status": "error", "index_loaded": False, "detail": str(e)}

    @app.post("/api/ask", dependencies=guarded)
    def ask(body: AskIn) -> dict[str, Any]:
        history = [Turn(t.question, t.answer) for t in body.history]
        filters = body.filters.to_filters() if body.filters else None
        ans = st.assistant.ask(
            body.question, k=body.k, mode=body.mode, filters=filters, history=history, id=body.id
        )
        return ans.to_json()

    @app.get("/api/search", dependencies=guarded)
    def search(
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUESTION)],
        k: Annotated[int, Query(ge=1, le=50)] = 5,
        doc_no: Annotated[str | None, Query(max_length=64)] = None,
        issuer: Annotated[str | None, Query(max_length=64)] = None,
        date_from: Annotated[str | None, Query(max_length=10)] = None,
        date_to: Annotated[str | None, Query(max_length=10)] = None,
        kind: Annotated[str | None, Query(max_length=16)] = None,
    ) -> list[dict[str, Any]]:
        f = FiltersIn(
            doc_no=doc_no, issuer=issuer, date_from=date_from, date_to=date_to, kind=kind
        ).to_filters()
        return [h.to_json() for h in st.assistant.search(q, k=k, filters=f)]

    @app.get("/api/docs", dependencies=guarded)
    def docs() -> list[dict[str, Any]]:
        as_of = settings.as_of_date
        return [d.to_json(as_of) for d in st.corpus.documents]

    @app.get("/api/docs/{doc_no}", dependencies=guarded)
    def doc(doc_no: str) -> dict[str, Any]:
        d = find_document(st.corpus, doc_no)
        out = d.to_json(settings.as_of_date)
        out["text"] = d.text
        out["clauses"] = [_clause(c) for c in d.clauses]
        return out

    @app.get("/api/docs/{doc_no}/clauses/{label}", dependencies=guarded)
    def clause(doc_no: str, label: str) -> list[dict[str, Any]]:
        d = find_document(st.corpus, doc_no)
        return [_clause(c) for c in find_clauses(d, label)]

    @app.put("/api/docs/{doc_no}/status", dependencies=guarded)
    def set_status(doc_no: str, body: StatusIn) -> dict[str, Any]:
        """Set a document's status by hand (recorded with the time; "auto" clears it)."""
        from rag.ingest.validity import new_mark

        corpus = store.load(settings.corpus_db)
        d = find_document(corpus, doc_no)
        corpus.status_marks.append(new_mark(d, body.status, body.note, by="api"))
        corpus.relink()
        store.save(corpus, settings.corpus_db)
        st.forget_corpus()
        return d.to_json(settings.as_of_date)

    @app.post("/api/feedback", dependencies=guarded)
    def feedback(body: FeedbackIn) -> dict[str, Any]:
        from rag.interfaces.feedback import FeedbackStore

        fid = FeedbackStore(settings.feedback_db).add(
            body.question, body.answer, body.citations, body.verdict, body.comment
        )
        return {"id": fid, "stored": True}

    return app


def _clause(c: Any) -> dict[str, Any]:
    return {
        "doc_no": c.doc_no,
        "title": c.doc_title,
        "clause": c.label,
        "part_title": c.part_title,
        "headings": c.headings,
        "text": c.text,
        "source": str(c.span) if c.span else "",
    }
