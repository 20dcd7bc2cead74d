"""Decide: which clauses and units answer, and whether to answer at all.

Three small logistic models over the features of rag/answer/select.py, trained on the
project's gold sets with leave-one-set-out cross-validation (``rag train``,
rag/eval/train.py) and saved as a JSON file of weights (never a pickle):

* ``clause``: the probability that a candidate clause is one a correct answer cites;
* ``unit``: the probability that an answer unit holds the answer's facts;
* ``answer``: the probability that the texts answer the question at all, recalibrated
  (Platt scaling on the cross-validated scores) so that 0.7 means about 7 in 10.

Refusal is ``p_answer < threshold``, one documented number in the weights file (chosen
on the cross-validated scores, see ``rag train``); ``RAG_REFUSE_PROBABILITY`` overrides
it. A refusal says why in one line, from the feature that weighed most against
answering.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError

WEIGHTS_FILE = Path(__file__).resolve().parent / "weights" / "decider.json"
FORMAT = "policy-rag-decider/1"


@dataclass
class Logistic:
    """A standardised logistic model: p = σ(((x − mean) / scale) · coef + intercept)."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    # Platt recalibration of the logit: p = σ(a · logit + b), fitted on held-out scores
    calib_a: float = 1.0
    calib_b: float = 0.0

    def matrix(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        return np.array([[float(r.get(f, 0.0)) for f in self.features] for r in rows], dtype=float)

    def logits(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        x = (self.matrix(rows) - self.mean) / self.scale
        return np.asarray(x @ self.coef + self.intercept, dtype=float)

    def predict(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        z = self.calib_a * self.logits(rows) + self.calib_b
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=float)

    def contributions(self, row: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of the logit (how much it pushed towards 1 or 0)."""
        x = (self.matrix([row])[0] - self.mean) / self.scale
        return {f: float(v) for f, v in zip(self.features, x * self.coef, strict=True)}

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "logistic",
            "features": list(self.features),
            "mean": [round(float(v), 8) for v in self.mean],
            "scale": [round(float(v), 8) for v in self.scale],
            "coef": [round(float(v), 8) for v in self.coef],
            "intercept": round(float(self.intercept), 8),
            "calibration": {"a": round(self.calib_a, 8), "b": round(self.calib_b, 8)},
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Logistic:
        feats = tuple(str(f) for f in d["features"])
        arrays = [np.asarray(d[k], dtype=float) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(feats),) for a in arrays):
            raise ValueError("weights do not match the feature list")
        cal = d.get("calibration", {})
        return cls(
            feats,
            arrays[0],
            np.where(arrays[1] == 0, 1.0, arrays[1]),
            arrays[2],
            float(d["intercept"]),
            float(cal.get("a", 1.0)),
            float(cal.get("b", 0.0)),
        )


@dataclass
class Trees:
    """A boosted tree ensemble (trained with scikit-learn's HistGradientBoosting) kept as
    plain arrays: logit = base + Σ leaf values, each tree walked with ``x ≤ threshold``
    going left. Used where interactions matter (whether to answer at all)."""

    features: tuple[str, ...]
    base: float
    trees: list[dict[str, np.ndarray]]  # feature, threshold, left, right, leaf, value
    calib_a: float = 1.0
    calib_b: float = 0.0

    def matrix(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        return np.array([[float(r.get(f, 0.0)) for f in self.features] for r in rows], dtype=float)

    def logits(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        x = self.matrix(rows)
        z = np.full(len(rows), self.base, dtype=float)
        for t in self.trees:
            node = np.zeros(len(rows), dtype=int)
            for _ in range(64):  # deeper than any tree trained here
                leaf = t["leaf"][node]
                if leaf.all():
                    break
                go_left = x[np.arange(len(rows)), t["feature"][node]] <= t["threshold"][node]
                nxt = np.where(go_left, t["left"][node], t["right"][node])
                node = np.where(leaf, node, nxt)
            z += t["value"][node]
        return z

    def predict(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        z = self.calib_a * self.logits(rows) + self.calib_b
        return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=float)

    def contributions(self, row: Mapping[str, float]) -> dict[str, float]:
        """How much each feature moved the logit on this row's path (the change of the
        node value at each split, summed per feature): why the model decided so."""
        x = self.matrix([row])[0]
        out = dict.fromkeys(self.features, 0.0)
        for t in self.trees:
            node = 0
            while not t["leaf"][node]:
                f = int(t["feature"][node])
                nxt = int(t["left"][node] if x[f] <= t["threshold"][node] else t["right"][node])
                out[self.features[f]] += float(t["mean"][nxt] - t["mean"][node])
                node = nxt
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "trees",
            "features": list(self.features),
            "base": round(self.base, 8),
            "trees": [
                {
                    k: [float(v) if k in ("threshold", "value", "mean") else int(v) for v in arr]
                    for k, arr in t.items()
                }
                for t in self.trees
            ],
            "calibration": {"a": round(self.calib_a, 8), "b": round(self.calib_b, 8)},
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Trees:
        feats = tuple(str(f) for f in d["features"])
        trees = []
        for t in d["trees"]:
            tree = {
                "feature": np.asarray(t["feature"], dtype=int),
                "threshold": np.asarray(t["threshold"], dtype=float),
                "left": np.asarray(t["left"], dtype=int),
                "right": np.asarray(t["right"], dtype=int),
                "leaf": np.asarray(t["leaf"], dtype=bool),
                "value": np.asarray(t["value"], dtype=float),
                "mean": np.asarray(t["mean"], dtype=float),
            }
            n = len(tree["leaf"])
            if any(len(v) != n for v in tree.values()) or tree["feature"].max(initial=0) >= len(
                feats
            ):
                raise ValueError("a tree does not match the feature list")
            trees.append(tree)
        cal = d.get("calibration", {})
        return cls(
            feats, float(d["base"]), trees, float(cal.get("a", 1.0)), float(cal.get("b", 0.0))
        )


Model = Logistic | Trees


def model_from_json(d: Mapping[str, Any]) -> Model:
    return Trees.from_json(d) if d.get("kind") == "trees" else Logistic.from_json(d)


@dataclass
class Decider:
    """The three models and the refusal threshold."""

    clause: Model
    unit: Model
    answer: Model
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "threshold": round(self.threshold, 6),
            "models": {
                "clause": self.clause.to_json(),
                "unit": self.unit.to_json(),
                "answer": self.answer.to_json(),
            },
            "meta": self.meta,
        }

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename)."""
        import os
        import tempfile

        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".decider-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.to_json(), f, ensure_ascii=False, indent=1, sort_keys=True)
                f.write("\n")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE) -> Decider:
        try:
            d = json.loads(Path(path).read_text("utf-8"))
            if d.get("format") != FORMAT:
                raise ValueError(f"format {d.get('format')!r}")
            m = d["models"]
            return cls(
                clause=model_from_json(m["clause"]),
                unit=model_from_json(m["unit"]),
                answer=model_from_json(m["answer"]),
                threshold=float(d["threshold"]),
                meta=dict(d.get("meta", {})),
            )
        except FileNotFoundError as e:
            raise RagError(f"no decision weights at {path}: run `rag train`") from e
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RagError(
                f"decision weights at {path} are unreadable ({e}): run `rag train`"
            ) from e


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))
