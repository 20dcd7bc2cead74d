"""Hostile requests to the API and the web app: never a 500, always a short 4xx.

The defects of issue 13 (items 3, 5, 6 and the smaller ones of 9), each with the
request that found it: a non-ASCII key, bodies too big for memory, floods, a lone
surrogate, impossible dates, an over-long history, uploads, missing security headers,
and a health check that told anyone the library versions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.interfaces.server import create_app
from rag.settings import Settings

RETIRED = "退休人员医保缴费年限要满多少年？"
FEEDBACK = {"question": "q", "answer": "a", "verdict": "helpful"}
UNICODE_KEY = "密钥-ключ-🔑"


def linked_home(base: Path, fake_home: Path) -> Path:
    """A RAG_HOME sharing the session's corpus and fake index, with its own feedback db."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "corpus.sqlite").symlink_to(fake_home / "corpus.sqlite")
    (base / "index").symlink_to(fake_home / "index", target_is_directory=True)
    return base


def make_client(home: Path, **settings: Any) -> TestClient:
    # server errors come back as 500 responses instead of being raised in the test
    app = create_app(Settings(home=home, embedder="fake", **settings))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, fake_home: Path) -> Path:
    return linked_home(tmp_path_factory.mktemp("hostile"), fake_home)


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[TestClient]:
    with make_client(home) as c:
        yield c


@pytest.fixture(scope="module")
def keyed(home: Path) -> Iterator[TestClient]:
    with make_client(home, api_key="s3cret") as c:
        yield c


def post_raw(client: TestClient, path: str, raw: bytes, **headers: Any) -> Any:
    return client.post(path, content=raw, headers={"content-type": "application/json", **headers})


def one_line(detail: Any) -> str:
    """The message of an error body: the string, or the first validation error's msg."""
    msg = detail if isinstance(detail, str) else detail[0]["msg"]
    assert "\n" not in msg and len(msg) < 300, msg
    return str(msg)


# -- 3. the API key is compared as UTF-8 bytes --------------------------------------------


@pytest.mark.parametrize("given", ["ключ".encode(), "密钥".encode(), b"\xff\xfe", b"s3cret\xc3"])
def test_non_ascii_key_header_is_401_not_500(keyed: TestClient, given: bytes) -> None:
    r = keyed.get("/api/docs", headers={"X-API-Key": given})
    assert r.status_code == 401, r.text
    assert "X-API-Key" in r.json()["detail"]


def test_non_ascii_configured_key_works_for_api_and_login(home: Path) -> None:
    with make_client(home, api_key=UNICODE_KEY) as c:
        assert c.get("/api/docs").status_code == 401
        assert c.get("/api/docs", headers={"X-API-Key": b"wrong"}).status_code == 401
        ok = c.get("/api/docs", headers={"X-API-Key": UNICODE_KEY.encode()})
        assert ok.status_code == 200, ok.text
        bad = c.post("/login", data={"username": "clerk", "password": "密钥"})
        assert bad.status_code == 400
        good = c.post("/login", data={"username": "clerk", "password": UNICODE_KEY})
        assert good.status_code == 200
        assert c.get("/config").status_code == 200


# -- 5. size limits ---------------------------------------------------------------------------


def test_body_over_the_limit_is_413_by_content_length(client: TestClient) -> None:
    raw = json.dumps({"question": "x", "answer": "a" * 5_000_000, "verdict": "helpful"})
    r = post_raw(client, "/api/feedback", raw.encode())
    assert r.status_code == 413, r.text[:200]
    assert "too large" in one_line(r.json()["detail"])


def test_body_over_the_limit_is_413_when_streamed(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(80):  # 80 x 64 KiB, no Content-Length
            yield b"x" * 65536
        yield b'"}'

    r = client.post("/api/ask", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text[:200]


def test_small_limits_from_settings(home: Path) -> None:
    with make_client(home, max_body_bytes=1000) as c:
        assert c.post("/api/feedback", json=FEEDBACK).status_code == 200
        r = c.post("/api/feedback", json={**FEEDBACK, "comment": "评" * 400})
        assert r.status_code == 413 and "1000 bytes" in r.json()["detail"]


def test_feedback_citations_are_bounded(client: TestClient, home: Path) -> None:
    huge = [{"doc_no": "x", "text": "条" * 500_000}]  # 1.5 MB of UTF-8, under the body limit
    r = client.post("/api/feedback", json={**FEEDBACK, "citations": huge})
    assert r.status_code == 422, r.text[:200]
    assert "citation" in one_line(r.json()["detail"])
    with sqlite3.connect(home / "feedback.sqlite") as con:
        longest = con.execute("SELECT max(length(citations)) FROM feedback").fetchone()[0]
    assert (longest or 0) < 100_000


def test_validation_error_echoes_only_a_prefix(client: TestClient) -> None:
    r = client.post("/api/ask", json={"question": "医" * 1_000_000})  # 3 MB, under the limit
    assert r.status_code == 422
    assert len(r.content) < 2000, len(r.content)
    assert "at most 2000 characters" in r.text
    r = client.post("/api/feedback", json={**FEEDBACK, "verdict": "v" * 100_000})
    assert r.status_code == 422 and len(r.content) < 2000
    # the web app's own routes too
    r = client.post("/gradio_api/queue/join", json={"data": "x" * 1_000_000, "fn_index": 0})
    assert r.status_code == 422 and len(r.content) < 2000


def test_error_messages_with_user_text_are_short(client: TestClient) -> None:
    from urllib.parse import quote

    r = client.get("/api/docs/" + quote("号" * 3000))
    assert r.status_code == 404
    assert len(r.content) < 1000


# -- 5. rate limits ---------------------------------------------------------------------------


def test_feedback_flood_is_limited_and_nothing_else_is_stored(
    tmp_path: Path, fake_home: Path
) -> None:
    home = linked_home(tmp_path / "flood", fake_home)
    with make_client(home) as c:  # default limits
        codes = [c.post("/api/feedback", json=FEEDBACK).status_code for _ in range(150)]
        limited = c.post("/api/feedback", json=FEEDBACK)
    assert set(codes) == {200, 429}
    assert 10 <= codes.count(200) <= 100
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert "too many" in limited.json()["detail"]
    with sqlite3.connect(home / "feedback.sqlite") as con:
        stored = con.execute("SELECT count(*) FROM feedback").fetchone()[0]
    assert stored == codes.count(200)


def test_ask_rate_limit_is_per_client_and_configurable(home: Path) -> None:
    settings = Settings(home=home, embedder="fake", rate_ask="3/minute")
    app = create_app(settings)
    a = TestClient(app, raise_server_exceptions=False, client=("10.0.0.1", 1000))
    b = TestClient(app, raise_server_exceptions=False, client=("10.0.0.2", 1000))
    with a, b:
        codes = [a.post("/api/ask", json={"question": RETIRED}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert b.post("/api/ask", json={"question": RETIRED}).status_code == 200
        assert a.get("/api/search", params={"q": "住院"}).status_code == 200  # not limited
        assert a.post("/api/feedback", json=FEEDBACK).status_code == 200  # its own limit


def test_default_rate_limits_allow_a_busy_hotline_room() -> None:
    """Many clerks behind one NAT share an address: the defaults must leave them room."""
    from limits import parse

    def per_minute(rate: str) -> float:
        item = parse(rate)
        return item.amount * 60 / item.get_expiry()

    assert per_minute(Settings().rate_ask) >= 120
    assert per_minute(Settings().rate_feedback) >= 30


# -- 6. lone surrogates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/ask", b'{"question": "\\ud800"}'),
        ("/api/ask", b'{"question": "\\u4f4f\\u9662\\udfff"}'),
        ("/api/ask", b'{"question": "x", "history": [{"question": "\\ud800"}]}'),
        ("/api/feedback", b'{"question": "\\ud800", "answer": "a", "verdict": "helpful"}'),
        (
            "/api/feedback",
            b'{"question": "q", "answer": "a", "verdict": "helpful", '
            b'"citations": [{"\\udc00": "x"}]}',
        ),
    ],
)
def test_lone_surrogate_is_422(client: TestClient, path: str, raw: bytes) -> None:
    r = post_raw(client, path, raw)
    assert r.status_code == 422, r.text[:300]
    assert "Unicode" in one_line(r.json()["detail"])
    assert client.get("/api/health").status_code == 200


# -- 9. smaller ones ----------------------------------------------------------------------------


@pytest.mark.parametrize("date", ["2014-13-45", "2014-02-30", "2014-00", "0000"])
def test_impossible_date_in_filters_is_rejected(client: TestClient, date: str) -> None:
    r = client.post("/api/ask", json={"question": RETIRED, "filters": {"date_from": date}})
    assert r.status_code == 400, r.text[:200]
    assert "date_from" in r.json()["detail"]
    r = client.get("/api/search", params={"q": "住院", "date_to": date})
    assert r.status_code == 400 and "date_to" in r.json()["detail"]


def test_possible_dates_still_filter(client: TestClient) -> None:
    for date in ("2014", "2014-02", "2016-02-29"):
        r = client.get("/api/search", params={"q": "住院", "date_from": date})
        assert r.status_code == 200, (date, r.text)


def test_follow_up_with_long_history_does_not_blame_the_question(client: TestClient) -> None:
    earlier = "在职职工住院报销比例是多少？" + "请详细说明" * 99  # 509 characters
    r = client.post(
        "/api/ask", json={"question": "那退休的呢？", "history": [{"question": earlier}]}
    )
    assert r.status_code in (200, 400), r.text[:200]
    if r.status_code == 400:
        detail = r.json()["detail"]
        assert "history" in detail and "question too long" not in detail
    else:
        assert any("understood as" in n for n in r.json()["notes"])


def test_follow_up_after_a_question_at_the_limit_is_answered(client: TestClient) -> None:
    earlier = "在职职工住院报销比例是多少？" + "住院" * 243  # 500 characters, itself allowed
    r = client.post(
        "/api/ask", json={"question": "那退休的呢？", "history": [{"question": earlier}]}
    )
    assert r.status_code == 200, r.text[:200]


def test_gradio_upload_needs_the_key_and_has_a_size_limit(home: Path) -> None:
    with make_client(home, api_key="s3cret", max_upload_bytes=100_000) as c:
        small = {"files": ("a.txt", b"x" * 10)}
        assert c.post("/gradio_api/upload", files=small).status_code == 401
        assert c.post("/login", data={"username": "u", "password": "s3cret"}).status_code == 200
        assert c.post("/gradio_api/upload", files=small).status_code == 200
        big = {"files": ("b.txt", b"x" * 200_000)}
        assert c.post("/gradio_api/upload", files=big).status_code == 413
    with make_client(home, max_upload_bytes=100_000) as c:
        r = c.post("/gradio_api/upload", files={"files": ("c.txt", b"x" * 150_000)})
        assert r.status_code == 413


@pytest.mark.parametrize("path", ["/", "/api/health", "/api/docs", "/docs"])
def test_security_headers(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    h = r.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"] == "same-origin"
    csp = h["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert "object-src 'none'" in csp


def test_health_without_the_key_shows_only_the_status(keyed: TestClient) -> None:
    bare = keyed.get("/api/health")
    assert bare.status_code == 200 and bare.json() == {"status": "ok"}
    full = keyed.get("/api/health", headers={"X-API-Key": "s3cret"}).json()
    assert full["status"] == "ok" and full["manifest"]["embedder"]["name"].startswith("fake")
    wrong = keyed.get("/api/health", headers={"X-API-Key": "nope"})
    assert wrong.json() == {"status": "ok"}


def test_openapi_documents_the_error_codes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    def codes(path: str, method: str) -> set[str]:
        return set(paths[path][method]["responses"])

    assert {"200", "400", "401", "413", "422", "429", "503"} <= codes("/api/ask", "post")
    assert {"200", "401", "413", "422", "429"} <= codes("/api/feedback", "post")
    assert {"200", "400", "401", "422", "503"} <= codes("/api/search", "get")
    assert {"200", "401", "404", "422", "503"} <= codes("/api/docs/{doc_no}", "get")
    assert {"401", "404"} <= codes("/api/docs/{doc_no}/clauses/{label}", "get")
    detail = paths["/api/ask"]["post"]["responses"]["429"]
    assert "Retry-After" in json.dumps(detail)


# -- over a real socket ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(home: Path) -> Iterator[tuple[str, int]]:
    """`build_server` (uvicorn) on a free loopback port in a thread, with a key set."""
    import socket
    import threading
    import time

    from rag.interfaces.server import build_server

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    settings = Settings(home=home, embedder="fake", api_key="s3cret")
    server = build_server(settings, "127.0.0.1", port, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join(timeout=10)


def _exchange(sock: Any, request: bytes) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request on ``sock``; (status, body) of the response."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[
            1
        ]
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return int(head.split(b" ")[1]), body


def _request(method: str, path: str, body: bytes = b"", **headers: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"X-API-Key: s3cret"]
    lines += [k.replace("_", "-").encode() + b": " + v for k, v in headers.items()]
    if body or method == "POST":
        lines += [b"Content-Type: application/json", b"Content-Length: %d" % len(body)]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.mark.slow
def test_real_server_refuses_a_declared_100_mb_body_without_reading_it(
    served: tuple[str, int],
) -> None:
    import socket

    with socket.create_connection(served, timeout=10) as sock:
        head = _request("POST", "/api/feedback").replace(
            b"Content-Length: 0", b"Content-Length: 100000000"
        )
        status, body = _exchange(sock, head)  # the 100 MB are never sent
    assert status == 413 and b"too large" in body


@pytest.mark.slow
def test_real_server_keeps_the_connection_after_hostile_requests(
    served: tuple[str, int],
) -> None:
    import socket

    with socket.create_connection(served, timeout=30) as sock:
        status, body = _exchange(sock, _request("POST", "/api/ask", b'{"question": "\\ud800"}'))
        assert status == 422 and b"Unicode" in body
        bad_key = _request("GET", "/api/docs").replace(b"s3cret", "密钥".encode())
        assert _exchange(sock, bad_key)[0] == 401
        status, body = _exchange(sock, _request("GET", "/api/health"))
        assert status == 200 and json.loads(body)["status"] == "ok"  # same connection
