"""The files of a ``RAG_HOME`` that writers coordinate through, and a cheap health check.

``.write.lock`` (:mod:`rag.locks`), ``.commit.json`` (the journal of a change in progress,
:mod:`rag.index.lifecycle`), ``index`` (a link to the current version in
``index-versions/``, :mod:`rag.index.versions`). Kept apart from those modules so that
every command can check for a crashed writer's leftovers with a few ``stat`` calls,
without importing numpy or the index code.
"""

from __future__ import annotations

from pathlib import Path

JOURNAL = ".commit.json"


def versions_root(link: Path) -> Path:
    """``<home>/index-versions`` for the link ``<home>/index``."""
    return link.with_name(f"{link.name}-versions")


def legacy_old_copies(link: Path) -> list[Path]:
    """``.index.old-<pid>-<hex>`` directories left by the two-rename swap of older versions."""
    return sorted(link.parent.glob(f".{link.name}.old-*-*"))


def current_index(link: Path) -> Path | None:
    """The directory ``index`` stands for (resolved), or None when there is none."""
    if link.is_symlink():
        target = link.resolve()
        return target if target.is_dir() else None
    return link if link.is_dir() else None


def needs_recovery(home: Path, link: Path) -> bool:
    """Did a writer die half-way through a change (a journal left, or the index link
    missing while versions or an old copy exist)?"""
    if (home / JOURNAL).exists():
        return True
    if current_index(link) is not None:
        return False
    return versions_root(link).is_dir() or bool(legacy_old_copies(link))
