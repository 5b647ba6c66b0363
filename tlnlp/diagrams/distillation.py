"""Chapter 9's diagram: knowledge distillation, a frozen teacher labelling the transfer set once.

The transfer set (labelled and, optionally, unlabelled sentences) goes through the fine-tuned,
frozen teacher once and its logits ``t`` are stored; the student reads the same sentences and is
trained with ``α T² KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α) CE(softmax(s), y)``, the
cross-entropy only on the labelled rows.

>>> fig = distillation_diagram()
>>> "loss\\nα T² KL + (1−α) CE" in [t.get_text() for t in fig.axes[0].texts]
True
"""

from __future__ import annotations

from matplotlib.figure import Figure

from .draw import arrow, box, canvas

__all__ = ["distillation_diagram", "loss_label"]


def _number(x: float) -> str:
    return f"{x:g}"


def loss_label(alpha: float | None = None, temperature: float | None = None) -> str:
    """The distillation loss as written in the diagram, symbolic (``None``) or with numbers.

    Terms with a zero weight are left out: ``alpha=0`` is plain training on hard labels,
    ``alpha=1`` pure soft targets.

    Example:
        >>> loss_label()
        'α T² KL + (1−α) CE'
        >>> loss_label(alpha=0.5, temperature=2)
        '0.5·2² KL + 0.5 CE'
        >>> loss_label(alpha=1)
        'T² KL'
    """
    if alpha is not None and not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if temperature is not None and not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    t2 = "T²" if temperature is None else f"{_number(temperature)}²"
    if alpha is None:
        kl = f"α {t2}" if temperature is None else f"α·{t2}"
        return f"{kl} KL + (1−α) CE"
    if alpha == 0:
        return "CE"
    kl_weight = t2 if alpha == 1 else (f"{_number(alpha)} {t2}" if temperature is None else f"{_number(alpha)}·{t2}")
    if alpha == 1:
        return f"{kl_weight} KL"
    return f"{kl_weight} KL + {_number(1 - alpha)} CE"


def distillation_diagram(
    *,
    alpha: float | None = None,
    temperature: float | None = None,
    unlabelled: bool = True,
) -> Figure:
    """Draw the distillation pipeline: transfer set -> frozen teacher -> teacher logits (computed
    once) and transfer set -> student logits, both into the loss of :func:`loss_label`; the gold
    labels join the loss for the labelled rows only.

    Grey: frozen (the teacher); orange: trained (the student); blue: data (sentences, stored
    logits); red: the loss (:data:`tlnlp.diagrams.draw.PALETTE`).

    Arguments:
        alpha: the weight of the soft-target term, or ``None`` to write α.
        temperature: the softmax temperature, or ``None`` to write T.
        unlabelled: whether the transfer set is enlarged with unlabelled sentences.

    Returns:
        The figure (not saved).

    Example:
        >>> fig = distillation_diagram(alpha=0.5, temperature=2, unlabelled=False)
        >>> texts = [t.get_text() for t in fig.axes[0].texts]
        >>> "loss\\n0.5·2² KL + 0.5 CE" in texts, "unlabelled\\nsentences" in texts
        (True, False)
    """
    label = loss_label(alpha, temperature)
    t_name = "T" if temperature is None else _number(temperature)
    soft, hard = alpha != 0, alpha != 1
    fig, ax = canvas(10.0, 4.2)
    # The transfer set: a frame around the sentence boxes, feeding both teacher and student.
    bottom = 0.45 if unlabelled else 2.05
    group = box(ax, (1.1, (bottom + 3.5) / 2), "", width=1.9, height=3.5 - bottom, color="plain")
    ax.text(group.x, bottom + 0.08, "transfer set", ha="center", va="bottom", fontsize=8, style="italic")
    labelled = box(ax, (1.1, 2.85), "labelled\nsentences", width=1.6, height=0.8, color="data")
    if unlabelled:
        box(ax, (1.1, 1.55), "unlabelled\nsentences", width=1.6, height=0.8, color="data")
    teacher = box(ax, (4.0, 2.85), "teacher\n(fine-tuned, frozen)", width=2.0, height=0.8, color="frozen")
    logits = box(ax, (6.6, 2.85), "teacher logits t\n(computed once)", width=1.9, height=0.8, color="data")
    student = box(ax, (4.0, 0.85), "student\nlogits s", width=2.0, height=0.8, color="trained")
    loss = box(ax, (8.85, 1.6), "loss\n" + label, width=1.9, height=0.9, color="loss")
    right = group.x + group.width / 2
    arrow(ax, (right, teacher.y), teacher)
    arrow(ax, (right, max(student.y, bottom + 0.3)), student)
    arrow(ax, teacher, logits)
    arrow(ax, (logits.x + logits.width / 2, logits.y), (loss.x - 0.3, loss.y + loss.height / 2),
          f"softmax(t/{t_name})" if soft else "(unused)", dashed=not soft)
    student_outputs = ", ".join([f"softmax(s/{t_name})"] * soft + ["softmax(s)"] * hard)
    arrow(ax, (student.x + student.width / 2, student.y), (loss.x - loss.width / 2, loss.y - 0.2), student_outputs)
    if hard:
        # Gold labels: over the top of the picture, down into the loss.
        top = 3.85
        ax.plot([labelled.x, labelled.x, loss.x + 0.4], [labelled.y + labelled.height / 2, top, top],
                color="#333333", linewidth=1.2, linestyle="--")
        arrow(ax, (loss.x + 0.4, top), (loss.x + 0.4, loss.y + loss.height / 2), dashed=True)
        ax.text((labelled.x + loss.x) / 2, top + 0.06, "gold labels y → CE (labelled rows only)",
                ha="center", va="bottom", fontsize=8)
    return fig
