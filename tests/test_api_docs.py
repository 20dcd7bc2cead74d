"""Clerk document routes of the API (upload with preview and confirm, retire, history)
and the server picking up a changed index or corpus without a restart.

Each test runs on its own copy of a small store (four shipped documents) and fake index.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag.index.lifecycle import remove
from rag.interfaces.api import State
from rag.interfaces.server import create_app
from rag.settings import SHIPPED_CORPUS, Settings

MED06 = SHIPPED_CORPUS / "external" / "med06_guobanfa_2023_17_fund_regular_supervision.txt"
D17 = "国办发〔2023〕17号"
OLD_PHRASE = "制定 并公开飞行检查方案"
NEW_PHRASE = "制定 并每季度公开飞行检查方案"
QUERY = "医保基金使用常态化监管 飞行检查"


@pytest.fixture()
def home(tmp_path: Path, small_home: Path) -> Path:
    return shutil.copytree(small_home, tmp_path / "home", symlinks=True)


def make_client(home: Path, **kw: Any) -> TestClient:
    s = Settings(home=home, embedder="fake", reload_check_seconds=0, **kw)
    return TestClient(create_app(s))


@pytest.fixture()
def client(home: Path) -> Iterator[TestClient]:
    with make_client(home) as c:
        yield c


def index_doc_nos(home: Path) -> set[str]:
    with (home / "index" / "clauses.jsonl").open(encoding="utf-8") as f:
        return {json.loads(line)["doc_no"] for line in f if line.strip()}


def upload(client: TestClient, name: str, data: bytes, *, confirm: bool = False) -> Any:
    params = {"confirm": "true"} if confirm else {}
    return client.post("/api/docs", params=params, files={"file": (name, data, "text/plain")})


def cited(client: TestClient) -> set[str]:
    hits = client.get("/api/search", params={"q": QUERY, "k": 20}).json()
    ans = client.post("/api/ask", json={"question": "医保基金飞行检查如何常态化？"}).json()
    return {h["doc_no"] for h in hits} | {c["doc_no"] for c in ans["citations"]}


def test_retire_upload_preview_confirm_and_replace(client: TestClient, home: Path) -> None:
    assert D17 in cited(client)

    r = client.delete("/api/docs/国办发[2023]17号")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["removed"]["doc_no"] == D17 and body["index"]["n_embedded"] == 0
    assert D17 not in index_doc_nos(home)  # its clauses left the index files …
    assert D17 not in cited(client)  # … and no search or answer returns them
    assert all(d["doc_no"] != D17 for d in client.get("/api/docs").json())
    assert client.get(f"/api/docs/{D17}").status_code == 404
    assert client.delete(f"/api/docs/{D17}").status_code == 404

    # a preview parses and shows, and stores nothing
    r = upload(client, MED06.name, MED06.read_bytes())
    assert r.status_code == 200, r.text
    prev = r.json()
    assert prev["stored"] is False and prev["status"] == "new"
    [doc] = prev["documents"]
    assert (doc["doc_no"], doc["issuer"], doc["date"], doc["kind"]) == (
        D17,
        "国务院办公厅",
        "2023-05-26",
        "document",
    )
    assert doc["title"] == "关于加强医疗保障基金使用常态化监管的实施意见"
    assert doc["action"] == "add" and doc["replaces"] is None
    labels = [c["clause"] for c in doc["outline"]]
    assert len(labels) == doc["n_clauses"] == 18 and "三、（一）" in labels
    assert D17 not in index_doc_nos(home) and D17 not in cited(client)

    # confirming stores it and indexes its clauses in the same request
    r = upload(client, MED06.name, MED06.read_bytes(), confirm=True)
    assert r.status_code == 200, r.text
    assert r.json()["stored"] is True and r.json()["index"]["n_embedded"] == 18
    assert D17 in index_doc_nos(home) and D17 in cited(client)

    # an edited version under another name: previewed as a replacement, then replaced
    edited = MED06.read_text("utf-8").replace(OLD_PHRASE, NEW_PHRASE).encode()
    prev = upload(client, "17号（修订）.txt", edited).json()
    assert prev["documents"][0]["action"] == "replace"
    assert prev["documents"][0]["replaces"]["source"] == MED06.name
    r = upload(client, "17号（修订）.txt", edited, confirm=True)
    assert r.json()["index"]["n_embedded"] == 1  # only the edited clause
    clause = client.get(f"/api/docs/{D17}/clauses/三、（一）").json()[0]
    assert "每季度公开飞行检查方案" in clause["text"].replace(" ", "")

    hist = client.get("/api/docs/国办发[2023]17号/history").json()
    assert [(e["action"], e["actor"]) for e in hist] == [
        ("ingest", "cli"),
        ("remove", "api"),
        ("ingest", "api"),
        ("replace", "api"),
    ]
    assert hist[-1]["source"] == "17号（修订）.txt" and len(hist[-1]["source_sha256"]) == 64

    # the same file again: nothing to do, said so
    again = upload(client, "17号（修订）.txt", edited, confirm=True).json()
    assert again["stored"] is False and again["status"] == "unchanged"


def test_uploads_over_the_limit_or_of_other_types_are_refused(home: Path) -> None:
    with make_client(home, max_upload_bytes=10_000) as c:  # MED06 (13 KB) is over it
        before = c.get("/api/docs").json()
        r = upload(c, MED06.name, MED06.read_bytes(), confirm=True)
        assert r.status_code == 413 and "limit" in r.json()["detail"]
        # a declared body far over the limit is refused before it is read
        r = upload(c, "big.txt", b"x" * 200_000, confirm=True)
        assert r.status_code == 413 and "10000 bytes" in r.json()["detail"]
        r = upload(c, "setup.exe", b"MZ\x90\x00", confirm=True)
        assert r.status_code == 400 and ".txt" in r.json()["detail"]
        r = upload(c, "gbk.txt", "嘉兴市人民政府文件".encode("gb18030"), confirm=True)
        assert r.status_code == 422 and "UTF-8" in r.json()["detail"]
        assert c.post("/api/docs").status_code == 422  # no file
        assert c.get("/api/docs").json() == before


def test_changing_documents_needs_the_key_when_one_is_set(home: Path) -> None:
    with make_client(home, api_key="s3cret") as c:
        assert upload(c, MED06.name, MED06.read_bytes()).status_code == 401
        assert c.delete(f"/api/docs/{D17}").status_code == 401
        assert c.get(f"/api/docs/{D17}/history").status_code == 401
        c.headers["X-API-Key"] = "s3cret"
        assert upload(c, MED06.name, MED06.read_bytes()).status_code == 200
        assert c.delete(f"/api/docs/{D17}").status_code == 200


def test_in_flight_requests_finish_on_the_old_state_and_a_damaged_index_is_not_loaded(
    home: Path,
) -> None:

    s = Settings(home=home, embedder="fake", reload_check_seconds=0)
    st = State(s)
    held = st.assistant  # what a request in flight holds
    n, version = len(held.index), (home / "index").resolve()
    remove(s, D17)
    remove(s, "国家医疗保障局令第1号")  # two versions later, held's directory is deleted
    st.refresh()
    assert st.assistant is not held and len(st.assistant.index) < n
    assert not version.exists()
    hits = held.search("飞行检查", k=3)  # the old state still answers
    assert hits and any(h.clause.doc_no == D17 for h in held.search(QUERY, k=20))

    # a new version that cannot be loaded: the server keeps serving the one it has
    current = st.assistant
    remove(s, "余府发〔2012〕3号")
    damaged = (home / "index").resolve() / "faiss.index"
    damaged.write_bytes(damaged.read_bytes()[:-16])
    st.refresh()
    assert st.assistant is current and current.search("绿色建筑", k=3)


def test_a_status_set_through_the_api_is_in_the_history_and_answers_follow(
    client: TestClient,
) -> None:
    r = client.put(f"/api/docs/{D17}/status", json={"status": "已被废止", "note": "新办法"})
    assert r.status_code == 200 and r.json()["status"] == "已被废止"
    hist = client.get(f"/api/docs/{D17}/history").json()
    assert hist[-1]["action"] == "status-set" and hist[-1]["actor"] == "api"
    assert hist[-1]["detail"] == "已被废止: 新办法"


def test_a_status_set_by_another_process_reaches_the_loaded_assistant(home: Path) -> None:
    from rag.index.lifecycle import set_status

    s = Settings(home=home, embedder="fake", reload_check_seconds=0)
    st = State(s)
    before = st.assistant
    assert before.validity.status(D17) != "已被废止"
    set_status(s, D17, "已被废止", "新办法")  # as `rag docs --set-status` would
    st.refresh()
    assert st.assistant is before  # the index did not change: only the validity
    assert before.validity.status(D17) == "已被废止"


@pytest.mark.slow
def test_each_worker_process_picks_up_a_removed_document_on_its_own(home: Path) -> None:
    s = Settings(home=home, embedder="fake", reload_check_seconds=0)
    app = create_app(s, workers=2)
    try:
        with TestClient(app) as c:

            def found() -> bool:
                hits = c.get("/api/search", params={"q": QUERY, "k": 20}).json()
                return any(h["doc_no"] == D17 for h in hits)

            assert all(found() for _ in range(4))
            remove(s, D17)  # another process's change: the workers are not told
            misses = 0
            for _ in range(60):
                misses = 0 if found() else misses + 1
                if misses >= 8:  # both workers answer from the new index
                    break
            assert misses >= 8
    finally:
        app.state.pool.close()
