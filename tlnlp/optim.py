"""Optimizer pieces every recipe shares: the one weight-decay rule and nanoGPT's learning-rate schedule.

>>> import torch
>>> model = torch.nn.Linear(4, 2)
>>> optimizer = torch.optim.AdamW(decay_groups(model, weight_decay=0.1), lr=1e-3)
>>> scheduler = cosine_with_warmup(optimizer, warmup=10, decay_steps=100, min_lr_ratio=0.1)
>>> [g["weight_decay"] for g in optimizer.param_groups], round(optimizer.param_groups[0]["lr"], 6)
([0.1, 0.0], 9.1e-05)
"""

from __future__ import annotations

import math
import operator
from typing import Any

import torch
from torch import nn

__all__ = ["cosine_with_warmup", "decay_groups"]


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two optimizer parameter groups: weight decay on matrices and embeddings, none on the rest.

    The rule is the parameter's shape: tensors of 2 or more dimensions (weight matrices,
    embeddings) are decayed; 1-D ones (biases, LayerNorm gains and offsets) are not, since
    shrinking a gain or an offset towards 0 is no regularisation. This is nanoGPT's rule, and
    on BERT-style models it selects exactly what Hugging Face's ``Trainer`` exempts by name
    (``bias`` and ``LayerNorm``). Frozen parameters are left out; tied parameters appear once;
    an empty group is dropped.

    Arguments:
        model: the module whose trainable parameters to group.
        weight_decay: the decay of the first group.

    Returns:
        A list of ``{"params": [...], "weight_decay": ...}`` dicts for any ``torch.optim`` optimizer.

    Example:
        >>> groups = decay_groups(nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2)), weight_decay=0.1)
        >>> [(len(g["params"]), g["weight_decay"]) for g in groups]
        [(1, 0.1), (3, 0.0)]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"decay_groups() takes a torch.nn.Module, got {type(model).__name__}")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or not 0 <= weight_decay < math.inf:
        raise ValueError(f"weight_decay must be a finite number >= 0 (e.g. 0.01 or 0.1), got {weight_decay!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameters to optimise (all are frozen)")
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def cosine_with_warmup(
    optimizer: torch.optim.Optimizer, warmup: int, decay_steps: int, min_lr_ratio: float = 0.1
) -> torch.optim.lr_scheduler.LambdaLR:
    """nanoGPT's schedule: linear warm-up, then a cosine decay to a floor, as a ``LambdaLR``.

    Step it after every optimizer step (:func:`tlnlp.train.fit` does). At optimizer step ``s``
    (0-based) each group's learning rate is its initial ``lr`` times

    - ``(s + 1) / (warmup + 1)`` during the warm-up (``s < warmup``);
    - ``r + (1 - r) (1 + cos(pi p)) / 2`` with ``p = (s - warmup) / (decay_steps - warmup)``
      and ``r = min_lr_ratio``, from the peak down to the floor;
    - ``r`` from ``decay_steps`` on.

    Arguments:
        optimizer: its groups' ``lr`` are the peaks.
        warmup: steps of linear warm-up.
        decay_steps: the step at which the cosine reaches the floor (usually the last step).
        min_lr_ratio: the floor as a fraction of the peak (nanoGPT: ``min_lr / lr`` = 0.1).

    Example:
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
        >>> sched = cosine_with_warmup(opt, warmup=100, decay_steps=2000, min_lr_ratio=0.1)
        >>> lrs = []
        >>> for step in range(2001):
        ...     lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
        >>> [round(lrs[s], 6) for s in (0, 99, 100, 1050, 2000)]
        [1e-05, 0.00099, 0.001, 0.00055, 0.0001]
    """
    for name, value in (("warmup", warmup), ("decay_steps", decay_steps)):
        if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
            raise ValueError(f"{name} must be an int (a number of optimizer steps), got {value!r}")
    warmup, decay_steps = operator.index(warmup), operator.index(decay_steps)
    if warmup < 0 or warmup >= decay_steps:
        raise ValueError(f"need 0 <= warmup < decay_steps, got warmup={warmup}, decay_steps={decay_steps}")
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(f"min_lr_ratio must lie in [0, 1] (the floor as a fraction of the peak), got {min_lr_ratio}")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if step >= decay_steps:
            return min_lr_ratio
        progress = (step - warmup) / (decay_steps - warmup)
        return min_lr_ratio + 0.5 * (1.0 + math.cos(math.pi * progress)) * (1.0 - min_lr_ratio)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
