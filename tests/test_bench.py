"""The benchmark's pure parts: chunker, overlap rule, percentiles, tables, README blocks.

Nothing here times anything or loads a model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.bench import parse_sections, target_lines
from rag.bench.common import (
    RUN_ORDER,
    SECTIONS,
    latency_summary,
    percentile,
    render_section,
    render_table,
    replace_block,
    target,
    update_readme,
    write_json,
)
from rag.bench.naive import (
    Chunk,
    GoldTarget,
    chunk_document,
    chunk_sources,
    chunk_text,
    covers,
    first_cover_ranks,
    line_of,
    norm,
    rank_scores,
    required_run,
    shares_run,
)
from rag.errors import InputError
from rag.models import Document, SourceSpan

# --------------------------------------------------------------------------- chunker


def test_chunk_text_fixed_windows() -> None:
    assert chunk_text("abcdefg", 3) == [(0, 3), (3, 6), (6, 7)]
    assert chunk_text("abcdef", 3) == [(0, 3), (3, 6)]
    assert chunk_text("", 3) == []


def test_chunk_text_covers_every_character_once() -> None:
    text = "第一条 为了规范管理。\n" * 97
    spans = chunk_text(text, 500)
    assert "".join(text[s:e] for s, e in spans) == text
    assert all(e - s == 500 for s, e in spans[:-1])


def test_chunk_text_overlap_and_blank_windows() -> None:
    assert chunk_text("abcdefgh", 4, overlap=2) == [(0, 4), (2, 6), (4, 8)]
    assert chunk_text("ab   \n   cd", 3) == [(0, 3), (9, 11)]
    with pytest.raises(ValueError):
        chunk_text("abc", 0)
    with pytest.raises(ValueError):
        chunk_text("abc", 3, overlap=3)


def test_chunk_sources_orders_files_and_keeps_offsets() -> None:
    chunks = chunk_sources({"b.txt": "123456", "a.txt": "xyz"}, size=4)
    assert [(c.file, c.start, c.end, c.text) for c in chunks] == [
        ("a.txt", 0, 3, "xyz"),
        ("b.txt", 0, 4, "1234"),
        ("b.txt", 4, 6, "56"),
    ]


# --------------------------------------------------------------------------- overlap rule


def test_shares_run_needs_min_chars_in_a_row() -> None:
    clause = "职工到达法定退休年龄时医保缴费年限累计男满二十五年女满二十年的可按规定享受待遇" * 2
    chunk = "前文无关内容" + clause[10:55] + "后文"
    assert shares_run(norm(chunk), norm(clause), 40)
    scattered = clause[:20] + "另起" + clause[30:50]
    assert not shares_run(norm(scattered), norm(clause), 40)


def test_required_run() -> None:
    assert required_run(200) == 40
    assert required_run(80) == 40
    assert required_run(68) == 34
    assert required_run(30) == 20
    assert required_run(12) == 12
    assert required_run(0) == 0


def test_shares_run_half_of_a_short_clause_cut_by_a_boundary() -> None:
    clause = (
        "用人单位在过渡期内可按本办法第十条规定选择一种类型参加职工基本医疗保险"
        "需转换参保类型的在每年十二月办理"
    )
    n = len(norm(clause))
    assert 40 < n < 80
    head, tail = clause[: len(clause) // 2 + 2], clause[len(clause) // 2 + 2 :]
    assert shares_run(norm("上一条的结尾" + head), norm(clause))
    assert not shares_run(norm(tail[-10:] + "下一条"), norm(clause))


def test_shares_run_short_clause_must_be_whole() -> None:
    assert shares_run("前文加强监督管理后文", "加强监督管理", 40)
    assert not shares_run("前文加强监督后文", "加强监督管理", 40)
    assert not shares_run("", "加强", 40)
    assert not shares_run("加强", "", 40)


def test_norm_ignores_punctuation_and_whitespace() -> None:
    assert norm("在三十日内，\n发放 290 元。") == norm("在30日内发放290元")


def _target(file: str, text: str) -> GoldTarget:
    return GoldTarget(ref=None, texts=((file, norm(text)),))


def test_covers_requires_same_file() -> None:
    text = (
        "用人单位应当自用工之日起三十日内为职工申请办理职工基本医疗保险参保登记手续并按时足额缴费"
    )
    c = Chunk("a.txt", 0, len(text), text)
    assert covers(c, norm(c.text), _target("a.txt", text))
    assert not covers(c, norm(c.text), _target("b.txt", text))


def test_first_cover_ranks_and_rank_scores() -> None:
    t1 = "第一段条文的内容在这里出现并且足够长以便于判断是否重叠四十个字符以上的连续文本内容呢"
    t2 = "第二段条文的内容完全不同讲的是另外一件事情同样需要足够长才能满足四十个字符的要求呢"
    chunks = [Chunk("f", 0, 1, "无关的文字" * 10), Chunk("f", 1, 2, t2), Chunk("f", 2, 3, t1)]
    norms = [norm(c.text) for c in chunks]
    targets = [_target("f", t1), _target("f", t2), _target("f", "不存在的条文" * 10)]
    ranks = first_cover_ranks([0, 1, 2], chunks, norms, targets)
    assert ranks == [3, 2, None]
    sc = rank_scores(ranks, ks=(1, 3))
    assert sc["retrieval_recall@1"] == 0
    assert sc["retrieval_recall@3"] == pytest.approx(2 / 3)
    assert sc["mrr@10"] == pytest.approx(1 / 2)
    assert rank_scores([None])["mrr@10"] == 0.0
    assert rank_scores([])["mrr@10"] is None


def test_chunk_document_by_line_overlap() -> None:
    text = "".join(f"line {i}\n" for i in range(1, 21))
    d1 = Document("A〔2020〕1号", "甲", source="f.txt", span=SourceSpan("f.txt", 1, 5))
    d2 = Document("A〔2020〕2号", "乙", source="f.txt", span=SourceSpan("f.txt", 6, 20))
    other = Document("B〔2020〕1号", "丙", source="g.txt", span=SourceSpan("g.txt", 1, 20))
    start = text.index("line 4\n")
    chunk = Chunk("f.txt", start, text.index("line 12\n"), "")
    assert line_of(text, start) == 4
    assert chunk_document(chunk, text, [d1, d2, other]) is d2
    assert chunk_document(Chunk("h.txt", 0, 5, ""), text, [d1, d2]) is None


# --------------------------------------------------------------------------- statistics


def test_percentile_matches_linear_interpolation() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([4, 1, 3, 2], 0) == 1
    assert percentile([4, 1, 3, 2], 100) == 4
    assert percentile([5], 95) == 5
    assert percentile(range(1, 101), 95) == pytest.approx(95.05)
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_latency_summary() -> None:
    s = latency_summary([10.0, 20.0, 30.0, 40.0])
    assert s == {"p50": 25.0, "p95": 38.5, "mean": 25.0, "max": 40.0, "n": 4}
    assert latency_summary([])["p50"] is None


def test_target_checks() -> None:
    assert target("p50", 20.0, 30.0, "<=", "ms")["ok"] is True
    assert target("recall", 0.9, 0.95, ">=")["ok"] is False
    assert target("x", None, 1.0, "<=")["ok"] is None
    with pytest.raises(ValueError):
        target("x", 1.0, 1.0, "<")


# --------------------------------------------------------------------------- tables


def test_render_table_alignment_and_escaping() -> None:
    md = render_table(
        ["method", "recall", "note"],
        [["a|b", 0.5, "x\ny"], ["c", "0.250 [0.20, 0.30]", None]],
    )
    lines = md.splitlines()
    assert lines[0] == "| method | recall | note |"
    assert lines[1] == "|---|---:|---|"
    assert lines[2] == "| a\\|b | 0.500 | x y |"
    assert lines[3] == "| c | 0.250 [0.20, 0.30] | – |"
    with pytest.raises(ValueError):
        render_table(["a", "b"], [[1]])


def test_render_section_lists_tables_targets_notes() -> None:
    md = render_section(
        {
            "finished_at": "2026-01-01T00:00:00+00:00",
            "seconds": 12.0,
            "machine": {"git_commit": "abcdef0123456", "cpu_count": 2},
            "load": {"before_1m": 1.0, "after_1m": 2.0},
            "tables": [{"title": "T", "columns": ["a"], "rows": [[1]]}],
            "targets": [target("p50", 40.0, 30.0, "<=", "ms")],
            "notes": ["a note"],
        }
    )
    assert "commit `abcdef0123`" in md
    assert "**T**" in md and "| a |" in md
    assert "p50: 40.000 ms (target <= 30.000 ms): **MISSED**" in md
    assert "- a note" in md


# --------------------------------------------------------------------------- README blocks


def test_replace_block_replaces_only_between_markers() -> None:
    text = (
        "# Bench\n\nintro\n\n<!-- bench:latency:begin -->\nold\n"
        "<!-- bench:latency:end -->\n\ntail\n"
    )
    out = replace_block(text, "latency", "new table")
    assert out == (
        "# Bench\n\nintro\n\n<!-- bench:latency:begin -->\nnew table\n"
        "<!-- bench:latency:end -->\n\ntail\n"
    )
    assert replace_block(out, "latency", "new table") == out


def test_replace_block_appends_missing_section() -> None:
    out = replace_block("# Bench\n", "memory", "x")
    assert (
        out == "# Bench\n\n## memory\n\n<!-- bench:memory:begin -->\nx\n<!-- bench:memory:end -->\n"
    )
    assert replace_block(out, "memory", "y").count("bench:memory:begin") == 1


def test_replace_block_rejects_broken_markers() -> None:
    bad = "<!-- bench:a:end -->\n<!-- bench:a:begin -->\n"
    with pytest.raises(ValueError):
        replace_block(bad, "a", "x")
    with pytest.raises(ValueError):
        replace_block("<!-- bench:a:begin -->\n", "a", "x")
    with pytest.raises(ValueError):
        replace_block("", "A B", "x")


def test_update_readme_and_write_json(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    update_readme(readme, "build", "one")
    update_readme(readme, "build", "two")
    text = readme.read_text("utf-8")
    assert "two" in text and "one" not in text
    write_json(tmp_path / "r.json", {"a": "文号", "b": 1.5})
    assert json.loads((tmp_path / "r.json").read_text("utf-8")) == {"a": "文号", "b": 1.5}


# --------------------------------------------------------------------------- sections


def test_parse_sections() -> None:
    assert parse_sections(None) == list(RUN_ORDER)
    assert sorted(RUN_ORDER) == sorted(SECTIONS)
    assert parse_sections(["latency,retrieval", "latency"]) == ["retrieval", "latency"]
    with pytest.raises(InputError):
        parse_sections(["speed"])


def test_target_lines() -> None:
    lines = target_lines(
        {
            "latency": {"targets": [target("search p50", 12.0, 30.0, "<=", "ms")]},
            "build": {"error": "RuntimeError: boom", "targets": []},
        }
    )
    assert lines == [
        "latency: search p50 = 12.000 ms (target <= 30.000 ms) ok",
        "build: FAILED RuntimeError: boom",
    ]
