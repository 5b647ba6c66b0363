"""Teacher-student training through :func:`tlnlp.train.fit`: precomputed teacher logits in the batches.

Introduced in chapter 9. The teacher is frozen, so its logits on a transfer sentence never
change: :func:`predict_logits` computes them once, :func:`distill_loader` puts them in every
batch next to the student's own token ids, and :class:`Distiller` turns the student's logits and
the batch into :class:`~tlnlp.models.Output` ``(logits, loss)``. Training the student is then an
ordinary ``fit``; the teacher never runs during training.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ..models.output import Output
from ..text.batching import LengthBucketSampler, PadCollator, TokenizedDataset
from .init import check_vocabulary
from .loss import IGNORE_INDEX, DistillationLoss

__all__ = ["Distiller", "predict_logits", "distill_loader", "TransferSet"]


@torch.inference_mode()
def predict_logits(
    model: nn.Module, data: TokenizedDataset, *, batch_size: int = 128, pad_token_id: int = 0, device: Any = "cpu"
) -> Tensor:
    """The model's logits for every example of ``data``, in its order, as a CPU float tensor.

    Batches are sorted by length (little padding) and the model runs in eval mode under
    ``torch.inference_mode``; its previous mode is restored.

    Example:
        >>> from tlnlp.models import Classifier
        >>> clf = Classifier(nn.Embedding(10, 4), num_labels=2)
        >>> predict_logits(clf, TokenizedDataset([[1, 2, 3], [4]])).shape
        torch.Size([2, 2])
    """
    was_training = model.training
    model.eval().to(device)
    collate = PadCollator(pad_token_id)
    order = np.argsort(-data.lengths, kind="stable")
    out: Tensor | None = None
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = collate([{"input_ids": data.input_ids[i]} for i in rows])
            result = model(**{k: v.to(device) for k, v in batch.items()})
            logits = result if isinstance(result, Tensor) else result.logits
            if out is None:
                out = torch.empty(len(data), logits.shape[-1])
            out[torch.as_tensor(rows)] = logits.float().cpu()
    finally:
        model.train(was_training)
    if out is None:
        raise ValueError("predict_logits() got an empty dataset")
    return out


class TransferSet(Dataset):
    """The student's token ids, gold labels (``-100`` where unknown) and the teacher's logits.

    Example:
        >>> ts = TransferSet(TokenizedDataset([[5, 6], [7]], [1, 0]), torch.zeros(2, 2))
        >>> ts[0]["labels"], ts[0]["teacher_logits"].tolist()
        (1, [0.0, 0.0])
    """

    def __init__(self, data: TokenizedDataset, teacher_logits: Tensor) -> None:
        if teacher_logits.dim() != 2 or len(teacher_logits) != len(data):
            raise ValueError(
                f"{len(data)} sentences but teacher logits of shape {tuple(teacher_logits.shape)}: compute them on "
                "the same sentences, in the same order (predict_logits(teacher, <the teacher's tokens of them>))"
            )
        self.data = data
        self.teacher_logits = teacher_logits.float()
        self.labels = [IGNORE_INDEX] * len(data) if data.labels is None else list(data.labels)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"input_ids": self.data.input_ids[index], "labels": self.labels[index],
                "teacher_logits": self.teacher_logits[index]}


class _Collate:
    def __init__(self, pad_token_id: int) -> None:
        self.pad = PadCollator(pad_token_id)

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Tensor]:
        batch = self.pad(items)
        batch["teacher_logits"] = torch.stack([item["teacher_logits"] for item in items])
        return batch


def distill_loader(
    data: TokenizedDataset,
    teacher_logits: Tensor,
    batch_size: int,
    *,
    shuffle: bool = True,
    pad_token_id: int = 0,
    seed: int | None = None,
) -> DataLoader:
    """Length-bucketed batches ``{input_ids, attention_mask, labels, teacher_logits}``.

    Arguments:
        data: the student's token ids of the transfer sentences; its labels, or ``None`` for
            unlabelled ones (given the label ``-100``: only the soft term sees them).
        teacher_logits: ``(len(data), classes)`` from :func:`predict_logits` on the same sentences.
        batch_size: sentences per batch.
        shuffle: random length buckets (training) or sorted by length.
        pad_token_id: the student's padding id.
        seed: the bucket shuffling's seed (``None``: from torch's generator, so ``fit(seed=...)`` fixes it).

    Example:
        >>> loader = distill_loader(TokenizedDataset([[5, 6], [7]], None), torch.zeros(2, 2), 2)
        >>> sorted(next(iter(loader))), next(iter(loader))["labels"].tolist()
        (['attention_mask', 'input_ids', 'labels', 'teacher_logits'], [-100, -100])
    """
    dataset = TransferSet(data, teacher_logits)
    sampler = LengthBucketSampler(data.lengths, batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=_Collate(pad_token_id))


class Distiller(nn.Module):
    """A student and a :class:`~tlnlp.distill.loss.DistillationLoss`: what ``fit`` trains.

    ``forward(input_ids, attention_mask, labels, teacher_logits)`` returns the student's
    logits and the distillation loss; without ``teacher_logits`` (a plain evaluation batch) the
    loss is the cross-entropy on the labels, so :func:`tlnlp.train.evaluate` scores it unchanged.

    Arguments:
        student: a model taking ``input_ids`` (and ``attention_mask``) and returning logits or an
            object with ``.logits`` (a :class:`~tlnlp.models.Classifier`).
        loss: the distillation loss (default: ``DistillationLoss()``, ``T = 2``, ``alpha = 0.5``).
        teacher: if given, checked with :func:`~tlnlp.distill.init.check_vocabulary` (then dropped:
            the teacher's logits come in the batches).
        mapping: the student's own vocabulary, when it reads other ids than the teacher.

    Example:
        >>> from tlnlp.models import Classifier
        >>> d = Distiller(Classifier(nn.Embedding(10, 4), num_labels=2), DistillationLoss(2.0, alpha=1.0))
        >>> out = d(torch.tensor([[1, 2]]), teacher_logits=torch.tensor([[0.5, -0.5]]))
        >>> out.logits.shape, out.loss.dim()
        (torch.Size([1, 2]), 0)
    """

    def __init__(
        self, student: nn.Module, loss: DistillationLoss | None = None, *, teacher: nn.Module | None = None,
        mapping: Any = None,
    ) -> None:
        super().__init__()
        if teacher is not None:
            check_vocabulary(teacher, student, mapping)
        self.student = student
        self.loss_fn = loss if loss is not None else DistillationLoss()

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        labels: Tensor | None = None,
        teacher_logits: Tensor | None = None,
    ) -> Output:
        out = self.student(input_ids=input_ids, attention_mask=attention_mask)
        logits = out if isinstance(out, Tensor) else out.logits
        if teacher_logits is not None:
            loss = self.loss_fn(logits, teacher_logits, labels)
        elif labels is not None:
            loss = nn.functional.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)
        else:
            loss = None
        return Output(logits=logits, loss=loss)
