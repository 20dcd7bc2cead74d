"""HTTP API (FastAPI). The same JSON shapes as the CLI; no logic beyond presentation.

The assistant (model, index, corpus) is loaded once per process and shared
read-only by all requests.

Hostile input gets a short 4xx, never a 500: bodies are size-limited (413) and the
ask and feedback routes rate-limited per client (429) by the middleware of
:mod:`rag.interfaces.limits`; text must be valid Unicode; error messages repeat at most
a short prefix of what was sent; the key is compared as UTF-8 bytes.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator, model_validator

from rag.answer.service import Assistant, Turn
from rag.errors import IndexError_, InputError, NotFoundError, RagError
from rag.ingest import store
from rag.ingest.lookup import find_clauses, find_document
from rag.ingest.store import Corpus
from rag.retrieve.hybrid import Filters
from rag.settings import Settings

MAX_QUESTION = 2000  # hard cap on the request body field; the settings' limit applies too
MAX_CITATION = 20_000  # characters of one feedback citation, as JSON
ECHO = 100  # characters of the user's input an error message may repeat
_SURROGATE = re.compile("[\ud800-\udfff]")


def key_matches(given: bytes | None, want: str) -> bool:
    """Whether the presented key equals the configured one, compared as UTF-8 bytes in
    constant time (``compare_digest`` refuses non-ASCII ``str``, so any key is bytes)."""
    if not want or given is None:
        return False
    return secrets.compare_digest(given, want.encode("utf-8", "surrogateescape"))


def header_bytes(value: str | None) -> bytes | None:
    """A header value as the bytes the client sent (ASGI servers decode them as Latin-1)."""
    return value.encode("latin-1", "replace") if value is not None else None


def has_surrogate(data: Any) -> bool:
    """Whether any string in decoded JSON holds a lone surrogate (``"\\ud800"``): valid
    JSON, but not Unicode text; it cannot be stored, tokenised or sent back as UTF-8."""
    stack = [data]
    while stack:  # iterative: a deeply nested body must not exhaust the stack
        x = stack.pop()
        if isinstance(x, str):
            if _SURROGATE.search(x):
                return True
        elif isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, list | tuple):
            stack.extend(x)
    return False


def short(value: Any, n: int = ECHO) -> Any:
    """A short, sendable stand-in for user input in an error message: strings cut to
    ``n`` characters, lone surrogates escaped, large structures as a cut JSON string."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if not isinstance(value, str) and len(text) <= n and not _SURROGATE.search(text):
        return value
    if len(text) > n:
        text = text[:n] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class Body(BaseModel):
    """A JSON request body: all its text must be valid Unicode."""

    @model_validator(mode="before")
    @classmethod
    def _unicode_only(cls, data: Any) -> Any:
        if has_surrogate(data):
            raise ValueError("text must be valid Unicode: a lone surrogate such as \\ud800 is not")
        return data


class FiltersIn(Body):
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


class TurnIn(Body):
    question: str = Field(max_length=MAX_QUESTION)
    answer: str = Field(default="", max_length=20_000)


class AskIn(Body):
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    history: list[TurnIn] = Field(default_factory=list, max_length=20)
    filters: FiltersIn | None = None
    mode: str | None = Field(default=None, pattern="^(extractive|llm)$")
    k: int | None = Field(default=None, ge=1, le=20)
    id: str | None = Field(default=None, max_length=200)


class StatusIn(Body):
    status: str = Field(
        max_length=16,
        description="现行有效, 尚未施行, 已过有效期, 已被废止, 未注明, or auto (as the text says)",
    )
    note: str = Field(default="", max_length=500)


class FeedbackIn(Body):
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    answer: str = Field(max_length=20_000)
    citations: list[dict[str, Any]] = Field(default_factory=list, max_length=20)
    verdict: str = Field(pattern="^(helpful|wrong)$")
    comment: str = Field(default="", max_length=2000)

    @field_validator("citations")
    @classmethod
    def _bounded(cls, citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for c in citations:
            if len(json.dumps(c, ensure_ascii=False)) > MAX_CITATION:
                raise ValueError(f"each citation must be at most {MAX_CITATION} characters")
        return citations


class ErrorOut(BaseModel):
    """The body of every error but 422: one line saying what is wrong."""

    detail: str


_WHY = {
    400: "Bad input: a body that is not UTF-8 JSON, an empty or over-long question, "
    "an invalid filter or option.",
    401: "Missing or wrong X-API-Key (only when the server has RAG_API_KEY set).",
    404: "Unknown document or clause.",
    413: "Request body too large (RAG_MAX_BODY_BYTES).",
    429: "Too many requests from this client (RAG_RATE_ASK, RAG_RATE_FEEDBACK).",
    503: "No index or corpus loaded yet (run `rag ingest` and `rag index`).",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error ``codes`` a route can return."""
    out: dict[int | str, dict[str, Any]] = {}
    for c in codes:
        out[c] = {"model": ErrorOut, "description": _WHY[c]}
        if c == 429:
            out[c]["headers"] = _RETRY_AFTER
    return out


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
    install_limits(app, settings)

    @app.exception_handler(RagError)
    async def rag_error(_req: Request, exc: RagError) -> JSONResponse:
        code = 400
        if isinstance(exc, NotFoundError):
            code = 404
        elif isinstance(exc, IndexError_):
            code = 503
        elif not isinstance(exc, InputError):
            code = 422
        return JSONResponse({"detail": short(str(exc), 300)}, status_code=code)

    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]

    def has_key(x_api_key: Annotated[str | None, Header()] = None) -> bool:
        return not settings.api_key or key_matches(header_bytes(x_api_key), settings.api_key)

    # (plain defaults: a string annotation cannot name this closure)
    def check_key(ok: bool = Depends(has_key)) -> None:
        if not ok:
            raise HTTPException(status_code=401, detail="missing or wrong X-API-Key")

    guarded = [Depends(check_key)]

    @app.get("/api/health")
    def health(full: bool = Depends(has_key)) -> dict[str, Any]:
        try:
            a = st.assistant
            out = {
                "status": "ok",
                "index_loaded": True,
                "clauses": len(a.index.clauses),
                "documents": len(st.corpus.printed()),
                "manifest": a.index.manifest,
            }
        except RagError as e:
            out = {"status": "error", "index_loaded": False, "detail": str(e)}
        # with a key set, those without it learn only whether the service is up
        return out if full else {"status": out["status"]}

    @app.post("/api/ask", dependencies=guarded, responses=errors(400, 401, 413, 429, 503))
    def ask(body: AskIn) -> dict[str, Any]:
        history = [Turn(t.question, t.answer) for t in body.history]
        filters = body.filters.to_filters() if body.filters else None
        ans = st.assistant.ask(
            body.question, k=body.k, mode=body.mode, filters=filters, history=history, id=body.id
        )
        return ans.to_json()

    @app.get("/api/search", dependencies=guarded, responses=errors(400, 401, 503))
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

    @app.get("/api/docs", dependencies=guarded, responses=errors(401))
    def docs() -> list[dict[str, Any]]:
        as_of = settings.as_of_date
        return [d.to_json(as_of) for d in st.corpus.documents]

    @app.get("/api/docs/{doc_no}", dependencies=guarded, responses=errors(401, 404, 503))
    def doc(doc_no: str) -> dict[str, Any]:
        d = find_document(st.corpus, doc_no)
        out = d.to_json(settings.as_of_date)
        out["text"] = d.text
        out["clauses"] = [_clause(c) for c in d.clauses]
        return out

    @app.get(
        "/api/docs/{doc_no}/clauses/{label}",
        dependencies=guarded,
        responses=errors(401, 404, 503),
    )
    def clause(doc_no: str, label: str) -> list[dict[str, Any]]:
        d = find_document(st.corpus, doc_no)
        return [_clause(c) for c in find_clauses(d, label)]

    @app.put(
        "/api/docs/{doc_no}/status", dependencies=guarded, responses=errors(400, 401, 404, 413)
    )
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

    @app.post("/api/feedback", dependencies=guarded, responses=errors(400, 401, 413, 429))
    def feedback(body: FeedbackIn) -> dict[str, Any]:
        from rag.interfaces.feedback import FeedbackStore

        fid = FeedbackStore(settings.feedback_db).add(
            body.question, body.answer, body.citations, body.verdict, body.comment
        )
        return {"id": fid, "stored": True}

    return app


async def validation_error(_req: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 shape, repeating no more than a short prefix of the input."""
    detail = []
    for e in exc.errors()[:20]:
        item = {
            "type": e.get("type"),
            "loc": [short(x, 60) for x in e.get("loc", ())],
            "msg": short(str(e.get("msg", "")), 300),
            "input": short(e.get("input")),
        }
        if e.get("ctx"):
            item["ctx"] = {
                k: short(v if isinstance(v, int | float) else str(v)) for k, v in e["ctx"].items()
            }
        detail.append(item)
    return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)


def install_limits(app: FastAPI, settings: Settings) -> None:
    """Body size and rate limits, and security headers, on every response of ``app``.

    Raises:
        InputError: when a rate setting is not valid.
    """
    from rag.interfaces.headers import SecurityHeaders
    from rag.interfaces.limits import BodyLimit, RateLimit, parse_rate

    rates = {
        ("POST", "/api/ask"): parse_rate("RAG_RATE_ASK", settings.rate_ask),
        ("POST", "/api/feedback"): parse_rate("RAG_RATE_FEEDBACK", settings.rate_feedback),
    }
    # the last added runs first: headers on every answer, then rates, then sizes
    app.add_middleware(
        BodyLimit, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes
    )
    app.add_middleware(RateLimit, rates=rates)
    app.add_middleware(SecurityHeaders)


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
