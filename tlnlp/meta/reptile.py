"""Reptile (Nichol et al. 2018): adapt to a task with SGD, then move the initialisation towards the result.

One meta-step on a task: starting from :math:`\\theta`, run :math:`k` steps of SGD on the task to
reach :math:`\\phi`, then set :math:`\\theta \\leftarrow \\theta + \\epsilon (\\phi - \\theta)`.
No second derivatives and no query set; with :math:`k = 1` it is plain joint training on the
tasks, and the few-shot behaviour comes from :math:`k > 1`.

>>> import torch
>>> model = torch.nn.Linear(2, 2)
>>> reptile_step(model, torch.randn(8, 2), torch.tensor([0, 1] * 4), inner_steps=3, inner_lr=0.1, meta_lr=0.5)
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .maml import adapt

__all__ = ["reptile_step"]


def reptile_step(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    inner_steps: int,
    inner_lr: float,
    meta_lr: float,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = nn.functional.cross_entropy,
) -> None:
    """One Reptile meta-step on one task, updating ``model``'s trainable parameters in place.

    Arguments:
        model: the network holding :math:`\\theta`.
        inputs, targets: the task's training examples (each inner step uses all of them).
        inner_steps: SGD steps :math:`k` on the task.
        inner_lr: SGD step size.
        meta_lr: the interpolation :math:`\\epsilon` towards the adapted weights (1 = jump to them).

    Example:
        >>> m = torch.nn.Linear(1, 1, bias=False)
        >>> _ = m.weight.data.fill_(0.0)
        >>> reptile_step(m, torch.ones(1, 1), torch.ones(1, 1), inner_steps=1, inner_lr=0.25, meta_lr=0.5,
        ...              loss_fn=torch.nn.functional.mse_loss)
        >>> m.weight.item()  # phi = 0.5 after one step; theta moves half way
        0.25
    """
    if not 0.0 < meta_lr <= 1.0:
        raise ValueError(f"meta_lr must be in (0, 1], got {meta_lr}")
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    adapted = adapt(model, params, inputs, targets, loss_fn=loss_fn, steps=inner_steps, inner_lr=inner_lr,
                    first_order=True)
    with torch.no_grad():
        for name, p in params.items():
            p.add_(meta_lr * (adapted[name].detach() - p))
