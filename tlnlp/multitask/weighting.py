"""Weighting the tasks' losses: learned homoscedastic uncertainty (Kendall, Gal and Cipolla, 2018).

With one learned log-variance :math:`s_i` per task the loss to minimise is

.. math:: L = \\sum_i e^{-s_i} L_i + s_i .

For fixed :math:`L_i` it is smallest at :math:`s_i = \\log L_i`, i.e. a weight
:math:`e^{-s_i} = 1 / L_i`: a task whose loss is large (hard, or many classes) is weighted
down, and the :math:`+ s_i` term stops every weight from going to zero. Called with one task's
loss per batch (as :class:`~tlnlp.multitask.MultiTaskModel` does) each batch contributes its
task's term; over the steps the sum is taken in expectation under the task sampler.

Introduced in chapter 8.

>>> import torch
>>> w = UncertaintyWeighting(["a", "b"])
>>> float(w("a", torch.tensor(2.0)).detach())  # s = 0 at the start: the loss itself
2.0
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from .model import UnknownTaskError

__all__ = ["UncertaintyWeighting"]


class UncertaintyWeighting(nn.Module):
    """Learned task weights :math:`e^{-s_i}` with the :math:`+ s_i` regulariser (Kendall et al., 2018).

    Arguments:
        tasks: the task names.
        init: the initial :math:`s_i` (0: weight 1, the uniform sum at the start).

    Attributes:
        log_vars: ``nn.ParameterDict`` task -> :math:`s_i` (a scalar parameter). Train them at a
            larger learning rate than a pretrained body (they start far from their optimum
            :math:`\\log L_i`): give them their own optimizer group.

    Example:
        >>> w = UncertaintyWeighting(["a", "b"])
        >>> with torch.no_grad():
        ...     _ = w.log_vars["b"].fill_(1.0)
        >>> round(float(w("b", torch.tensor(2.0)).detach()), 4)  # exp(-1) * 2 + 1
        1.7358
        >>> {k: round(v, 3) for k, v in w.weights().items()}
        {'a': 1.0, 'b': 0.368}
    """

    def __init__(self, tasks: Sequence[str], init: float = 0.0) -> None:
        super().__init__()
        tasks = list(tasks)
        if not tasks or len(set(tasks)) != len(tasks):
            raise ValueError(f"UncertaintyWeighting needs distinct task names, got {tasks!r}")
        self.log_vars = nn.ParameterDict({t: nn.Parameter(torch.tensor(float(init))) for t in tasks})

    def forward(self, task: str, loss: Tensor) -> Tensor:
        """:math:`e^{-s_t} L_t + s_t` for the batch's task ``t``."""
        if task not in self.log_vars:
            raise UnknownTaskError(
                f"UncertaintyWeighting has no weight for task {task!r}; it knows {list(self.log_vars)}: "
                "build it with every task of the model, UncertaintyWeighting(model.tasks)"
            )
        s = self.log_vars[task]
        return torch.exp(-s) * loss + s

    def weights(self) -> dict[str, float]:
        """The current weights :math:`e^{-s_i}` by task."""
        return {t: float(torch.exp(-s.detach())) for t, s in self.log_vars.items()}
