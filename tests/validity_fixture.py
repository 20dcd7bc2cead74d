"""A repealed document and its successor, made from the shipped 嘉政发〔2014〕87号.

The shipped corpus holds no repealed/successor pair, so the tests build one: the notice
嘉政发〔2016〕120号 "嘉兴市人民政府关于印发嘉兴市职工基本医疗保险办法的通知" (dated
2016-12-26) attaching the 87号 办法 as a permanent 办法, with two changed figures and a
施行 article that repeals 87号:

* 第二十五条 三级（市级）医疗机构 800元 → 1000元 (the 住院起付标准);
* 第二十六条 住院最高支付限额 暂定为20万元 → 30万元;
* 第五十一条 本办法自2017年1月1日起施行。原《嘉兴市职工基本医疗保险暂行办法》
  （嘉政发〔2014〕87号）同时废止。

Every other clause is the shipped text of 87号 (暂行办法 → 办法), so old and new compete
in retrieval with near-identical clauses, as a real amended text would.
"""

from __future__ import annotations

from pathlib import Path

from rag.ingest.store import Corpus

OLD = "嘉政发〔2014〕87号"
NEW = "嘉政发〔2016〕120号"
NEW_TITLE = "嘉兴市人民政府关于印发嘉兴市职工基本医疗保险办法的通知"
NEW_EFFECTIVE = "2017-01-01"
GOLD = Path(__file__).parent / "fixtures" / "validity_gold.jsonl"

CHANGES = {
    "第二十五条": ("三级（市级）医疗机构800元", "三级（市级）医疗机构1000元"),
    "第二十六条": ("暂定为20万元", "暂定为30万元"),
}
REPEAL = (
    "第五十一条 本办法自2017年1月1日起施行。"
    "原《嘉兴市职工基本医疗保险暂行办法》（嘉政发〔2014〕87号）同时废止。"
)


def successor_text(corpus: Corpus) -> str:
    """The successor notice and its 办法, written from 87号's clauses as stored."""
    old = corpus.get(OLD)
    lines = [
        NEW_TITLE,
        NEW,
        "各县（市、区）人民政府，市政府各部门、直属各单位：",
        "《嘉兴市职工基本医疗保险办法》已经七届市政府第80次常务会议讨论通过，"
        "现印发给你们，请认真贯彻实施。",
        "嘉兴市人民政府",
        "2016年12月26日",
        "嘉兴市职工基本医疗保险办法",
    ]
    heading = ""
    for c in old.clauses:
        if c.part != 1:
            continue
        if c.headings and c.headings[0] != heading:
            heading = c.headings[0]
            lines.append(heading)
        text = c.text.replace("暂行办法", "办法")
        if c.label in CHANGES:
            before, after = CHANGES[c.label]
            assert before in text, (c.label, before)
            text = text.replace(before, after)
        if c.label == "第五十一条":
            text = REPEAL
        lines.append(text)
    return "\n".join(lines) + "\n"


def write_successor(corpus: Corpus, folder: Path) -> Path:
    path = folder / "jiazhengfa_2016_120_successor.txt"
    path.write_text(successor_text(corpus), encoding="utf-8")
    return path
