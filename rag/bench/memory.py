"""Section ``memory``: peak RSS of a serving-like process.

A fresh subprocess (``python -m rag.bench.memory --child GOLD``) imports the assistant,
loads it from ``$RAG_HOME`` and answers every dev question (``search`` then extractive
``ask``); it prints ``ru_maxrss`` after each step as one JSON line. The parent passes its
settings as ``RAG_*`` environment variables.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from rag.bench.common import MiB, log, target
from rag.bench.context import Context

TARGET_MIB = 1536.0  # 1.5 GiB


def maxrss_mib() -> float:
    """Peak resident set size of this process so far, in MiB."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / MiB if sys.platform == "darwin" else r / 1024


def vm_hwm_mib() -> float | None:
    """Peak RSS of this process image (``VmHWM``); unlike ru_maxrss it starts afresh at exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def settings_env(settings: Any) -> dict[str, str]:
    """The environment that makes ``Settings()`` in a child equal ``settings``."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        env[f"RAG_{name.upper()}"] = str(value)
    return env


def _child(gold: Path) -> None:
    import psutil

    out: dict[str, Any] = {"start_mib": round(maxrss_mib(), 1)}
    from rag.answer.service import Assistant
    from rag.eval.gold import read_gold
    from rag.settings import Settings

    out["imports_mib"] = round(maxrss_mib(), 1)
    a = Assistant(Settings())
    out["loaded_mib"] = round(maxrss_mib(), 1)
    items = read_gold(gold)
    a.search(items[0].question)
    out["first_query_mib"] = round(maxrss_mib(), 1)
    for it in items:
        a.search(it.question)
        a.ask(it.question, mode="extractive")
    out["answered_mib"] = round(maxrss_mib(), 1)
    hwm = vm_hwm_mib()
    out["vm_hwm_mib"] = None if hwm is None else round(hwm, 1)
    out["rss_now_mib"] = round(psutil.Process().memory_info().rss / MiB, 1)
    out["n_questions"] = len(items)
    out["n_clauses"] = len(a.index)
    print(json.dumps(out))


def run(ctx: Context) -> dict[str, Any]:
    ctx.ensure_index()
    cmd = [sys.executable, "-m", "rag.bench.memory", "--child", str(ctx.gold_path)]
    import psutil

    parent_rss = psutil.Process().memory_info().rss / MiB
    log("memory: serving-like subprocess …")
    proc = subprocess.run(
        cmd, env=settings_env(ctx.settings), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"memory child failed ({proc.returncode}): {' | '.join(tail)}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = res["answered_mib"]
    hwm = res.get("vm_hwm_mib")
    index_dir = ctx.settings.index_dir
    index_bytes = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())
    log(f"memory: peak RSS {peak:.0f} MiB")
    steps = [
        ("python start", res["start_mib"]),
        ("imports (rag.answer.service)", res["imports_mib"]),
        ("Assistant loaded (index, BM25, look-up)", res["loaded_mib"]),
        ("first query (embedding model loaded)", res["first_query_mib"]),
        (f"all {res['n_questions']} dev questions searched and answered", res["answered_mib"]),
    ]
    return {
        "params": {"n_questions": res["n_questions"], "n_clauses": res["n_clauses"]},
        "results": {
            **res,
            "index_dir_mib": round(index_bytes / MiB, 2),
            "parent_rss_at_spawn_mib": round(parent_rss, 1),
        },
        "tables": [
            {
                "title": "Peak RSS (ru_maxrss) of a serving-like process",
                "columns": ["after", "peak RSS MiB"],
                "rows": [[name, f"{v:.0f}"] for name, v in steps],
            }
        ],
        "targets": [target("peak RSS", peak, TARGET_MIB, "<=", "MiB")],
        "notes": [
            f"Index files on disk: {index_bytes / MiB:.1f} MiB; RSS at the end "
            f"{res['rss_now_mib']:.0f} MiB; VmHWM (peak of the child's own image) "
            f"{'–' if hwm is None else f'{hwm:.0f}'} MiB. 1.5 GB read as 1.5 GiB = 1536 MiB.",
            "Linux carries ru_maxrss over fork+exec, so the child's ru_maxrss is at least the "
            f"bench process's RSS when it started the child ({parent_rss:.0f} MiB); the bench "
            "runs this section first to keep that floor low, and VmHWM is not affected.",
        ],
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(Path(sys.argv[2]))
    else:
        sys.exit("usage: python -m rag.bench.memory --child GOLD.jsonl")
