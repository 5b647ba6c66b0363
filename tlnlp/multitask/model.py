"""Hard parameter sharing: one body, one head per task, each batch routed by its ``"task"``.

:class:`MultiTaskModel` holds a body and named task models that are all built *on that same
body object*: a :class:`~tlnlp.models.Classifier` for a sentence task, a
:class:`~tlnlp.models.heads.TokenClassifier` for a tagging task. The body's weights exist once
and every task's gradient moves them; each head's weights belong to its task alone. A batch is
the dict every tlnlp loader gives plus ``"task": name`` (:class:`~tlnlp.multitask.TaskSampler`
adds it), so :func:`tlnlp.train.fit` trains the model unchanged (it passes strings through).

Introduced in chapter 8.

>>> import torch
>>> from tlnlp.models import Classifier
>>> body = torch.nn.Embedding(20, 8)
>>> model = MultiTaskModel(body, {"topic": Classifier(body, 3), "sentiment": Classifier(body, 2)})
>>> out = model(task="sentiment", input_ids=torch.tensor([[3, 4]]), labels=torch.tensor([1]))
>>> out.logits.shape, out.loss.dim()
(torch.Size([1, 2]), 0)
"""

from __future__ import annotations

from typing import Any, Mapping

from torch import Tensor, nn

from ..models.output import Output

__all__ = ["MultiTaskModel", "UnknownTaskError"]


class UnknownTaskError(LookupError):
    """A batch names a task the :class:`MultiTaskModel` has no head for (or names none)."""


class MultiTaskModel(nn.Module):
    """One shared body and a head per task; ``forward(task=..., **batch)`` runs the task's head.

    Arguments:
        body: the shared module (e.g. a pretrained encoder).
        heads: task name -> a model built on ``body`` (``head.body is body``), e.g.
            ``Classifier(body, 2)``; it takes the batch's tensors and returns an
            :class:`~tlnlp.models.Output` with ``logits`` and, given ``labels``, ``loss``.
        weighting: ``None`` (every task's loss counts as it is: uniform weights) or a module
            called as ``weighting(task, loss)`` that returns the loss to minimise, e.g.
            :class:`~tlnlp.multitask.UncertaintyWeighting`.

    Attributes:
        body, heads (an ``nn.ModuleDict``), weighting.

    Raises:
        ValueError: no heads, or a head that does not hold ``body`` itself (it would not share it).

    The output's ``loss`` is the (weighted) loss of the batch's task; the unweighted one is
    ``task_loss``.

    Example:
        >>> import torch
        >>> from tlnlp.models import Classifier
        >>> body = torch.nn.Embedding(20, 8)
        >>> model = MultiTaskModel(body, {"a": Classifier(body, 2)})
        >>> model(task="b", input_ids=torch.tensor([[1]]))
        Traceback (most recent call last):
        ...
        tlnlp.multitask.model.UnknownTaskError: a batch for task 'b', but the model has heads only for ['a']: add a head for 'b' (heads={..., 'b': Classifier(body, ...)}) or fix the batch's 'task'
    """

    def __init__(self, body: nn.Module, heads: Mapping[str, nn.Module], weighting: nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(body, nn.Module):
            raise TypeError(f"the body must be a torch.nn.Module, got {type(body).__name__}")
        if not heads:
            raise ValueError("MultiTaskModel needs at least one head: heads={'task name': Classifier(body, n)}")
        for name, head in heads.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"task names must be non-empty strings, got {name!r}")
            if getattr(head, "body", None) is not body:
                raise ValueError(
                    f"the head of task {name!r} does not hold the shared body (head.body is not body), so the tasks "
                    "would not share it: build every head on the same body object, e.g. Classifier(body, n)"
                )
        self.body = body
        self.heads = nn.ModuleDict(dict(heads))
        self.weighting = weighting

    @property
    def tasks(self) -> list[str]:
        """The task names, in the order the heads were given."""
        return list(self.heads)

    def forward(self, task: str | None = None, labels: Tensor | None = None, **inputs: Any) -> Output:
        """Run the head of ``task`` on the batch; with ``labels``, its loss (weighted, if a weighting is set)."""
        if task is None:
            raise UnknownTaskError(
                f"the batch has no 'task' (its keys: {sorted(inputs) + (['labels'] if labels is not None else [])}): "
                "draw batches with tlnlp.multitask.TaskSampler, or tag one loader with TaskBatches(loader, task)"
            )
        if task not in self.heads:
            raise UnknownTaskError(
                f"a batch for task {task!r}, but the model has heads only for {self.tasks}: add a head for {task!r} "
                f"(heads={{..., {task!r}: Classifier(body, ...)}}) or fix the batch's 'task'"
            )
        out = self.heads[task](**inputs, labels=labels)
        if labels is None:
            return Output(logits=out.logits)
        loss = out.loss if self.weighting is None else self.weighting(task, out.loss)
        return Output(logits=out.logits, loss=loss, task_loss=out.loss.detach())
