"""MAML (Finn et al. 2017): learn an initialisation from which a few gradient steps fit a new task.

For a task with support set :math:`S` and query set :math:`Q`, the inner loop adapts the
meta-parameters :math:`\\theta` with one or more steps of
:math:`\\theta' = \\theta - \\alpha \\nabla_\\theta \\mathcal{L}_S(\\theta)`; the outer
loop minimises the query loss *after* adaptation, :math:`\\mathcal{L}_Q(\\theta')`, averaged
over tasks. Its gradient goes through the inner step, giving
:math:`(I - \\alpha \\nabla^2 \\mathcal{L}_S(\\theta))\\, \\nabla \\mathcal{L}_Q(\\theta')`,
which needs second derivatives; first-order MAML drops the Hessian term.

The adaptation is functional (``torch.func.functional_call`` with a dict of fast weights),
so the model's own parameters are never overwritten and any ``nn.Module`` works, Hugging
Face models included.

>>> import torch
>>> model = torch.nn.Linear(3, 2)
>>> maml = MAML(model, inner_lr=0.1)
>>> x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
>>> fast = maml.adapt(x, y)
>>> maml.predict(fast, x).shape
torch.Size([4, 2])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Callable, Iterable, NamedTuple

import torch
from torch import nn
from torch.func import functional_call

__all__ = ["MAML", "Task", "adapt", "forward", "inner_rates"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Params = dict[str, torch.Tensor]
InnerLR = float | Mapping[str, float]
"""One inner step size for every parameter, or one per parameter-name prefix (Meta-SGD-style
fixed rates: a pretrained Transformer layer needs far smaller steps than a fresh head)."""


def forward(model: nn.Module, params: Params, inputs: Any) -> torch.Tensor:
    """``model(inputs)`` with ``params`` in place of its own; a dict of inputs goes in as keyword
    arguments (``input_ids=..., attention_mask=...``), and an output with ``.logits`` (a Hugging
    Face model) gives its logits.

    Example:
        >>> lin = torch.nn.Linear(2, 1)
        >>> forward(lin, {"weight": torch.ones(1, 2), "bias": torch.zeros(1)}, torch.ones(1, 2)).item()
        2.0
    """
    if isinstance(inputs, Mapping):
        out = functional_call(model, params, (), dict(inputs))
    else:
        out = functional_call(model, params, (inputs,))
    return out.logits if hasattr(out, "logits") else out


class Task(NamedTuple):
    """One task: a support set to adapt on and a query set to score the adapted model."""

    support_x: Any  # a tensor, or a dict of keyword arguments for the model
    support_y: torch.Tensor
    query_x: Any
    query_y: torch.Tensor


def _check_rate(rate: Any, what: str) -> None:
    if isinstance(rate, bool) or not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
        raise ValueError(f"{what} must be a finite number > 0 (e.g. 0.01), got {rate!r}")


def _check_inner(inner_lr: InnerLR, steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be an int >= 0 (inner gradient steps), got {steps!r}")
    if isinstance(inner_lr, Mapping):
        if not inner_lr:
            raise ValueError("inner_lr is an empty mapping: give a step size per parameter-name prefix, e.g. {'head': 0.1, 'layers': 0.001}")
        for prefix, rate in inner_lr.items():
            _check_rate(rate, f"inner_lr[{prefix!r}]")
    else:
        _check_rate(inner_lr, "inner_lr")


def inner_rates(inner_lr: InnerLR, names: Iterable[str]) -> dict[str, float]:
    """The inner step size of each parameter: ``inner_lr`` itself, or the rate of the longest
    prefix of the parameter's name in the mapping ``inner_lr``.

    Raises:
        ValueError: a parameter matches no prefix (the message lists them and the prefixes).

    Example:
        >>> inner_rates({"head": 0.1, "layers": 1e-3, "layers.0.output": 1e-4},
        ...             ["head.weight", "layers.0.attention.w", "layers.0.output.w"])
        {'head.weight': 0.1, 'layers.0.attention.w': 0.001, 'layers.0.output.w': 0.0001}
    """
    names = list(names)
    if not isinstance(inner_lr, Mapping):
        return {name: float(inner_lr) for name in names}

    def matches(name: str, prefix: str) -> bool:
        return name == prefix or name.startswith(prefix.rstrip(".") + ".")

    rates, unmatched = {}, []
    for name in names:
        found = [prefix for prefix in inner_lr if matches(name, prefix)]
        if found:
            rates[name] = float(inner_lr[max(found, key=len)])
        else:
            unmatched.append(name)
    if unmatched:
        raise ValueError(f"parameters {unmatched[:3]} match no prefix of inner_lr {sorted(inner_lr)}: "
                         "add a prefix for them (an empty string is not a prefix; name the module)")
    return rates


def adapt(
    model: nn.Module,
    params: Params,
    inputs: Any,
    targets: torch.Tensor,
    *,
    loss_fn: LossFn = nn.functional.cross_entropy,
    steps: int = 1,
    inner_lr: InnerLR = 0.01,
    first_order: bool = False,
) -> Params:
    """``steps`` plain gradient steps on ``(inputs, targets)``, returned as new fast weights.

    Arguments:
        model: the network; only its structure is used (weights come from ``params``).
        params: name -> tensor for the parameters to adapt (others keep the model's values).
        inputs, targets: the support set; ``inputs`` may be a dict of keyword arguments.
        loss_fn: ``loss_fn(model_output, targets)``.
        steps: inner gradient steps.
        inner_lr: the inner step size :math:`\\alpha`, or a mapping from parameter-name prefix
            to step size (see :func:`inner_rates`).
        first_order: do not differentiate through the inner gradients (first-order MAML).

    Returns:
        The adapted parameters; with ``first_order=False`` they stay differentiable functions
        of ``params`` (second-order MAML).

    Example:
        >>> model = torch.nn.Linear(1, 1, bias=False)
        >>> _ = model.weight.data.fill_(0.0)
        >>> fast = adapt(model, dict(model.named_parameters()), torch.ones(1, 1), torch.ones(1, 1),
        ...              loss_fn=torch.nn.functional.mse_loss, inner_lr=0.25)
        >>> fast["weight"].item()  # 0 - 0.25 * d/dw (w - 1)^2 at w = 0 = 0.5
        0.5
    """
    _check_inner(inner_lr, steps)
    if not params:
        raise ValueError("params is empty: pass dict(model.named_parameters()) or the subset to adapt")
    known = dict(model.named_parameters())
    unknown = [name for name in params if name not in known]
    if unknown:
        raise KeyError(
            f"params {unknown[:3]} are not parameters of the model ({type(model).__name__}); names look like "
            f"{list(known)[:3]}: pass dict(model.named_parameters()) or a subset of it"
        )
    rates = inner_rates(inner_lr, params)
    frozen = [name for name, p in params.items() if not p.requires_grad]
    if steps and frozen:
        raise ValueError(f"params {frozen[:3]} do not require grad, so they cannot adapt: leave them out, or unfreeze them")
    for _ in range(steps):
        loss = loss_fn(forward(model, params, inputs), targets)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order, allow_unused=True)
        if all(g is None for g in grads):  # otherwise "adaptation" would silently be a no-op
            raise ValueError(f"the support loss does not depend on any of params {list(params)[:3]}...: adapt the parameters the model uses")
        params = {
            name: p if g is None else p - rates[name] * (g.detach() if first_order else g)
            for (name, p), g in zip(params.items(), grads)
        }
    return params


class MAML:
    """A model with MAML's inner loop attached, in the spirit of learn2learn's wrapper.

    Arguments:
        model: the network whose parameters are the meta-parameters :math:`\\theta`.
        inner_lr: inner step size :math:`\\alpha`, or one per parameter-name prefix
            (:func:`inner_rates`).
        inner_steps: inner gradient steps per task.
        first_order: first-order MAML (no second derivatives).
        loss_fn: ``loss_fn(output, targets)``, for both loops.

    Train by calling :meth:`meta_loss` on a batch of tasks and stepping any optimizer over
    ``model.parameters()``.

    Example:
        >>> maml = MAML(torch.nn.Linear(3, 2), inner_lr=0.1, inner_steps=2)
        >>> task = Task(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]), torch.randn(6, 3), torch.tensor([0, 1] * 3))
        >>> maml.meta_loss([task]).backward()
    """

    def __init__(
        self,
        model: nn.Module,
        inner_lr: InnerLR,
        inner_steps: int = 1,
        first_order: bool = False,
        loss_fn: LossFn = nn.functional.cross_entropy,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        _check_inner(inner_lr, inner_steps)
        inner_rates(inner_lr, (n for n, p in model.named_parameters() if p.requires_grad))  # fail now, not mid-training
        self.model = model
        self.inner_lr = inner_lr
        self.inner_steps = inner_steps
        self.first_order = first_order
        self.loss_fn = loss_fn

    def params(self) -> Params:
        """The meta-parameters that adapt: every parameter with ``requires_grad``."""
        return {name: p for name, p in self.model.named_parameters() if p.requires_grad}

    def adapt(self, support_x: Any, support_y: torch.Tensor, steps: int | None = None) -> Params:
        """Fast weights for one task (see :func:`adapt`)."""
        return adapt(self.model, self.params(), support_x, support_y, loss_fn=self.loss_fn,
                     steps=self.inner_steps if steps is None else steps, inner_lr=self.inner_lr,
                     first_order=self.first_order)

    def predict(self, fast: Params, x: Any) -> torch.Tensor:
        """The model's output on ``x`` with the fast weights."""
        return forward(self.model, fast, x)

    def meta_loss(self, tasks: Iterable[Task]) -> torch.Tensor:
        """Mean query loss after adapting to each task's support set."""
        losses = [self.loss_fn(self.predict(self.adapt(t.support_x, t.support_y), t.query_x), t.query_y) for t in tasks]
        if not losses:
            raise ValueError("meta_loss() needs at least one task")
        return torch.stack(losses).mean()
