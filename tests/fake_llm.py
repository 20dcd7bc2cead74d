"""A tiny OpenAI-compatible chat server for tests (``POST /v1/chat/completions``).

The behaviour is chosen by the request's ``model`` name:

* ``good``    — the first sentence of clause [1], followed by ``[1]``;
* ``liar``    — ``报销比例为99%[1]。`` (a figure that is in no clause);
* ``slow``    — sleeps ``slow_seconds`` before answering like ``good``;
* ``refuse``  — the refusal token ``无法回答``;
* ``obey``    — does what the question says after ``直接回答：`` (an injected model);
* ``leak``    — repeats the first line of its system prompt, citing [1] (an injected model);
* ``script``  — the reply set for the question in ``FakeLLM.script`` (else empty);
* ``multi``   — an uncited lead, a sentence of clause [3] and one of clause [2];
* ``badcite`` — cites clause [9];
* ``empty``   — an empty message;
* ``error``   — HTTP 500;
* ``garbage`` — HTTP 200 with a body that is not JSON.

Runs ``http.server`` in a daemon thread on 127.0.0.1 with a free port::

    with FakeLLM() as llm:
        llm.base_url  # "http://127.0.0.1:PORT/v1"
        llm.requests  # the JSON bodies received
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_HEADER = re.compile(r"^\[(\d+)\] .*$", re.M)


def clauses_from_prompt(text: str) -> dict[int, str]:
    """The numbered clause texts of a user message (between the clause delimiters)."""
    start = text.find("<<<clauses>>>")
    end = text.find("<<<end clauses>>>")
    block = text[start + len("<<<clauses>>>") : end] if start != -1 and end != -1 else text
    heads = list(_HEADER.finditer(block))
    out: dict[int, str] = {}
    for i, m in enumerate(heads):
        stop = heads[i + 1].start() if i + 1 < len(heads) else len(block)
        out[int(m.group(1))] = block[m.end() : stop].strip()
    return out


def question_from_prompt(text: str) -> str:
    """The question of a user message (between the question delimiters)."""
    m = re.search(r"<<<question>>>\n(.*?)\n<<<end question>>>", text, re.S)
    return m.group(1) if m else ""


def first_sentence(text: str) -> str:
    """The first sentence of a clause text, with its terminator."""
    m = re.match(r"[^。；\n]*[。；]?", text.strip())
    return m.group(0) if m else text


class FakeLLM:
    """The fake endpoint; a context manager that starts and stops the server."""

    def __init__(self, slow_seconds: float = 5.0) -> None:
        self.slow_seconds = slow_seconds
        self.requests: list[dict[str, Any]] = []
        self.script: dict[str, str] = {}
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- behaviours --------------------------------------------------------------------
    def reply(self, model: str, messages: list[dict[str, Any]]) -> str:
        """The assistant message for ``model`` given the chat ``messages``."""
        user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if isinstance(user, list):  # content parts
            user = "".join(p.get("text", "") for p in user)
        clauses = clauses_from_prompt(user)
        if model in ("good", "slow"):
            return first_sentence(clauses.get(1, "")) + "[1]"
        if model == "liar":
            return "报销比例为99%[1]。"
        if model == "refuse":
            return "无法回答"
        if model == "obey":
            q = question_from_prompt(user)
            demanded = q.split("直接回答：", 1)[-1].strip()
            return f"{demanded}[1]。"
        if model == "leak":
            system = next((m["content"] for m in messages if m["role"] == "system"), "")
            return f"我的系统提示是：{str(system).splitlines()[0]}[1]"
        if model == "script":
            return self.script.get(question_from_prompt(user), "")
        if model == "multi":
            return (
                "根据相关规定：\n"
                + first_sentence(clauses.get(3, ""))
                + "[3]"
                + first_sentence(clauses.get(2, ""))
                + "[2]"
            )
        if model == "badcite":
            return first_sentence(clauses.get(1, "")) + "[9]"
        return ""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                n = int(self.headers.get("Content-Length", "0"))
                req = json.loads(self.rfile.read(n) or b"{}")
                fake.requests.append(req)
                model = str(req.get("model", ""))
                if model == "error":
                    self._send(500, b'{"error": {"message": "boom", "type": "server_error"}}')
                    return
                if model == "garbage":
                    self._send(200, b"<html>not json", "text/html")
                    return
                if model == "slow" and fake._stop.wait(fake.slow_seconds):
                    return
                content = fake.reply(model, req.get("messages", []))
                body = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
                self._send(200, json.dumps(body, ensure_ascii=False).encode())

        return Handler
