"""Gradient reversal: the identity going forward, :math:`-\\lambda` times the gradient going back.

A domain-adversarial network (DANN, Ganin et al. 2016) puts this layer between its features
and its domain classifier: the classifier descends the domain loss while the features
ascend it, in one backward pass. :class:`GradientReversal` also owns DANN's warm-start ramp
of :math:`\\lambda` and advances it itself on every training forward, so the loop that
trains it (:func:`tlnlp.train.fit`) needs to know nothing about it.

Used in chapters 10 and 11 (domain adaptation) and appendix A (the source articles' domain-adversarial model, corrected).

>>> import torch
>>> x = torch.ones(3, requires_grad=True)
>>> grad_reverse(x, 0.5).sum().backward()
>>> x.grad.tolist()
[-0.5, -0.5, -0.5]
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["GradientReversal", "dann_schedule", "grad_reverse"]


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)  # a new tensor, so autograd records this node

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity forward; the gradient is multiplied by ``-scale`` backward.

    Example:
        >>> x = torch.tensor([2.0], requires_grad=True)
        >>> (3 * grad_reverse(x)).sum().backward()
        >>> x.grad.item()
        -3.0
    """
    if not (scale >= 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be a finite number >= 0 (the reversal supplies the minus sign), got {scale}")
    return _ReverseGradient.apply(x, float(scale))


def dann_schedule(progress: float, gamma: float = 10.0) -> float:
    """Ganin et al.'s ramp for the reversal's scale: :math:`\\lambda_p = 2 / (1 + e^{-\\gamma p}) - 1`.

    It starts at 0 (the domain classifier's early, noisy gradients do not disturb the
    features) and approaches 1 as training progress :math:`p` goes from 0 to 1.

    Example:
        >>> dann_schedule(0.0), round(dann_schedule(1.0), 5)
        (0.0, 0.99991)
    """
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be in [0, 1] (step / total steps), got {progress}")
    _check_gamma(gamma)
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def _check_gamma(gamma: float) -> None:
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be a finite number > 0 (the ramp's steepness; DANN uses 10), got {gamma}")


class GradientReversal(nn.Module):
    """:func:`grad_reverse` as a layer whose scale follows DANN's warm-start ramp by itself.

    With ``max_steps``, the forward pass number :math:`t` (counted from 0) of a module in
    training mode, with gradients enabled, reverses with
    :math:`\\lambda_t = \\text{scale} \\cdot \\text{dann\\_schedule}(\\min(t / \\text{max\\_steps}, 1), \\gamma)`,
    and then counts itself (``steps += 1``). Evaluation (``model.eval()`` or
    ``torch.no_grad()``) neither reverses anything that matters nor advances the ramp. One
    training forward per optimizer step, as :func:`tlnlp.train.fit` makes, is one step of
    the ramp; a model that calls the layer several times per step (gradient accumulation,
    one call per domain) advances it several times, so call it once on all rows. Without
    ``max_steps`` the scale is constant.

    The count is a plain attribute, not part of the state dict: to resume a run, set
    ``layer.steps`` to the optimizer steps already taken.

    Arguments:
        max_steps: steps over which :math:`\\lambda` ramps from 0 towards ``scale``
            (``None``: no ramp).
        scale: the largest :math:`\\lambda` (DANN: 1).
        gamma: the ramp's steepness (DANN: 10).

    Attributes:
        steps: training forwards counted so far.
        scale_now: the :math:`\\lambda` the next training forward will use.

    Example:
        >>> layer = GradientReversal(max_steps=4)
        >>> x = torch.ones(1, requires_grad=True)
        >>> for _ in range(3):
        ...     layer(x).sum().backward()
        >>> layer.steps, round(layer.scale_now, 4), round(x.grad.item(), 4)
        (3, 0.9989, -1.8349)
    """

    def __init__(self, max_steps: int | None = None, scale: float = 1.0, gamma: float = 10.0) -> None:
        super().__init__()
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
            raise ValueError(f"max_steps must be a positive int (the optimizer steps of the run) or None, got {max_steps!r}")
        if not (scale >= 0 and math.isfinite(scale)):
            raise ValueError(f"scale must be a finite number >= 0 (the reversal supplies the minus sign), got {scale}")
        _check_gamma(gamma)
        self.max_steps = max_steps
        self.scale = float(scale)
        self.gamma = float(gamma)
        self.steps = 0

    @property
    def scale_now(self) -> float:
        if self.max_steps is None:
            return self.scale
        return self.scale * dann_schedule(min(self.steps / self.max_steps, 1.0), self.gamma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_now
        if self.training and torch.is_grad_enabled():
            self.steps += 1
        return grad_reverse(x, scale)

    def extra_repr(self) -> str:
        if self.max_steps is None:
            return f"scale={self.scale:g}"
        return f"scale={self.scale:g}, gamma={self.gamma:g}, steps={self.steps}/{self.max_steps}"
