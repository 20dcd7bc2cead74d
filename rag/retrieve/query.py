"""Question → retrieval query: colloquial words gain the terms the texts use, and
documents of another place than the one asked about are moved down.

Citizens say 失业金, 医保卡, 起付线; the texts say 失业保险金, 社会保障卡, 起付标准.
The mapping is a small data file (``index/synonyms.txt``) that a person can extend.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rag.models import Hit

SYNONYMS_FILE = Path(__file__).resolve().parent.parent.parent / "index" / "synonyms.txt"

# Places that scope a document or a question (provinces, cities of the corpus' region).
PLACES = tuple(
    """
    北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南
    广东 海南 四川 贵州 云南 陕西 甘肃 青海 内蒙古 广西 西藏 宁夏 新疆 香港 澳门 台湾 杭州 宁波
    温州 嘉兴 湖州 绍兴 金华 衢州 舟山 台州 丽水 南京 苏州 无锡 深圳 广州 武汉 成都 西安 厦门
    青岛 大连 沈阳 长沙 郑州 济南 合肥 福州 南昌 新余 桐乡 海宁 平湖 嘉善 海盐
    """.split()
)


# Cities inside a province: a provincial text applies in its cities, and a question
# about the province may be answered by a city's text.
PARENT = {
    **{
        c: "浙江"
        for c in "杭州 宁波 温州 嘉兴 湖州 绍兴 金华 衢州 舟山 台州 丽水".split()
        + "桐乡 海宁 平湖 嘉善 海盐".split()
    },
    **{c: "江苏" for c in "南京 苏州 无锡".split()},
    "新余": "江西",
    "南昌": "江西",
}
REGIONS = {"长三角": ("上海", "浙江", "江苏", "安徽")}


def asked_places(question: str, home: str = "") -> list[str]:
    """Places a question is about (regions expanded); ``[home]`` when it names none."""
    asked = [p for p in PLACES if p in question]
    for name, members in REGIONS.items():
        if name in question:
            asked.extend(members)
    if not asked and home:
        asked = [home]
    return asked


def place_matches(place: str, asked: list[str]) -> bool:
    """Whether a text scoped to ``place`` ("" = national) fits a question about ``asked``."""
    if not place or not asked:
        return True
    return any(place == a or PARENT.get(a) == place or PARENT.get(place) == a for a in asked)


@lru_cache(maxsize=4)
def load_synonyms(path: Path = SYNONYMS_FILE) -> tuple[tuple[str, str], ...]:
    """(everyday word, official terms) pairs, longest word first; empty if no file."""
    if not path.is_file():
        return ()
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or "\t" not in line:
            continue
        word, terms = line.split("\t", 1)
        pairs.append((word.strip(), terms.strip()))
    return tuple(sorted(pairs, key=lambda p: -len(p[0])))


def expand(question: str, path: Path = SYNONYMS_FILE) -> str:
    """The question followed by the official terms of the everyday words it uses."""
    extra = [terms for word, terms in load_synonyms(path) if word in question]
    return f"{question} {' '.join(extra)}" if extra else question


def doc_place(hit: Hit) -> str:
    """The place a document is scoped to, read off its title ("" for national texts)."""
    title = hit.clause.doc_title
    for p in PLACES:
        if title.startswith(p) or title.startswith(f"关于{p}"):
            return p
    return ""


def rerank_by_place(question: str, hits: list[Hit], home: str) -> list[Hit]:
    """Move down documents scoped to a place the question does not ask about.

    A question naming places keeps those places' documents and national ones first;
    a question naming none is read as about ``home`` (the assistant's own region).
    The order is otherwise kept (stable sort).
    """
    asked = asked_places(question, home)
    return sorted(hits, key=lambda h: not place_matches(doc_place(h), asked))
