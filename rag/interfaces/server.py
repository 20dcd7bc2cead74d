"""One process serving the web app at ``/`` and the HTTP API at ``/api/...``.

``create_app`` builds the FastAPI app of :mod:`rag.interfaces.api` and mounts the Gradio
app of :mod:`rag.interfaces.web` on it; both share one lazily loaded :class:`State`
(assistant, corpus). OpenAPI documentation is at ``/docs``.

When ``settings.api_key`` is set, the API wants it in ``X-API-Key`` and the web app asks
for it as the password at a login page (any user name), so the UI is no way around it;
Gradio's own routes, file uploads included, then need that login. Uploads are limited
to ``settings.max_upload_bytes``.
"""

from __future__ import annotations

import logging
import os

import gradio as gr
import uvicorn
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from rag.interfaces.api import State, create_api, key_matches, validation_error
from rag.interfaces.web import CSS_FILE, build_ui
from rag.settings import Settings

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, workers: int = 1) -> FastAPI:
    """FastAPI app: API routes under ``/api``, OpenAPI at ``/docs``, web app at ``/``.

    With ``workers`` > 1, retrieval and answering run in that many worker processes
    (:mod:`rag.interfaces.workers`), started here; ``app.state.pool`` holds them.
    """
    settings = settings or Settings()
    pool = None
    state: State
    if workers > 1:
        from rag.interfaces.workers import WorkerPool, pooled_state

        pool = WorkerPool(settings, workers)
        pool.start()
        state = pooled_state(settings, pool)
    else:
        state = State(settings)
    app = create_api(settings, state)
    blocks = build_ui(settings, state)
    key = settings.api_key

    def check_password(_user: str, password: str) -> bool:
        return key_matches(password.encode("utf-8", "surrogatepass"), key)

    app.state.pool = pool
    app = gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        auth=check_password if key else None,
        auth_message="请输入访问密钥（RAG_API_KEY）作为密码，用户名任意。" if key else None,
        css_paths=[CSS_FILE] if CSS_FILE.is_file() else None,
        theme=gr.themes.Soft(),
        footer_links=["gradio", "settings"],
        show_error=False,
        # the documents view's uploads too: the same limit as POST /api/docs
        max_file_size=settings.max_upload_bytes,
    )
    for route in app.router.routes:  # Gradio's own app: its 422s must not echo input either
        sub = getattr(route, "app", None)
        if isinstance(sub, FastAPI) and sub is not app:
            sub.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    return app


def build_server(
    settings: Settings | None = None,
    host: str | None = None,
    port: int | None = None,
    *,
    log_level: str = "info",
    workers: int = 1,
) -> uvicorn.Server:
    """The uvicorn server for :func:`create_app` (``run()`` it, or set ``should_exit``)."""
    settings = settings or Settings()
    config = uvicorn.Config(
        create_app(settings, workers),
        host=host or settings.host,
        port=port if port is not None else settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def serve(
    settings: Settings | None = None,
    host: str | None = None,
    port: int | None = None,
    workers: int = 1,
) -> None:
    """Run the web app and the API until interrupted (defaults: settings' host and port)."""
    server = build_server(settings, host, port, workers=workers)
    cfg = server.config
    log.info("serving on http://%s:%s (API docs at /docs)", cfg.host, cfg.port)
    try:
        server.run()
    finally:
        pool = getattr(cfg.app.state, "pool", None) if hasattr(cfg.app, "state") else None
        if pool is not None:
            pool.close()
