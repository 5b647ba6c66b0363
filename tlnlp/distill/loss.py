"""Hinton et al.'s distillation loss: soft targets at temperature T, hard labels, or both.

Introduced in chapter 9. With student logits :math:`s`, teacher logits :math:`t` and
:math:`p^T(z) = \\operatorname{softmax}(z / T)`,

.. math::

    L = \\alpha \\, T^2 \\, \\mathrm{KL}\\big(p^T(t) \\,\\|\\, p^T(s)\\big) + (1 - \\alpha)\\, \\mathrm{CE}(s, y).

The gradient of the KL term with respect to :math:`s` is :math:`(p^T(s) - p^T(t)) / T`, which
shrinks like :math:`1/T^2` once :math:`T` is large; the factor :math:`T^2` keeps the soft
term's pull of the same order at every temperature, so that :math:`\\alpha` means the same
thing whatever :math:`T` is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DistillationLoss", "soft_target_loss", "IGNORE_INDEX"]

IGNORE_INDEX = -100
"""The label of a transfer sentence without a gold label (only the soft term sees it)."""


def _check_temperature(temperature: float) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(
            f"temperature must be a number > 0 (1 reproduces the teacher's probabilities, 2-5 softens them), "
            f"got {temperature!r}"
        )
    return float(temperature)


def soft_target_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0, scale: bool = True) -> Tensor:
    """Mean over rows of ``KL(softmax(t/T) || softmax(s/T))``, times ``T²`` when ``scale``.

    Arguments:
        student_logits: ``(batch, classes)``.
        teacher_logits: ``(batch, classes)``, no gradient needed.
        temperature: ``T > 0``.
        scale: multiply by ``T²`` (Hinton et al.'s gradient scaling).

    Example:
        >>> s = torch.tensor([[1.0, 0.0]]); float(soft_target_loss(s, s, temperature=2.0))
        0.0
    """
    T = _check_temperature(temperature)
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
        raise ValueError(
            f"student and teacher logits must both be (batch, classes), got {tuple(student_logits.shape)} and "
            f"{tuple(teacher_logits.shape)}: the student needs as many classes as the teacher"
        )
    log_p_student = F.log_softmax(student_logits / T, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.to(student_logits.dtype) / T, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * T * T if scale else kl


class DistillationLoss(nn.Module):
    """``alpha · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 − alpha) · CE(s, y)``.

    Rows whose label is :data:`IGNORE_INDEX` (unlabelled transfer sentences) enter the soft
    term only; the hard term is the mean cross-entropy over the labelled rows (0 when a batch
    has none).

    Arguments:
        temperature: ``T > 0``; ``T = 1`` matches the teacher's probabilities, larger ``T`` also
            matches the small ones ("dark knowledge").
        alpha: weight of the soft term in ``[0, 1]``: 1 soft targets only, 0 hard labels only.
        scale: multiply the soft term by ``T²`` (default; switch off only to see why it is there).

    Raises:
        ValueError: ``temperature <= 0`` or ``alpha`` outside ``[0, 1]``.

    Example:
        >>> loss = DistillationLoss(temperature=2.0, alpha=0.5)
        >>> s, t = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]])
        >>> round(float(loss(s, t, torch.tensor([0]))), 4)
        0.9877
    """

    def __init__(self, temperature: float = 2.0, alpha: float = 0.5, scale: bool = True) -> None:
        super().__init__()
        self.temperature = _check_temperature(temperature)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1] (1: soft targets only, 0: hard labels only), got {alpha!r}")
        self.alpha = float(alpha)
        self.scale = scale

    def forward(self, student_logits: Tensor, teacher_logits: Tensor | None = None, labels: Tensor | None = None) -> Tensor:
        """The loss of a batch.

        Arguments:
            student_logits: ``(batch, classes)``.
            teacher_logits: ``(batch, classes)``; needed when ``alpha > 0``.
            labels: ``(batch,)`` class indices, :data:`IGNORE_INDEX` where unknown; needed when ``alpha < 1``.
        """
        loss = student_logits.sum() * 0.0  # attached to the graph even when a term is absent
        if self.alpha > 0:
            if teacher_logits is None:
                raise ValueError(f"alpha={self.alpha} needs teacher_logits in the batch (or alpha=0: hard labels only)")
            loss = loss + self.alpha * soft_target_loss(student_logits, teacher_logits, self.temperature, self.scale)
        if self.alpha < 1:
            if labels is None:
                raise ValueError(f"alpha={self.alpha} needs labels in the batch (or alpha=1: soft targets only)")
            labelled = labels != IGNORE_INDEX
            if bool(labelled.any()):
                hard = F.cross_entropy(student_logits[labelled], labels[labelled])
                loss = loss + (1 - self.alpha) * hard
        return loss

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}, scale={self.scale}"
