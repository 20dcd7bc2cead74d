"""OCR for scanned pages, through the optional ``ocr`` extra (rapidocr-onnxruntime).

rapidocr-onnxruntime ships its PP-OCRv4 detection, direction and recognition models
(Chinese and English) inside its wheel and runs them with ONNX Runtime on the CPU, so
nothing is downloaded at run time. Without the extra, :func:`available` is False and the
PDF reader says how to install it.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

from rag.ingest.formats.layout import Run

# Recognitions scored below this are noise (stamps, specks).
MIN_SCORE = 0.5


def available() -> bool:
    """Whether the OCR extra is installed."""
    return importlib.util.find_spec("rapidocr_onnxruntime") is not None


@functools.lru_cache(maxsize=1)
def _engine() -> Any:
    from rapidocr_onnxruntime import RapidOCR

    # Deterministic and polite on a shared CPU: one thread per operator.
    return RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)


def image_runs(image: Any) -> list[Run]:
    """The text lines OCR finds on a page image, as runs in pixel coordinates."""
    import numpy as np

    result, _ = _engine()(np.asarray(image.convert("RGB")))
    runs: list[Run] = []
    for box, text, score in result or []:
        if float(score) < MIN_SCORE or not str(text).strip():
            continue
        xs = [float(p[0]) for p in box]
        ys = [float(p[1]) for p in box]
        top, bottom = min(ys), max(ys)
        runs.append(Run(min(xs), top, max(xs), bottom, str(text).strip(), _em(xs, str(text))))
    return runs


def _em(xs: list[float], text: str) -> float:
    """The character size of a recognised line, from its width: OCR boxes are padded, so
    their height says little about the type size (a small running header comes out
    nearly as high as the body)."""
    units = sum(1.0 if ord(ch) >= 0x2E80 else 0.55 for ch in text.strip())
    return (max(xs) - min(xs)) / max(units, 1.0)
