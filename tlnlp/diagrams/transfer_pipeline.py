"""Chapter 1's board picture: the transfer pipeline, and which parts are frozen or trained.

A source task with plenty of data trains a body; the body is carried to the target task,
where a new head is put on it and trained on the few target labels. With feature extraction
the body stays frozen; with fine-tuning it keeps training.

>>> fig = transfer_pipeline()
>>> any(t.get_text() == "new head\\n(trained)" for t in fig.axes[0].texts)
True
"""

from __future__ import annotations

from matplotlib.figure import Figure

from tlnlp.diagrams.draw import arrow, box, canvas

ALT_TEXT = (
    "The transfer pipeline. Top row, the source: plentiful source data (raw text or another task's "
    "labels) trains a body and a source head. Bottom row, the target: the same body, carried over, "
    "gets a new head trained on the few target labels. The body is grey when frozen (feature "
    "extraction) and orange when it keeps training (fine-tuning); the new head is green."
)
"""Alt text for the figure, for the chapter's caption."""


def transfer_pipeline(fine_tune: bool = False) -> Figure:
    """Draw the source → body → new head → target pipeline.

    Arguments:
        fine_tune: draw the carried body as trained (fine-tuning) instead of frozen (feature extraction).

    Returns:
        The matplotlib figure (nothing is saved).

    Example:
        >>> fig = transfer_pipeline(fine_tune=True)
        >>> any("fine-tuned" in t.get_text() for t in fig.axes[0].texts)
        True
    """
    fig, ax = canvas(9, 3.6)
    ax.text(0.15, 3.35, "source: data is plentiful", fontsize=10, weight="bold", va="center")
    ax.text(0.15, 1.35, "target: labels are scarce", fontsize=10, weight="bold", va="center")
    src_data = box(ax, (1.2, 2.6), "source data\n(raw text, or\nanother task)", width=1.9, height=0.9, color="data")
    src_body = box(ax, (4.0, 2.6), "body\n(encoder)", width=1.7, height=0.9, color="trained")
    src_head = box(ax, (6.5, 2.6), "source head\n(next word, ...)", width=1.8, height=0.9, color="trained")
    src_loss = box(ax, (8.3, 2.6), "source\nloss", width=1.0, height=0.7, color="loss")
    arrow(ax, src_data, src_body)
    arrow(ax, src_body, src_head)
    arrow(ax, src_head, src_loss)

    body_role, body_word = ("trained", "fine-tuned") if fine_tune else ("frozen", "frozen")
    tgt_data = box(ax, (1.2, 0.6), "target labels\n(few)", width=1.9, height=0.8, color="data")
    tgt_body = box(ax, (4.0, 0.6), f"same body\n({body_word})", width=1.7, height=0.8, color=body_role)
    tgt_head = box(ax, (6.5, 0.6), "new head\n(trained)", width=1.8, height=0.8, color="new")
    tgt_loss = box(ax, (8.3, 0.6), "target\nloss", width=1.0, height=0.7, color="loss")
    arrow(ax, tgt_data, tgt_body)
    arrow(ax, tgt_body, tgt_head)
    arrow(ax, tgt_head, tgt_loss)
    arrow(ax, (src_body.x, src_body.y - 0.45), (tgt_body.x, tgt_body.y + 0.4), dashed=True)
    ax.text(src_body.x + 0.1, 1.6, "copy the weights", fontsize=8, ha="left", va="center")
    ax.text(src_head.x + 0.1, 1.6, "discarded ✗", fontsize=8, ha="left", va="center", color="#555555")
    return fig
