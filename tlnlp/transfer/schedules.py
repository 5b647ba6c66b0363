"""Learning rates for fine-tuning: discriminative rates per layer and ULMFiT's slanted triangle.

Both come from ULMFiT (Howard & Ruder, 2018). Lower layers hold more general features
and should move less, so layer ``l`` trains with ``lr_l = lr_{l+1} / factor``
(``factor = 2.6`` in the paper); and the learning rate first rises quickly, then decays
slowly, so the model finds a good region early and refines it:

>>> import torch
>>> from tlnlp.transfer import ParamGroup
>>> layers = [ParamGroup(f"layer.{i}", {"w": torch.nn.Parameter(torch.zeros(1))}) for i in range(3)]
>>> [round(g["lr"], 6) for g in discriminative_lr_groups(layers, base_lr=1e-3)]
[0.000148, 0.000385, 0.001]
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Protocol, Sequence

import numpy as np
import torch
from torch.optim.lr_scheduler import LambdaLR

from .freezing import ParamGroup

__all__ = ["discriminative_lr_groups", "slanted_triangular", "StepTogether"]


def discriminative_lr_groups(
    groups: Sequence[ParamGroup | Iterable[torch.nn.Parameter]],
    base_lr: float,
    factor: float = 2.6,
    **options: Any,
) -> list[dict[str, Any]]:
    """Optimizer parameter groups whose learning rate shrinks by ``factor`` per layer downwards.

    The top group (last) gets ``base_lr``; the group ``k`` places below it gets
    ``base_lr / factor**k``.

    Arguments:
        groups: bottom-to-top groups: :class:`ParamGroup` s (e.g. from
            :func:`~tlnlp.transfer.layer_groups`) or iterables of parameters.
        base_lr: the learning rate of the top group.
        factor: the ratio between a layer's rate and the rate of the layer below it
            (2.6 in ULMFiT; 1 gives every group ``base_lr``).
        options: other per-group settings (e.g. ``weight_decay=0.01``) copied into every group.

    Returns:
        A list of dicts for a ``torch.optim`` optimizer, each with ``params``, ``lr`` and
        ``name`` (the group's name, or ``group.<i>``), bottom first.

    Raises:
        ValueError: ``factor`` or ``base_lr`` is not positive.

    Example:
        >>> head = torch.nn.Linear(2, 2); body = torch.nn.Linear(2, 2)
        >>> opt = torch.optim.AdamW(discriminative_lr_groups([body.parameters(), head.parameters()], 1e-3))
        >>> [(g["name"], round(g["lr"], 6)) for g in opt.param_groups]
        [('group.0', 0.000385), ('group.1', 0.001)]
    """
    if not factor > 0:
        raise ValueError(f"factor must be > 0 (2.6 in ULMFiT; 1 for one learning rate everywhere), got {factor}")
    if not base_lr > 0:
        raise ValueError(f"base_lr must be > 0, got {base_lr}")
    groups = list(groups)
    top = len(groups) - 1
    result = []
    for i, group in enumerate(groups):
        if isinstance(group, ParamGroup):
            name, params = group.name, group.params
        else:
            name, params = f"group.{i}", list(group)
        result.append({"params": params, "lr": base_lr / factor ** (top - i), "name": name, **options})
    return result


def slanted_triangular(
    optimizer: torch.optim.Optimizer, total_steps: int, cut_frac: float = 0.1, ratio: float = 32
) -> LambdaLR:
    """ULMFiT's slanted triangular learning-rate schedule, per optimizer step.

    With ``T = total_steps`` and ``cut = floor(T * cut_frac)`` (at least 1), each group's
    learning rate at step ``t`` is ``lr * (1 + p * (ratio - 1)) / ratio`` where
    ``p = t / cut`` while ``t < cut`` and ``p = 1 - (t - cut) / (T - cut)`` after: it climbs
    linearly from ``lr / ratio`` to ``lr`` at step ``cut`` and decays linearly back to
    ``lr / ratio`` at step ``T``. When ``T * cut_frac`` is a whole number ``T - cut``
    equals the paper's ``cut * (1 / cut_frac - 1)``; otherwise this form still ends at
    step ``T``. Every parameter group keeps its own peak rate (so discriminative rates
    keep their ratios).

    Arguments:
        optimizer: its groups' ``lr`` are the peak rates.
        total_steps: optimizer steps of the whole run (at least 2).
        cut_frac: fraction of the steps spent increasing the rate, in (0, 1).
        ratio: how much smaller the lowest rate is than the peak (>= 1).

    Returns:
        A ``LambdaLR``; call its ``step()`` after every ``optimizer.step()`` (as
        :func:`tlnlp.train.fit` does with its ``scheduler``).

    Example:
        >>> p = torch.nn.Parameter(torch.zeros(1))
        >>> opt = torch.optim.SGD([p], lr=0.32)
        >>> sched = slanted_triangular(opt, total_steps=100)
        >>> rates = []
        >>> for _ in range(100):
        ...     rates.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
        >>> round(rates[0], 4), round(max(rates), 4), rates.index(max(rates))
        (0.01, 0.32, 10)
    """
    if isinstance(total_steps, bool) or not isinstance(total_steps, (int, np.integer)) or total_steps < 2:
        raise ValueError(f"total_steps must be an int >= 2, got {total_steps!r}")
    total_steps = int(total_steps)
    if not 0 < cut_frac < 1:
        raise ValueError(f"cut_frac must lie strictly between 0 and 1, got {cut_frac}")
    if not ratio >= 1:
        raise ValueError(f"ratio (peak / lowest learning rate) must be >= 1, got {ratio}")
    cut = min(max(1, math.floor(total_steps * cut_frac)), total_steps - 1)

    def multiplier(t: int) -> float:
        p = t / cut if t < cut else 1 - (t - cut) / (total_steps - cut)
        return (1 + max(p, 0.0) * (ratio - 1)) / ratio

    return LambdaLR(optimizer, multiplier)


class _Steppable(Protocol):
    def step(self) -> Any: ...


class StepTogether:
    """Call ``step()`` on several objects at once: a scheduler and a :class:`GradualUnfreezer`.

    :func:`tlnlp.train.fit` steps one ``scheduler`` after every optimizer step; wrap
    both in this to have both follow the steps.

    Example:
        >>> from tlnlp.transfer import GradualUnfreezer
        >>> p = torch.nn.Parameter(torch.zeros(1)); opt = torch.optim.SGD([p], lr=1.0)
        >>> sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        >>> unfreezer = GradualUnfreezer([ParamGroup("body", {}), ParamGroup("head", {"p": p})])
        >>> both = StepTogether(sched, unfreezer)
        >>> opt.step(); both.step()
        >>> opt.param_groups[0]["lr"], unfreezer.trainable_groups
        (0.5, ['body', 'head'])
    """

    def __init__(self, *steppers: _Steppable) -> None:
        missing = [type(s).__name__ for s in steppers if not callable(getattr(s, "step", None))]
        if missing:
            raise TypeError(f"StepTogether needs objects with a step() method; {missing} have none")
        self.steppers = steppers

    def step(self) -> None:
        """Step every object, in the order given."""
        for stepper in self.steppers:
            stepper.step()
