"""The HTTP API of the one-process server (`create_app`): every route, bad inputs, the
API key, concurrent requests, and a real `serve` process answering over the network."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rag.cli import app as cli_app
from rag.interfaces.feedback import export_feedback
from rag.interfaces.server import create_app
from rag.settings import PROJECT_ROOT, Settings

D87 = "嘉政发〔2014〕87号"
RETIRED = "退休人员医保缴费年限要满多少年？"
ANSWER_KEYS = {"question", "answer", "refused", "mode", "citations", "timings_ms"}
CITATION_KEYS = {"doc_no", "clause", "title", "text", "score", "date", "status"}
ROOT = PROJECT_ROOT


def make_home(base: Path, fake_home: Path) -> Path:
    """A RAG_HOME sharing the session's corpus and fake index, with its own feedback db."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "corpus.sqlite").symlink_to(fake_home / "corpus.sqlite")
    (base / "index").symlink_to(fake_home / "index", target_is_directory=True)
    return base


@pytest.fixture(scope="module")
def api_settings(tmp_path_factory: pytest.TempPathFactory, fake_home: Path) -> Settings:
    return Settings(home=make_home(tmp_path_factory.mktemp("apihome"), fake_home), embedder="fake")


@pytest.fixture(scope="module")
def client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as c:
        yield c


def ask(client: TestClient, question: str, **extra: Any) -> Any:
    return client.post("/api/ask", json={"question": question, **extra})


# -- routes ------------------------------------------------------------------------------


def test_health_reports_the_loaded_index(client: TestClient) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["index_loaded"] is True
    assert body["clauses"] > 500 and body["documents"] > 40
    assert body["manifest"]["embedder"]["name"].startswith("fake")


def test_ask_returns_the_cli_json_shape(client: TestClient) -> None:
    r = ask(client, RETIRED)
    assert r.status_code == 200, r.text
    body = r.json()
    assert ANSWER_KEYS <= set(body) <= ANSWER_KEYS | {"id", "notes", "understood"}
    assert body["question"] == RETIRED and body["mode"] == "extractive"
    assert body["refused"] is False and body["answer"]
    assert set(body["timings_ms"]) == {"retrieve", "answer", "total"}
    assert all(CITATION_KEYS <= set(c) <= CITATION_KEYS | {"warning"} for c in body["citations"])
    assert (D87, "第十四条") in {(c["doc_no"], c["clause"]) for c in body["citations"]}
    cited = next(c for c in body["citations"] if c["clause"] == "第十四条")
    quoted = re.findall(r"([^\[\]：\n]+)\[\d+\]", body["answer"])
    assert quoted and any(q.strip("；") in cited["text"] for q in quoted)
    assert body["understood"]["asks"] == RETIRED and "p_answer" in body["understood"]


def test_ask_equals_rag_ask_json(client: TestClient, api_settings: Settings) -> None:
    env = {"RAG_HOME": str(api_settings.home), "RAG_EMBEDDER": "fake"}
    r = CliRunner().invoke(cli_app, ["ask", RETIRED, "--json"], env=env)
    assert r.exit_code == 0, r.stderr
    cli = json.loads(r.stdout)
    api = ask(client, RETIRED).json()
    assert set(cli) == set(api)
    assert {k: v for k, v in cli.items() if k != "timings_ms"} == {
        k: v for k, v in api.items() if k != "timings_ms"
    }


def test_ask_passes_id_history_filters_k_and_mode(client: TestClient) -> None:
    body = ask(
        client,
        "那退休的呢？",
        id="q-7",
        history=[{"question": "在职职工住院报销比例是多少？", "answer": "……"}],
        k=3,
        mode="extractive",
    ).json()
    assert body["id"] == "q-7"
    assert any(n.startswith("understood as:") and "住院报销比例" in n for n in body["notes"])
    only87 = ask(client, "缴费年限", filters={"doc_no": "嘉政发[2014]87号"}).json()
    assert only87["citations"] and {c["doc_no"] for c in only87["citations"]} == {D87}


def test_refusal_says_so_and_lists_nearest_clauses(client: TestClient) -> None:
    body = ask(client, "火星移民政策有哪些？").json()
    assert body["refused"] is True
    assert "没有" in body["answer"]
    assert body["citations"]  # the nearest clauses, for reference


def test_search_ranks_clauses_and_filters(client: TestClient) -> None:
    r = client.get("/api/search", params={"q": "住院起付标准", "k": 3})
    assert r.status_code == 200
    hits = r.json()
    assert 1 <= len(hits) <= 3
    assert set(hits[0]) == {"doc_no", "title", "clause", "text", "score", "sources"}
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert any(h["doc_no"] == D87 for h in hits)
    r = client.get(
        "/api/search", params={"q": "标准", "k": 5, "doc_no": "嘉政办发[2017]15号"}
    ).json()
    assert r and {h["doc_no"] for h in r} == {"嘉政办发〔2017〕15号"}
    r = client.get(
        "/api/search", params={"q": "医疗保险", "date_from": "2024", "date_to": "2024-12"}
    ).json()
    assert r and all(h["doc_no"] != D87 for h in r)


def test_docs_lists_every_document(client: TestClient) -> None:
    docs = client.get("/api/docs").json()
    d87 = next(d for d in docs if d["doc_no"] == D87)
    assert d87["n_clauses"] == len(d87["clause_labels"]) > 50
    assert any(not d["printed"] for d in docs)  # listed in a gazette's table, not printed


@pytest.mark.parametrize(
    "doc_no", [D87, "嘉政发[2014]87号", "嘉政发〔2014〕 87 号", "嘉政发【2014】87号"]
)
def test_doc_by_any_printed_variant(client: TestClient, doc_no: str) -> None:
    r = client.get(f"/api/docs/{quote(doc_no)}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["doc_no"] == D87 and "职工基本医疗保险" in body["title"]
    assert body["text"] and len(body["clauses"]) == body["n_clauses"]
    assert body["clauses"][0]["source"].startswith("003_0e8310ee3ea63b6f.txt:")


def test_doc_without_number_by_title(client: TestClient) -> None:
    r = client.get(f"/api/docs/{quote('天津市基本医疗保险条例')}")
    assert r.status_code == 200 and r.json()["doc_no"] == ""


@pytest.mark.parametrize("label", ["第十四条", "第14条", "14"])
def test_clause_by_label_variants(client: TestClient, label: str) -> None:
    r = client.get(f"/api/docs/{quote('嘉政发[2014]87号')}/clauses/{quote(label)}")
    assert r.status_code == 200, r.text
    [c] = r.json()
    assert c["doc_no"] == D87 and c["clause"] == "第十四条"
    assert "男满25年" in c["text"].replace(" ", "")
    assert c["source"].startswith("003_0e8310ee3ea63b6f.txt:")
    assert c["part_title"] and isinstance(c["headings"], list)


def test_feedback_is_stored_in_sqlite(client: TestClient, api_settings: Settings) -> None:
    cites = [{"doc_no": D87, "clause": "第十四条", "title": "t", "text": "x", "score": 1.0}]
    r = client.post(
        "/api/feedback",
        json={
            "question": RETIRED,
            "answer": "男满25年、女满20年",
            "citations": cites,
            "verdict": "wrong",
            "comment": "还要说明补缴",
        },
    )
    assert r.status_code == 200, r.text
    fid = r.json()["id"]
    assert r.json()["stored"] is True and fid >= 1
    with sqlite3.connect(api_settings.feedback_db) as con:
        row = con.execute(
            "SELECT question, answer, citations, verdict, comment FROM feedback WHERE id=?", (fid,)
        ).fetchone()
    assert row[0] == RETIRED and row[3] == "wrong" and row[4] == "还要说明补缴"
    assert json.loads(row[2]) == cites
    exported = export_feedback(api_settings)
    assert any(e["id"] == fid and e["citations"] == cites for e in exported)
    gold = export_feedback(api_settings, gold=True)
    assert any(g["id"] == f"fb-{fid}" and "needs-review" in g["tags"] for g in gold)


def test_export_feedback_without_a_database_is_empty(tmp_path: Path) -> None:
    assert export_feedback(Settings(home=tmp_path / "nothing")) == []
    assert not (tmp_path / "nothing").exists()


def test_openapi_documents_the_routes(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/api/ask",
        "/api/search",
        "/api/docs",
        "/api/docs/{doc_no}",
        "/api/docs/{doc_no}/clauses/{label}",
        "/api/feedback",
        "/api/health",
    ):
        assert p in paths


def test_web_app_is_mounted_at_root(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "<html" in r.text.lower()
    config = client.get("/config").json()
    assert "政策文件问答" in json.dumps(config, ensure_ascii=False)


# -- bad inputs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"question": ""}, 422, "at least 1 character"),
        ({"question": "   "}, 400, "empty question"),
        ({}, 422, "Field required"),
        ({"question": "住院" * 300}, 400, "question too long"),
        ({"question": "x", "k": 0}, 422, "greater than or equal to 1"),
        ({"question": "x", "k": 21}, 422, "less than or equal to 20"),
        ({"question": "x", "k": "many"}, 422, "valid integer"),
        ({"question": "x", "mode": "magic"}, 422, "pattern"),
        ({"question": "x", "filters": {"date_from": "2014/01/01"}}, 400, "date_from"),
        ({"question": "x", "history": [{"question": "q"}] * 21}, 422, "at most 20"),
    ],
)
def test_bad_ask_is_a_clear_4xx(
    client: TestClient, body: dict[str, Any], status: int, message: str
) -> None:
    r = client.post("/api/ask", json=body)
    assert r.status_code == status, r.text
    assert message in json.dumps(r.json()["detail"], ensure_ascii=False)


def test_ten_megabyte_question_is_rejected_quickly(client: TestClient) -> None:
    t0 = time.perf_counter()
    r = ask(client, "医" * 10_000_000)
    assert r.status_code == 413  # 30 MB of UTF-8: refused by size before it is parsed
    assert time.perf_counter() - t0 < 10
    assert "too large" in r.text


def test_malformed_json_is_422(client: TestClient) -> None:
    r = client.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422


@pytest.mark.parametrize(
    "params",
    [{}, {"q": ""}, {"q": "x", "k": 0}, {"q": "x", "k": 51}, {"q": "x", "doc_no": "号" * 100}],
)
def test_bad_search_is_422(client: TestClient, params: dict[str, Any]) -> None:
    r = client.get("/api/search", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_bad_search_date_is_400(client: TestClient) -> None:
    r = client.get("/api/search", params={"q": "x", "date_to": "last year"})
    assert r.status_code == 400 and "date_to" in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (f"/api/docs/{quote('嘉政发〔2099〕1号')}", "unknown document"),
        (f"/api/docs/{quote('没有这个文件的标题')}", "unknown document"),
        (f"/api/docs/{quote(D87)}/clauses/{quote('第九百条')}", "has no clause"),
        (f"/api/docs/{quote('嘉政发〔2099〕1号')}/clauses/1", "unknown document"),
    ],
)
def test_unknown_document_or_clause_is_404(client: TestClient, path: str, message: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, r.text
    assert message in r.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"question": "q", "answer": "a", "verdict": "meh"},
        {"question": "", "answer": "a", "verdict": "helpful"},
        {"question": "q", "answer": "a", "verdict": "helpful", "comment": "x" * 2001},
    ],
)
def test_bad_feedback_is_422(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post("/api/feedback", json=body).status_code == 422


def test_missing_index_is_503_and_health_says_so(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(home=tmp_path, embedder="fake"))) as c:
        health = c.get("/api/health")
        assert health.status_code == 200
        assert health.json()["status"] == "error" and health.json()["index_loaded"] is False
        r = ask(c, RETIRED)
        assert r.status_code == 503 and "rag index" in r.json()["detail"]


# -- API key -----------------------------------------------------------------------------

GUARDED = [
    ("POST", "/api/ask", {"question": RETIRED}),
    ("GET", "/api/search?q=" + quote("住院"), None),
    ("GET", "/api/docs", None),
    ("GET", f"/api/docs/{quote(D87)}", None),
    ("GET", f"/api/docs/{quote(D87)}/clauses/14", None),
    ("POST", "/api/feedback", {"question": "q", "answer": "a", "verdict": "helpful"}),
]


@pytest.fixture(scope="module")
def keyed_client(tmp_path_factory: pytest.TempPathFactory, fake_home: Path) -> Iterator[TestClient]:
    home = make_home(tmp_path_factory.mktemp("keyhome"), fake_home)
    settings = Settings(home=home, embedder="fake", api_key="s3cret-key")
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.mark.parametrize(("method", "path", "body"), GUARDED)
def test_api_key_guards_every_route_but_health(
    keyed_client: TestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    def call(headers: dict[str, str]) -> Any:
        return keyed_client.request(method, path, json=body, headers=headers)

    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}):
        r = call(headers)
        assert r.status_code == 401, (headers, r.text)
        assert "X-API-Key" in r.json()["detail"]
    assert call({"X-API-Key": "s3cret-key"}).status_code == 200


def test_health_needs_no_key(keyed_client: TestClient) -> None:
    assert keyed_client.get("/api/health").json()["status"] == "ok"


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch, api_settings: Settings) -> None:
    monkeypatch.setenv("RAG_API_KEY", "from-env")
    settings = Settings(home=api_settings.home, embedder="fake")
    with TestClient(create_app(settings)) as c:
        assert c.get("/api/docs").status_code == 401
        assert c.get("/api/docs", headers={"X-API-Key": "from-env"}).status_code == 200


def test_web_app_asks_for_the_key_as_password(keyed_client: TestClient) -> None:
    assert keyed_client.get("/config").status_code == 401
    bad = keyed_client.post("/login", data={"username": "clerk", "password": "nope"})
    assert bad.status_code == 400
    ok = keyed_client.post("/login", data={"username": "clerk", "password": "s3cret-key"})
    assert ok.status_code == 200
    assert keyed_client.get("/config").status_code == 200


# -- concurrency -------------------------------------------------------------------------

QUESTIONS = [
    RETIRED,
    "住院起付标准是多少？",
    "医保个人账户可以用来做什么？",
    "嘉政发〔2014〕87号第十四条",
    "居住证怎么申请？",
]


def _stable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "timings_ms"}


def test_concurrent_asks_equal_sequential_ones(client: TestClient) -> None:
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(20)]
    sequential = [_stable(ask(client, q).json()) for q in questions]

    def one(q: str) -> dict[str, Any]:
        r = ask(client, q)
        assert r.status_code == 200, r.text
        return _stable(r.json())

    with ThreadPoolExecutor(max_workers=20) as pool:
        concurrent = list(pool.map(one, questions))
    assert concurrent == sequential


# -- a real server process ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_home: Path) -> Iterator[str]:
    """`serve()` in a subprocess on a free port, configured through RAG_* variables."""
    home = make_home(tmp_path_factory.mktemp("servehome"), fake_home)
    port = free_port()
    env = {
        **os.environ,
        "RAG_HOME": str(home),
        "RAG_EMBEDDER": "fake",
        "RAG_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    env.pop("RAG_API_KEY", None)
    code = "from rag.interfaces.server import serve; serve()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"server exited with {proc.returncode}:\n{out}")
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not start within 90 s")
            time.sleep(0.3)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


@pytest.mark.slow
def test_served_health_and_ask(server: str) -> None:
    assert httpx.get(server + "/api/health", timeout=10).json()["status"] == "ok"
    r = httpx.post(server + "/api/ask", json={"question": RETIRED}, timeout=30)
    assert r.status_code == 200
    assert (D87, "第十四条") in {(c["doc_no"], c["clause"]) for c in r.json()["citations"]}
    r = httpx.post(server + "/api/ask", json={"question": ""}, timeout=30)
    assert r.status_code == 422


@pytest.mark.slow
def test_served_web_app_and_docs(server: str) -> None:
    assert "<html" in httpx.get(server + "/", timeout=10).text.lower()
    assert httpx.get(server + "/docs", timeout=10).status_code == 200
    assert "/api/ask" in httpx.get(server + "/openapi.json", timeout=10).json()["paths"]
