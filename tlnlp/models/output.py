"""The one output every trainable tlnlp model returns: ``logits`` and, given targets, ``loss``.

:func:`tlnlp.train.fit` reads exactly these two fields, from a tlnlp model or from a
Hugging Face one (whose ``ModelOutput`` has the same names). ``Output`` is a ``dict``, as
Hugging Face's outputs are, so ``Trainer`` reads ``out["loss"]`` from it too; fields are
also attributes. Absent fields read as ``None``.

Introduced in chapter 4 (the GPT), used by every model of the book.

>>> import torch
>>> out = Output(logits=torch.zeros(2, 3))
>>> out.logits.shape, out.loss
(torch.Size([2, 3]), None)
>>> "loss" in out
False
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Output"]


class Output(dict):
    """Model outputs by name: ``logits`` (scores) and ``loss`` (a scalar, when targets were given).

    Other named tensors (``hidden``, ``domain_loss``...) may be added as keyword arguments.
    ``None`` values are not stored, so ``"loss" in out`` says whether a loss was computed.

    Arguments:
        logits: the model's scores, e.g. ``(batch, num_labels)`` or ``(batch, time, vocab)``.
        loss: the mean loss against the targets passed to the model, or ``None``.
        extra: other named values.

    Example:
        >>> import torch
        >>> out = Output(logits=torch.ones(1, 2), loss=torch.tensor(0.5), hidden=None)
        >>> sorted(out.keys()), float(out.loss), out["logits"].shape
        (['logits', 'loss'], 0.5, torch.Size([1, 2]))
        >>> sorted(Output({k: v for k, v in out.items()}).keys())  # rebuilt from a mapping, as dict(...)
        ['logits', 'loss']
    """

    def __init__(self, logits: Any = None, loss: Any = None, **extra: Any) -> None:
        super().__init__()
        if isinstance(logits, Mapping) and loss is None and not extra:
            # Rebuilt from its items, as libraries rebuild a dict (``type(out)({...})``: accelerate
            # does so to cast outputs back to fp32 under Trainer's bf16=True).
            logits, loss, extra = logits.get("logits"), logits.get("loss"), {k: v for k, v in logits.items() if k not in ("logits", "loss")}
        for name, value in (("loss", loss), ("logits", logits), *extra.items()):
            if value is not None:
                self[name] = value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.get(name)

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __iter__(self):  # type: ignore[no-untyped-def]
        # Unpacking `logits, loss = model(x)` (the old tuple contract) would silently give the
        # field names; make it fail loudly instead. dict methods (keys, items, values) still work.
        raise TypeError("a tlnlp Output is read by name (out.logits, out.loss), not unpacked like a tuple")

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{k}={tuple(v.shape)!r}" if hasattr(v, "shape") else f"{k}={v!r}" for k, v in dict.items(self)
        )
        return f"Output({parts})"
