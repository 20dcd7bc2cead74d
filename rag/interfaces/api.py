"""HTTP API (FastAPI). The same JSON shapes as the CLI; no logic beyond presentation.

The assistant (model, index, corpus) is loaded once per process and shared read-only by
all requests. When another process (or an upload here) changes the index or the corpus
store, :class:`State` notices (a stat of both files, at most every
``RAG_RELOAD_CHECK_SECONDS``), loads the new state in the background and swaps it in
atomically; requests in flight finish on the state they started with.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Header, HTTPException, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

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


class FeedbackIn(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION)
    answer: str = Field(max_length=20_000)
    citations: list[dict[str, Any]] = Field(default_factory=list, max_length=20)
    verdict: str = Field(pattern="^(helpful|wrong)$")
    comment: str = Field(default="", max_length=2000)


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
                    self._assistant = Assistant(self.settings)
                    self._index_stamp = stamp
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
        corpus_changed = (
            self._corpus is not None and _stamp(self.settings.corpus_db) != self._corpus_stamp
        )
        return index_changed or corpus_changed

    def _reload(self) -> None:
        """Load what changed on disk and swap it in; on failure keep serving the old."""
        with self._reload_lock:
            old = self._assistant
            stamp = _stamp(self._manifest())
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
                    log.info("index reloaded: %s clauses", len(new.index.clauses))
            cstamp = _stamp(self.settings.corpus_db)
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


def create_api(settings: Settings | None = None, state: State | None = None) -> FastAPI:
    settings = settings or Settings()
    st = state or State(settings)
    app = FastAPI(
        title="policy-rag API",
        description="Answers from Chinese policy texts with 文号 and clause citations.",
        version="1",
    )
    app.state.rag = st
    from rag.interfaces.upload import UploadSizeLimit

    app.add_middleware(UploadSizeLimit, path="/api/docs", max_mb=settings.max_upload_mb)

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
        return [d.to_json() for d in st.corpus.documents]

    @app.get("/api/docs/{doc_no}", dependencies=guarded)
    def doc(doc_no: str) -> dict[str, Any]:
        d = find_document(st.corpus, doc_no)
        out = d.to_json()
        out["text"] = d.text
        out["clauses"] = [_clause(c) for c in d.clauses]
        return out

    changes: dict[int | str, dict[str, Any]] = {
        401: {"description": "missing or wrong X-API-Key (when RAG_API_KEY is set)"},
        404: {"description": "no such document"},
        503: {"description": "another writer is changing the corpus, or no usable index"},
    }

    @app.post(
        "/api/docs",
        dependencies=guarded,
        responses={
            **changes,
            400: {"description": "not a file type the pipeline reads"},
            413: {"description": f"over RAG_MAX_UPLOAD_MB ({settings.max_upload_mb:g} MB)"},
            422: {"description": "no file, or a file that cannot be read or parsed"},
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

        with saved_upload(file.file, file.filename, settings.max_upload_mb) as path:
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

    @app.delete("/api/docs/{doc_no}", dependencies=guarded, responses=changes)
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

    @app.get("/api/docs/{doc_no}/history", dependencies=guarded, responses=changes)
    def history(doc_no: str) -> list[dict[str, Any]]:
        """What was ingested, replaced, removed (or status-set) for one document, and when."""
        from rag.ingest.changes import history_of

        return [e.to_json() for e in history_of(st.corpus, doc_no)]

    @app.get("/api/docs/{doc_no}/clauses/{label}", dependencies=guarded)
    def clause(doc_no: str, label: str) -> list[dict[str, Any]]:
        d = find_document(st.corpus, doc_no)
        return [_clause(c) for c in find_clauses(d, label)]

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
