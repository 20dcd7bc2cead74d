"""HTTP API (FastAPI). The same JSON shapes as the CLI; no logic beyond presentation.

The assistant (model, index, corpus) is loaded once per process and shared read-only by
all requests. When another process (or an upload here) changes the index or the corpus
store, :class:`State` notices (a stat of both files, at most every
``RAG_RELOAD_CHECK_SECONDS``), loads the new state in the background and swaps it in
atomically; requests in flight finish on the state they started with. Each worker
process of ``rag serve --workers N`` holds its own State and so reloads on its own.

Hostile input gets a short 4xx, never a 500: bodies are size-limited (413) and the
ask and feedback routes rate-limited per client (429) by the middleware of
:mod:`rag.interfaces.limits`; text must be valid Unicode; error messages repeat at most
a short prefix of what was sent; the key is compared as UTF-8 bytes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Header, HTTPException, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator, model_validator

from rag.answer.service import Assistant, Turn
from rag.errors import BusyError, IndexError_, InputError, NotFoundError, RagError
from rag.ingest import store
from rag.ingest.lookup import find_clauses, find_document
from rag.ingest.store import Corpus
from rag.retrieve.hybrid import Filters
from rag.settings import Settings

MAX_QUESTION = 2000  # hard cap on the request body field; the settings' limit applies too
# a request that changes the corpus waits this long for another writer, then gets 503
API_LOCK_TIMEOUT = 30.0
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
    413: "Request body too large (RAG_MAX_BODY_BYTES; uploads RAG_MAX_UPLOAD_BYTES).",
    429: "Too many requests from this client (RAG_RATE_ASK, RAG_RATE_FEEDBACK).",
    503: "No index or corpus loaded yet (run `rag ingest` and `rag index`), or another "
    "writer is changing the corpus (try again later).",
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


log = logging.getLogger(__name__)

Stamp = tuple[int, int, int] | None


def _stamp(path: Any) -> Stamp:
    """Identity of the file as it is now (inode, mtime, size), None when missing.

    The index manifest is read through the ``index`` link, so a new version (a new
    directory) always gives a new inode.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class State:
    """The server process's shared, read-only state, reloaded when the files change.

    ``assistant`` and ``corpus`` are loaded on first use. After that, every access looks
    (at most every ``settings.reload_check_seconds``) at the index manifest and the corpus
    store; when one changed, a background thread loads the new one while requests go on
    with the old, then swaps it in with one assignment. :meth:`refresh` does the same
    now and waits (after a change made by this process).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._assistant: Assistant | None = None
        self._corpus: Corpus | None = None
        self._index_stamp: Stamp = None
        self._corpus_stamp: Stamp = None
        # the store as it was when the assistant read the documents' validity from it
        self._validity_stamp: Stamp = None
        self._lock = threading.Lock()  # first loads and swaps
        self._reload_lock = threading.Lock()  # one reload at a time
        self._last_check = 0.0

    def _manifest(self) -> Any:
        return self.settings.index_dir / "manifest.json"

    @property
    def assistant(self) -> Assistant:
        if self._assistant is None:
            with self._lock:
                if self._assistant is None:
                    stamp = _stamp(self._manifest())
                    vstamp = _stamp(self.settings.corpus_db)
                    self._assistant = Assistant(self.settings)
                    self._index_stamp, self._validity_stamp = stamp, vstamp
            return self._assistant
        self._maybe_reload()
        return self._assistant

    @property
    def corpus(self) -> Corpus:
        if self._corpus is None:
            with self._lock:
                if self._corpus is None:
                    stamp = _stamp(self.settings.corpus_db)
                    self._corpus = store.load(self.settings.corpus_db)
                    self._corpus_stamp = stamp
            return self._corpus
        self._maybe_reload()
        return self._corpus

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._last_check < self.settings.reload_check_seconds:
            return
        self._last_check = now
        if self._changed() and not self._reload_lock.locked():
            threading.Thread(target=self._reload, name="rag-reload", daemon=True).start()

    def _changed(self) -> bool:
        from rag.index.lifecycle import try_recover

        try:
            try_recover(self.settings)  # a writer that died half-way: finish its change
        except (OSError, RagError):
            log.warning("recovery of %s failed", self.settings.home, exc_info=True)
        index_changed = (
            self._assistant is not None and _stamp(self._manifest()) != self._index_stamp
        )
        cstamp = _stamp(self.settings.corpus_db)
        corpus_changed = (self._corpus is not None and cstamp != self._corpus_stamp) or (
            self._assistant is not None and cstamp != self._validity_stamp
        )
        return index_changed or corpus_changed

    def _reload(self) -> None:
        """Load what changed on disk and swap it in; on failure keep serving the old."""
        with self._reload_lock:
            old = self._assistant
            stamp = _stamp(self._manifest())
            cstamp = _stamp(self.settings.corpus_db)
            if old is not None and stamp != self._index_stamp:
                try:
                    new = Assistant(self.settings, embedder=old.embedder)
                except RagError as e:
                    # half-copied or damaged index: keep the old one until the next change
                    log.warning("new index not loaded, still serving the old one: %s", e)
                    self._index_stamp = stamp
                else:
                    with self._lock:
                        self._assistant, self._index_stamp = new, stamp
                        self._validity_stamp = cstamp
                    log.info("index reloaded: %s clauses", len(new.index.clauses))
            current = self._assistant
            if current is not None and cstamp != self._validity_stamp:
                # the store changed (a hand-set status, or a change without reindex): the
                # documents' validity is read again; the index stays
                try:
                    current.reload_validity()
                except RagError as e:
                    log.warning("validity not reloaded: %s", e)
                self._validity_stamp = cstamp
            if self._corpus is not None and cstamp != self._corpus_stamp:
                try:
                    corpus = store.load(self.settings.corpus_db)
                except RagError as e:
                    log.warning("new corpus store not loaded, still serving the old one: %s", e)
                    self._corpus_stamp = cstamp
                else:
                    with self._lock:
                        self._corpus, self._corpus_stamp = corpus, cstamp

    def refresh(self) -> None:
        """Reload now what changed on disk, and wait for it."""
        self._last_check = time.monotonic()
        self._changed()
        self._reload()

    def embedder_if_loaded(self) -> Any:
        """The loaded assistant's embedder (to reuse its model for a reindex), or None."""
        return self._assistant.embedder if self._assistant is not None else None

    def forget_corpus(self) -> None:
        """Drop the loaded corpus and the documents' validity: read again on next use."""
        with self._lock:
            self._corpus = None
            assistant = self._assistant
        if assistant is not None:
            stamp = _stamp(self.settings.corpus_db)
            assistant.reload_validity()
            self._validity_stamp = stamp


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
        from rag.interfaces.upload import TooLarge

        code = 400
        if isinstance(exc, NotFoundError):
            code = 404
        elif isinstance(exc, TooLarge):
            code = 413
        elif isinstance(exc, IndexError_ | BusyError):
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

    @app.post(
        "/api/docs",
        dependencies=guarded,
        responses={
            **errors(400, 401, 413, 503),
            422: {"description": "No file, or a file that cannot be read or holds no document."},
        },
    )
    def upload(
        file: Annotated[UploadFile, File(description="a policy file (.txt, .md …)")],
        confirm: Annotated[
            bool, Query(description="store and reindex; without it, only a preview")
        ] = False,
    ) -> dict[str, Any]:
        """Upload a document file: a preview of what would be stored, or (``confirm=true``)
        store it — replacing a stored document with the same 文号, or the same title and
        issuer — and update the index in the same step."""
        from rag.index.lifecycle import add_upload, preview_upload
        from rag.interfaces.upload import result_json, saved_upload

        with saved_upload(file.file, file.filename, settings.max_upload_bytes) as path:
            if not confirm:
                summary, parsed, before = preview_upload(settings, path)
                return result_json(summary, parsed, before, stored=False)
            outcome, summary, parsed = add_upload(
                settings,
                path,
                actor="api",
                embedder=st.embedder_if_loaded(),
                lock_timeout=API_LOCK_TIMEOUT,
            )
        st.refresh()
        out = result_json(summary, parsed, outcome.before or outcome.corpus, stored=outcome.changed)
        out["index"] = outcome.index_json()
        out["index_note"] = outcome.index_note
        return out

    @app.delete("/api/docs/{doc_no}", dependencies=guarded, responses=errors(400, 401, 404, 503))
    def retire(doc_no: str) -> dict[str, Any]:
        """Retire a document: it leaves the store and the index together."""
        from rag.index.lifecycle import remove

        outcome, d = remove(
            settings,
            doc_no,
            actor="api",
            embedder=st.embedder_if_loaded(),
            lock_timeout=API_LOCK_TIMEOUT,
        )
        st.refresh()
        return {
            "removed": d.to_json(),
            "index": outcome.index_json(),
            "index_note": outcome.index_note,
        }

    @app.get("/api/docs/{doc_no}/history", dependencies=guarded, responses=errors(400, 401, 404))
    def history(doc_no: str) -> list[dict[str, Any]]:
        """What was ingested, replaced, removed (or status-set) for one document, and when."""
        from rag.ingest.changes import history_of

        return [e.to_json() for e in history_of(st.corpus, doc_no)]

    @app.get(
        "/api/docs/{doc_no}/clauses/{label}",
        dependencies=guarded,
        responses=errors(401, 404, 503),
    )
    def clause(doc_no: str, label: str) -> list[dict[str, Any]]:
        d = find_document(st.corpus, doc_no)
        return [_clause(c) for c in find_clauses(d, label)]

    @app.put(
        "/api/docs/{doc_no}/status",
        dependencies=guarded,
        responses=errors(400, 401, 404, 413, 503),
    )
    def set_status(doc_no: str, body: StatusIn) -> dict[str, Any]:
        """Set a document's status by hand (recorded with the time; "auto" clears it)."""
        from rag.index.lifecycle import set_status as set_doc_status

        d = set_doc_status(
            settings, doc_no, body.status, body.note, actor="api", lock_timeout=API_LOCK_TIMEOUT
        )
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
