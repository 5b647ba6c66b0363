"""Models: pretrained encoders and the book's own small architectures.

Names are imported on first use, so ``import tlnlp.models`` does not import torch or
transformers, and a submodule that is missing or broken only fails the names it defines:

>>> from tlnlp.models import load_encoder
>>> enc = load_encoder("minilm")
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "BiLSTMEncoder": "lstm",
    "Classifier": "heads",
    "POOLINGS": "heads",
    "PoolingError": "heads",
    "TokenClassifier": "heads",
    "Output": "output",
    "GPT": "gpt",
    "GPTConfig": "gpt",
    "GPTWeightsError": "gpt",
    "AuxLMClassifier": "gpt_classifier",
    "LSTMConfig": "lstm",
    "LSTMEncoder": "lstm",
    "LSTMLanguageModel": "lstm",
    "LockedDropout": "lstm",
    "Encoder": "encoders",
    "ModelLoadError": "encoders",
    "ModelNotAvailableError": "encoders",
    "count_parameters": "encoders",
    "hub_source": "encoders",
    "load_encoder": "encoders",
    "offline_model_dir": "encoders",
}
"""Public name -> submodule of :mod:`tlnlp.models` that defines it."""

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
