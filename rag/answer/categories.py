"""Categories of people and care that the policies treat differently.

The same question has different answers for 职工 and 城乡居民, for 住院 and 门诊, for
在职 and 退休 staff. A question that names one of them must be answered from a clause
about that one; a question that names none, where the retrieved clauses differ, is
answered case by case.
"""

from __future__ import annotations

from dataclasses import dataclass

# axis → category → the forms the texts use for it.
AXES: dict[str, dict[str, tuple[str, ...]]] = {
    "insurance": {
        "职工医保": ("职工基本医疗保险", "职工医保", "职工医疗保险", "职工"),
        "城乡居民医保": (
            "城乡居民基本医疗保险",
            "城乡居民医保",
            "居民医保",
            "城乡居民",
            "居民基本医疗保险",
        ),
    },
    "care": {
        "住院": ("住院",),
        "门诊": ("门诊", "门（急）诊", "门(急)诊", "急诊"),
    },
    "status": {
        "在职": ("在职",),
        "退休": ("退休",),
    },
}


@dataclass(frozen=True)
class Category:
    axis: str
    name: str


def mentioned(text: str) -> set[Category]:
    """Categories ``text`` names."""
    out = set()
    for axis, cats in AXES.items():
        for name, forms in cats.items():
            if any(f in text for f in forms):
                out.add(Category(axis, name))
    return out


def named(question: str) -> list[Category]:
    """Categories a question names, in a fixed order (axis, then category)."""
    found = mentioned(question)
    return [Category(a, n) for a, cats in AXES.items() for n in cats if Category(a, n) in found]
