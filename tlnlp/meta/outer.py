"""The outer loop of episodic meta-training, one for every learner with a ``meta_loss``.

Each meta-iteration samples a batch of tasks, computes the learner's loss after adapting to
each task (MAML's and ProtoMAML's query loss, or a prototypical network's episode loss), and
takes one optimizer step on the meta-parameters:

.. math:: \\theta \\leftarrow \\theta - \\beta \\nabla_\\theta \\frac{1}{|B|} \\sum_{\\tau \\in B}
          \\mathcal{L}_\\tau(\\text{adapt}(\\theta, \\tau))

Reptile has no query loss and its own update (:func:`tlnlp.meta.reptile_step`).

Example:
    >>> import numpy as np, torch
    >>> from tlnlp.meta import MAML, Task
    >>> head = torch.nn.Linear(4, 2)
    >>> maml = MAML(head, inner_lr=0.5, inner_steps=1)
    >>> rng = np.random.default_rng(0)
    >>> def task() -> Task:
    ...     x = torch.tensor(rng.normal(size=(8, 4)), dtype=torch.float32)
    ...     y = (x[:, 0] > 0).long()
    ...     return Task(x[:4], y[:4], x[4:], y[4:])
    >>> losses = meta_train(maml.meta_loss, task, torch.optim.Adam(head.parameters(), lr=1e-2), iterations=5)
    >>> len(losses)
    5
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm

from ..lm import NonFiniteLossError
from .maml import Task

__all__ = ["meta_train"]


def meta_train(
    meta_loss: Callable[[Sequence[Task]], torch.Tensor],
    sample_task: Callable[[], Task],
    optimizer: torch.optim.Optimizer,
    iterations: int,
    *,
    tasks_per_step: int = 4,
    after_step: Callable[[int], None] | None = None,
    progress: bool = False,
    desc: str = "meta-training",
) -> list[float]:
    """Run ``iterations`` meta-iterations; returns each one's meta-loss.

    Arguments:
        meta_loss: the loss over a batch of tasks, differentiable in the meta-parameters
            (``MAML.meta_loss``, ``ProtoMAML.meta_loss``, or e.g. the mean of
            :func:`tlnlp.meta.protonet_loss` over the tasks).
        sample_task: draws one training task; all of a step's tasks are drawn before its loss
            is computed, so the sampling order is the same whatever the learner.
        optimizer: over the meta-parameters (the outer learning rate is its own).
        iterations: meta-iterations (optimizer steps).
        tasks_per_step: tasks per meta-iteration (the meta-batch).
        after_step: called with the 1-based iteration number after each step (e.g. to track
            validation accuracy every so many steps).
        progress: show a tqdm bar.

    Raises:
        tlnlp.lm.NonFiniteLossError: a meta-loss is NaN or infinite (the step is not taken; the message
            names the iteration): lower the outer or the inner learning rate.
        ValueError: ``iterations`` or ``tasks_per_step`` is not a positive int.
    """
    for name, value in (("iterations", iterations), ("tasks_per_step", tasks_per_step)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"meta_train: {name} must be an int >= 1, got {value!r}")
    losses: list[float] = []
    for step in tqdm(range(1, iterations + 1), desc=desc, disable=not progress, leave=False):
        loss = meta_loss([sample_task() for _ in range(tasks_per_step)])
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"meta_train: the meta-loss is {value} at iteration {step} of {iterations}; the meta-parameters "
                "were not updated. Lower the outer learning rate (the optimizer's) or the inner one (inner_lr)"
            )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(value)
        if after_step is not None:
            after_step(step)
    return losses
