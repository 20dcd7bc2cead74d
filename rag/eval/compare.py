"""Comparing two evaluation runs item by item (paired by gold id).

For each metric: the mean over the items where both runs have a value, the difference
B − A and its paired bootstrap 95% CI (fixed seed). Items that flipped are listed:
key-fact recall reaching or leaving 1, refusal changing, clause citations (all gold
clauses cited, lenient) becoming right or wrong.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.eval.metrics import DEFAULT_SEED, LOWER_IS_BETTER, METRICS, bootstrap_ci

PER_ITEM = "per_item.jsonl"


@dataclass
class MetricDelta:
    """One metric over the paired items where both runs have a value."""

    name: str
    n: int
    mean_a: float | None
    mean_b: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def significant(self) -> bool:
        """The 95% CI of the difference excludes 0."""
        return (
            self.ci_low is not None
            and self.ci_high is not None
            and (self.ci_low > 0 or self.ci_high < 0)
        )


@dataclass
class Flip:
    """An item whose outcome changed between the runs."""

    id: str
    kind: str  # key_fact_recall | refusal | clause_citation
    before: Any
    after: Any
    better: bool
    question: str = ""


@dataclass
class Comparison:
    """The result of :func:`compare_runs`."""

    dir_a: str
    dir_b: str
    n_paired: int
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    deltas: list[MetricDelta] = field(default_factory=list)
    flips: list[Flip] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for m in d["deltas"]:
            for k in ("mean_a", "mean_b", "diff", "ci_low", "ci_high"):
                if m[k] is not None:
                    m[k] = round(m[k], 6)
        return d


def load_items(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The ``per_item.jsonl`` records of a run directory, by id.

    Raises:
        InputError: missing directory or file, or a malformed line (named).
    """
    d = Path(run_dir)
    if not d.is_dir():
        raise InputError(f"{d}: no such run directory")
    p = d / PER_ITEM
    if not p.is_file():
        raise InputError(f"{d}: missing {PER_ITEM} (not an eval run directory?)")
    try:
        text = p.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read ({e})") from e
    out: dict[str, dict[str, Any]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{p}:{n}: not valid JSON ({e.msg})") from e
        if not isinstance(obj, dict) or "id" not in obj or not isinstance(obj.get("metrics"), dict):
            raise InputError(f"{p}:{n}: not a per-item record (needs id and metrics)")
        out[str(obj["id"])] = obj
    if not out:
        raise InputError(f"{p}: no items")
    return out


def _clause_ok(item: dict[str, Any]) -> bool | None:
    v = item["metrics"].get("citation_clause_recall_lenient")
    return None if v is None else float(v) >= 1.0


def _flips(
    ids: list[str], a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]
) -> list[Flip]:
    out: list[Flip] = []
    for i in ids:
        ia, ib = a[i], b[i]
        q = str(ib.get("question", ia.get("question", "")))
        ka, kb = ia["metrics"].get("key_fact_recall"), ib["metrics"].get("key_fact_recall")
        if ka is not None and kb is not None and (float(ka) >= 1.0) != (float(kb) >= 1.0):
            out.append(Flip(i, "key_fact_recall", ka, kb, float(kb) >= 1.0, q))
        ra, rb = bool(ia.get("refused")), bool(ib.get("refused"))
        if ra != rb:
            answerable = bool(ib.get("answerable", ia.get("answerable", True)))
            out.append(Flip(i, "refusal", ra, rb, rb != answerable, q))
        ca, cb = _clause_ok(ia), _clause_ok(ib)
        if ca is not None and cb is not None and ca != cb:
            out.append(Flip(i, "clause_citation", ca, cb, cb, q))
    return out


def compare_runs(
    dir_a: Path, dir_b: Path, *, n_resamples: int = 1000, seed: int = DEFAULT_SEED
) -> Comparison:
    """Compare run B against run A (B − A), pairing items by gold id.

    Args:
        dir_a: The baseline run directory.
        dir_b: The new run directory.
        n_resamples: Paired bootstrap resamples.
        seed: Bootstrap seed (deterministic results).

    Raises:
        InputError: a run directory or its ``per_item.jsonl`` is missing or malformed, or
            the runs share no item.
    """
    a, b = load_items(Path(dir_a)), load_items(Path(dir_b))
    ids = [i for i in a if i in b]
    if not ids:
        raise InputError(f"{dir_a} and {dir_b} have no item id in common")
    deltas: list[MetricDelta] = []
    names = list(METRICS) + sorted(
        {k for i in ids for k in a[i]["metrics"] if k not in METRICS}
        & {k for i in ids for k in b[i]["metrics"]}
    )
    for name in names:
        pairs = [
            (float(va), float(vb))
            for i in ids
            if (va := a[i]["metrics"].get(name)) is not None
            and (vb := b[i]["metrics"].get(name)) is not None
        ]
        if not pairs:
            deltas.append(MetricDelta(name, 0, None, None, None, None, None))
            continue
        ma = sum(p[0] for p in pairs) / len(pairs)
        mb = sum(p[1] for p in pairs) / len(pairs)
        lo, hi = bootstrap_ci([p[1] - p[0] for p in pairs], n_resamples=n_resamples, seed=seed)
        deltas.append(MetricDelta(name, len(pairs), ma, mb, mb - ma, lo, hi))
    return Comparison(
        dir_a=str(dir_a),
        dir_b=str(dir_b),
        n_paired=len(ids),
        only_a=[i for i in a if i not in b],
        only_b=[i for i in b if i not in a],
        deltas=deltas,
        flips=_flips(ids, a, b),
    )


def _f(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def format_comparison(c: Comparison) -> str:
    """A plain-text table of the deltas followed by the flipped items."""
    lines = [
        f"A = {c.dir_a}",
        f"B = {c.dir_b}",
        f"paired items: {c.n_paired}"
        + (f"; only in A: {len(c.only_a)}" if c.only_a else "")
        + (f"; only in B: {len(c.only_b)}" if c.only_b else ""),
        "",
    ]
    w = max(len(d.name) for d in c.deltas) + 2 if c.deltas else 10
    head = f"{'metric':<{w}}{'n':>5}{'A':>9}{'B':>9}{'B-A':>9}  {'95% CI':<19} "
    lines += [head, "-" * len(head)]
    for d in c.deltas:
        ci = f"[{_f(d.ci_low, True)}, {_f(d.ci_high, True)}]" if d.ci_low is not None else ""
        flag = ""
        if d.significant and d.diff is not None:
            better = (d.diff < 0) if d.name in LOWER_IS_BETTER else (d.diff > 0)
            flag = "better" if better else "WORSE"
        lines.append(
            f"{d.name:<{w}}{d.n:>5}{_f(d.mean_a):>9}{_f(d.mean_b):>9}"
            f"{_f(d.diff, True):>9}  {ci:<19} {flag}".rstrip()
        )
    lines.append("")
    if not c.flips:
        lines.append("no flipped items")
    else:
        lines.append(f"flipped items ({len(c.flips)}):")
        for f in c.flips:
            mark = "+" if f.better else "-"
            lines.append(f"  {mark} {f.id}  {f.kind}: {f.before} -> {f.after}  {f.question}")
    return "\n".join(lines)
