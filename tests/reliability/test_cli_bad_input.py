"""The CLI's table of bad inputs: each gives one line on stderr, a non-zero exit and no
traceback (the contract's "Errors: one line on stderr, non-zero exit, no traceback").

Runs in-process with Typer's runner (an uncaught exception shows up as
``result.exception``), except invalid UTF-8 in an argument, which only a real process
started with those bytes in ``argv`` can show.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli import app
from rag.settings import PROJECT_ROOT

D87 = "嘉政发〔2014〕87号"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, fake_home: Path) -> dict[str, Path]:
    """Bad files of every kind, and a home whose index files are damaged."""
    d = tmp_path_factory.mktemp("badfiles")
    (d / "gbk.txt").write_bytes("嘉兴市人民政府文件 第一条 住院".encode("gbk"))
    (d / "binary.txt").write_bytes(b"\x00\x01\x02abc")
    (d / "folder.txt").mkdir()
    (d / "notes.docx.exe").write_text("x", encoding="utf-8")
    good = '{"id": "1", "question": "住院", "answerable": false}\n'
    (d / "good.jsonl").write_text(good, encoding="utf-8")
    (d / "bad.jsonl").write_text(good + "{not json\n", encoding="utf-8")
    (d / "no_answerable.jsonl").write_text('{"id": "1", "question": "住院"}\n', encoding="utf-8")
    (d / "array.jsonl").write_text("[1, 2]\n", encoding="utf-8")
    (d / "gold_gbk.jsonl").write_bytes('{"id": "1", "question": "住院"}\n'.encode("gbk"))
    (d / "batch.jsonl").write_text('{"id": "1"}\n', encoding="utf-8")
    (d / "floors.toml").write_text("this is = not [toml\n", encoding="utf-8")
    broken = d / "broken"
    broken.mkdir()
    shutil.copy(fake_home / "corpus.sqlite", broken / "corpus.sqlite")
    shutil.copytree(fake_home / "index", broken / "index")
    (broken / "index" / "faiss.index").write_bytes(b"not a faiss index")
    truncated = d / "truncated"
    truncated.mkdir()
    shutil.copy(fake_home / "corpus.sqlite", truncated / "corpus.sqlite")
    shutil.copytree(fake_home / "index", truncated / "index")
    lines = (truncated / "index" / "clauses.jsonl").read_text(encoding="utf-8").splitlines()
    (truncated / "index" / "clauses.jsonl").write_text(
        "\n".join(lines[:10]) + "\n{trunc", encoding="utf-8"
    )
    manifest = d / "badmanifest"
    shutil.copytree(broken, manifest)
    shutil.copy(fake_home / "index" / "faiss.index", manifest / "index" / "faiss.index")
    (manifest / "index" / "manifest.json").write_text("{", encoding="utf-8")
    corrupt_store = d / "corruptstore"
    corrupt_store.mkdir()
    (corrupt_store / "corpus.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    return {
        "dir": d,
        "broken": broken,
        "truncated": truncated,
        "badmanifest": manifest,
        "corruptstore": corrupt_store,
    }


def _case(name: str, home: str, args: list[str], expect: str) -> tuple[str, str, list[str], str]:
    return (name, home, args, expect)


# (name, which home, arguments with {d} for the bad files' folder, part of the message)
CASES = [
    _case("empty question", "fake", ["ask", ""], "empty question"),
    _case("blank question", "fake", ["ask", "  \n "], "empty question"),
    _case("10 MB question", "fake", ["ask", "医" * 10_000_000], "question too long"),
    _case("10 MB search", "fake", ["search", "医" * 10_000_000], "question too long"),
    _case("no question", "fake", ["ask"], "QUESTION"),
    _case("unknown mode", "fake", ["ask", "住院", "--mode", "magic"], "unknown mode"),
    _case("unknown document", "fake", ["show", "嘉政发〔2099〕1号"], "unknown document"),
    _case("unknown clause", "fake", ["show", D87, "第九百条"], "no clause"),
    _case("impossible date", "fake", ["search", "住院", "--from", "2014-13-45"], "date_from"),
    _case("date not ISO", "fake", ["search", "住院", "--to", "last year"], "date_to"),
    _case("non-UTF-8 document", "fake", ["ingest", "{d}/gbk.txt"], "not UTF-8"),
    _case("binary document", "fake", ["ingest", "{d}/binary.txt"], "binary"),
    _case("unreadable document", "fake", ["ingest", "{d}/folder.txt"], "cannot read"),
    _case("missing document", "fake", ["ingest", "{d}/missing.txt"], "cannot read"),
    _case("unknown format", "fake", ["ingest", "{d}/notes.docx.exe"], "{d}/notes.docx.exe"),
    _case("clean non-UTF-8", "fake", ["clean", "{d}/gbk.txt"], "not UTF-8"),
    _case("malformed gold", "fake", ["eval", "--gold", "{d}/bad.jsonl"], "bad.jsonl:2"),
    _case("gold missing key", "fake", ["eval", "--gold", "{d}/no_answerable.jsonl"], "answerable"),
    _case("gold not objects", "fake", ["eval", "--gold", "{d}/array.jsonl"], "array.jsonl:1"),
    _case("gold not UTF-8", "fake", ["eval", "--gold", "{d}/gold_gbk.jsonl"], "gold_gbk.jsonl"),
    _case("missing gold", "fake", ["eval", "--gold", "{d}/none.jsonl"], "none.jsonl"),
    _case(
        "malformed floors",
        "fake",
        ["eval", "--gold", "{d}/good.jsonl", "--gate", "{d}/floors.toml"],
        "floors.toml",
    ),
    _case("batch without question", "fake", ["ask", "--batch", "{d}/batch.jsonl"], "question"),
    _case("no runs to compare", "fake", ["compare", "{d}/run_a", "{d}/run_b"], "run_a"),
    _case("corrupted faiss index", "broken", ["search", "住院"], "index"),
    _case("truncated clauses.jsonl", "truncated", ["ask", "住院"], "index"),
    _case("corrupted manifest", "badmanifest", ["search", "住院"], "index"),
    _case("corrupted store", "corruptstore", ["docs"], "corpus.sqlite"),
    _case("empty home: docs", "empty", ["docs"], "rag ingest"),
    _case("empty home: search", "empty", ["search", "住院"], "rag index"),
    _case("empty home: serve", "empty", ["serve"], "rag index"),
    _case("no feedback subcommand", "fake", ["feedback", "import"], "import"),
]


def run(args: list[str], home: Path) -> tuple[int, str, BaseException | None]:
    env = {"RAG_HOME": str(home), "RAG_EMBEDDER": "fake", "COLUMNS": "200"}
    r = CliRunner().invoke(app, args, env=env)
    return r.exit_code, r.stderr, r.exception


@pytest.mark.parametrize(("name", "which", "args", "expect"), CASES, ids=[c[0] for c in CASES])
def test_bad_cli_input_is_one_line(
    name: str,
    which: str,
    args: list[str],
    expect: str,
    files: dict[str, Path],
    fake_home: Path,
    tmp_path: Path,
) -> None:
    homes = {"fake": fake_home, "empty": tmp_path / "empty", **files}
    d = str(files["dir"])
    code, err, exc = run([a.replace("{d}", d) for a in args], homes[which])
    assert code != 0, (name, err)
    assert exc is None or isinstance(exc, SystemExit), (name, repr(exc))
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip() and not x.startswith("warning:")]
    assert lines, name
    if not any(x.startswith(("Usage:", "╭")) for x in lines):  # click's own usage errors
        assert len(lines) == 1, (name, err)
    assert expect.replace("{d}", d) in err, (name, err)


def test_invalid_utf8_argument_is_one_line_exit_2(fake_home: Path) -> None:
    env = {**os.environ, "RAG_HOME": str(fake_home), "RAG_EMBEDDER": "fake", "PYTHONPATH": "."}
    for args in ([b"ask", b"\xff\xfe"], [b"search", b"\xe4\xbd"], [b"show", b"\xff"]):
        p = subprocess.run(
            [sys.executable.encode(), b"-m", b"rag.cli", *args],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            timeout=120,
        )
        err = p.stderr.decode("utf-8", "replace")
        assert p.returncode == 2, (args, err[-500:])
        assert len(err.strip().splitlines()) == 1, err[-2000:]
        assert "not valid UTF-8" in err


def test_file_name_that_is_not_utf8_is_still_a_file(tmp_path: Path, fake_home: Path) -> None:
    """Invalid UTF-8 in a *path* argument is a legal Linux file name, read as such."""
    name = os.fsdecode(b"\xff\xfe.txt")
    (tmp_path / name).write_text("第一条 住院起付标准为800元。\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["clean", str(tmp_path / name)])
    assert r.exit_code == 0, r.stderr
    assert "800元" in r.stdout
    out = json.dumps(r.stdout, ensure_ascii=False)
    assert "800" in out
