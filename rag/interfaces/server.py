"""One process serving the web app at ``/`` and the HTTP API at ``/api/...``.

``create_app`` builds the FastAPI app of :mod:`rag.interfaces.api` and mounts the Gradio
app of :mod:`rag.interfaces.web` on it; both share one lazily loaded :class:`State`
(assistant, corpus). OpenAPI documentation is at ``/docs``.

When ``settings.api_key`` is set, the API wants it in ``X-API-Key`` and the web app asks
for it as the password at a login page (any user name), so the UI is no way around it.
"""

from __future__ import annotations

import logging
import os
import secrets

import gradio as gr
import uvicorn
from fastapi import FastAPI

from rag.interfaces.api import State, create_api
from rag.interfaces.web import CSS_FILE, build_ui
from rag.settings import Settings

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """FastAPI app: API routes under ``/api``, OpenAPI at ``/docs``, web app at ``/``."""
    settings = settings or Settings()
    state = State(settings)
    app = create_api(settings, state)
    blocks = build_ui(settings, state)
    key = settings.api_key

    def check_password(_user: str, password: str) -> bool:
        return bool(key) and secrets.compare_digest(password.encode(), key.encode())

    return gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        auth=check_password if key else None,
        auth_message="请输入访问密钥（RAG_API_KEY）作为密码，用户名任意。" if key else None,
        css_paths=[CSS_FILE] if CSS_FILE.is_file() else None,
        theme=gr.themes.Soft(),
        footer_links=["gradio", "settings"],
        show_error=False,
        # the documents view's uploads: the same limit as POST /api/docs
        max_file_size=int(settings.max_upload_mb * 1024 * 1024),
    )


def build_server(
    settings: Settings | None = None,
    host: str | None = None,
    port: int | None = None,
    *,
    log_level: str = "info",
) -> uvicorn.Server:
    """The uvicorn server for :func:`create_app` (``run()`` it, or set ``should_exit``)."""
    settings = settings or Settings()
    config = uvicorn.Config(
        create_app(settings),
        host=host or settings.host,
        port=port if port is not None else settings.port,
        log_level=log_level,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


def serve(
    settings: Settings | None = None, host: str | None = None, port: int | None = None
) -> None:
    """Run the web app and the API until interrupted (defaults: settings' host and port)."""
    server = build_server(settings, host, port)
    cfg = server.config
    log.info("serving on http://%s:%s (API docs at /docs)", cfg.host, cfg.port)
    server.run()
