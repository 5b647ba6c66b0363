"""Episodic prototypical networks and ProtoMAML (Triantafillou et al. 2020).

A prototypical network (Snell et al. 2017) scores a query by its squared distance to each class's
mean embedding. Trained *episodically*, the embedding network ``embed`` is learned so that those
distances separate the classes of new tasks: the loss of an episode is the cross-entropy of
:func:`~tlnlp.meta.prototype_logits` on its query set.

ProtoMAML joins the two ideas. Since
:math:`-\\lVert z - c_k\\rVert^2 = 2 c_k^\\top z - \\lVert c_k\\rVert^2 - \\lVert z\\rVert^2` and the
last term is the same for every class, a linear head with weights :math:`W_k = 2 c_k` and bias
:math:`b_k = -\\lVert c_k\\rVert^2` *is* the prototypical classifier. ProtoMAML initialises the
head of each task that way from its support set, then takes MAML's inner steps on it (and, if
asked, on the embedding network); the outer loop trains ``embed`` through both.

>>> import torch
>>> embed = torch.nn.Linear(4, 3)
>>> task = Task(torch.randn(6, 4), torch.tensor([0, 1, 2] * 2), torch.randn(9, 4), torch.tensor([0, 1, 2] * 3))
>>> protonet_loss(embed, task, n_way=3).backward()
>>> learner = ProtoMAML(embed, n_way=3, inner_lr=0.1, inner_steps=2)
>>> learner.meta_loss([task]).backward()
>>> learner.predict(learner.adapt(task.support_x, task.support_y), task.query_x).shape
torch.Size([9, 3])
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from .maml import LossFn, Params, Task, _check_inner, adapt, forward
from .protonet import prototype_logits, prototypes

__all__ = ["ProtoMAML", "proto_head", "protonet_logits", "protonet_loss"]


def protonet_logits(embed: nn.Module, task: Task, n_way: int) -> torch.Tensor:
    """``(n_queries, n_way)`` logits of a prototypical network with embedding network ``embed``.

    Example:
        >>> task = Task(torch.eye(2), torch.tensor([0, 1]), torch.tensor([[0.9, 0.0]]), torch.tensor([0]))
        >>> protonet_logits(torch.nn.Identity(), task, 2).argmax(-1).tolist()
        [0]
    """
    return prototype_logits(embed(task.query_x), prototypes(embed(task.support_x), task.support_y, n_way))


def protonet_loss(embed: nn.Module, task: Task, n_way: int) -> torch.Tensor:
    """The episodic training loss: cross-entropy of :func:`protonet_logits` on the query set."""
    return nn.functional.cross_entropy(protonet_logits(embed, task, n_way), task.query_y)


def proto_head(support_z: torch.Tensor, support_y: torch.Tensor, n_way: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The linear head equal to the prototypical classifier: weights ``2 c_k``, biases ``-||c_k||^2``.

    Its logits differ from :func:`~tlnlp.meta.prototype_logits` by ``||z||^2``, the same for every
    class, so the softmax is the same.

    Example:
        >>> w, b = proto_head(torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 1]), 2)
        >>> w.tolist(), b.tolist()
        ([[2.0, 0.0], [0.0, 4.0]], [-1.0, -4.0])
    """
    protos = prototypes(support_z, support_y, n_way)
    return 2 * protos, -protos.pow(2).sum(-1)


class _EmbedThenHead(nn.Module):
    """``head(embed(x))``: the network ProtoMAML adapts; the head's own weights are placeholders."""

    def __init__(self, embed: nn.Module, dim: int, n_way: int) -> None:
        super().__init__()
        self.embed = embed
        self.head = nn.Linear(dim, n_way)

    def forward(self, x: Any) -> torch.Tensor:
        return self.head(self.embed(x))


class ProtoMAML:
    """ProtoMAML: a prototype-initialised head, then MAML's inner steps; the outer loop trains ``embed``.

    Arguments:
        embed: the embedding network (its parameters are the meta-parameters).
        n_way: classes per task.
        inner_lr, inner_steps: MAML's inner loop.
        first_order: do not differentiate through the inner gradients (Triantafillou et al.'s
            fo-Proto-MAML); the gradient through the prototype initialisation is kept either way.
        adapt_embed: also adapt ``embed``'s parameters in the inner loop (otherwise only the head).
        loss_fn: the loss of both loops.

    Example:
        >>> learner = ProtoMAML(torch.nn.Identity(), n_way=2, inner_lr=0.1, inner_steps=0)
        >>> fast = learner.adapt(torch.eye(2), torch.tensor([0, 1]))
        >>> learner.predict(fast, torch.tensor([[0.9, 0.1]])).argmax(-1).tolist()
        [0]
    """

    def __init__(
        self,
        embed: nn.Module,
        n_way: int,
        inner_lr: float,
        inner_steps: int = 1,
        first_order: bool = False,
        adapt_embed: bool = False,
        loss_fn: LossFn = nn.functional.cross_entropy,
    ) -> None:
        if not isinstance(embed, nn.Module):
            raise TypeError(f"embed must be a torch.nn.Module, got {type(embed).__name__}")
        if isinstance(n_way, bool) or not isinstance(n_way, int) or n_way < 2:
            raise ValueError(f"n_way must be an int >= 2 (classes per task), got {n_way!r}")
        _check_inner(inner_lr, inner_steps)
        if adapt_embed and not any(p.requires_grad for p in embed.parameters()):
            raise ValueError("adapt_embed=True but embed has no trainable parameters: set adapt_embed=False")
        self.embed, self.n_way = embed, n_way
        self.inner_lr, self.inner_steps = inner_lr, inner_steps
        self.first_order, self.adapt_embed, self.loss_fn = first_order, adapt_embed, loss_fn
        self._net: _EmbedThenHead | None = None

    def _network(self, dim: int) -> _EmbedThenHead:
        if self._net is None or self._net.head.in_features != dim:
            self._net = _EmbedThenHead(self.embed, dim, self.n_way)
        return self._net

    def adapt(self, support_x: Any, support_y: torch.Tensor, steps: int | None = None) -> Params:
        """Fast weights for one task: the prototype head (and ``embed``'s weights, if adapted) after the inner steps."""
        weight, bias = proto_head(self.embed(support_x), support_y, self.n_way)
        net = self._network(weight.shape[1])
        params: Params = {"head.weight": weight, "head.bias": bias}
        if not weight.requires_grad:  # a frozen embed: the head is still what adapts
            params = {name: p.detach().requires_grad_() for name, p in params.items()}
        if self.adapt_embed:
            params.update({f"embed.{n}": p for n, p in self.embed.named_parameters() if p.requires_grad})
        return adapt(net, params, support_x, support_y, loss_fn=self.loss_fn,
                     steps=self.inner_steps if steps is None else steps, inner_lr=self.inner_lr,
                     first_order=self.first_order)

    def predict(self, fast: Params, x: Any) -> torch.Tensor:
        """Logits of ``x`` under the fast weights of :meth:`adapt`."""
        return forward(self._network(fast["head.weight"].shape[1]), fast, x)

    def meta_loss(self, tasks: Iterable[Task]) -> torch.Tensor:
        """Mean query loss after adapting to each task's support set."""
        losses = [self.loss_fn(self.predict(self.adapt(t.support_x, t.support_y), t.query_x), t.query_y) for t in tasks]
        if not losses:
            raise ValueError("meta_loss() needs at least one task")
        return torch.stack(losses).mean()
