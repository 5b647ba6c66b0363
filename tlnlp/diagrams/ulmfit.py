"""Chapter 3's board picture: ULMFiT's three stages, and what trains in each.

1. a language model is pretrained on general text; 2. it is fine-tuned on the target's
unlabelled text (discriminative rates, slanted triangle); 3. its encoder gets a classifier head
and is fine-tuned on the labels, layers unfrozen from the top down.

>>> fig = ulmfit_stages()
>>> sum(t.get_text().startswith("stage") for t in fig.axes[0].texts)
3
"""

from __future__ import annotations

from matplotlib.figure import Figure

from tlnlp.diagrams.draw import arrow, box, canvas

ALT_TEXT = (
    "ULMFiT's three stages, left to right. Stage 1: general text trains an embedding, LSTM layers and "
    "a next-word softmax, all orange (trained from random). Stage 2: target-domain unlabelled text "
    "continues training the same layers, with smaller learning rates for lower layers. Stage 3: the "
    "next-word softmax is replaced by a new green classifier head trained on the few labels; the "
    "layers below are unfrozen one at a time from the top down (gradual unfreezing)."
)
"""Alt text for the figure, for the chapter's caption."""

_LAYERS = ("embedding", "LSTM 1", "LSTM 2")


def ulmfit_stages(n_lstm_layers: int = 2) -> Figure:
    """Draw the three stages side by side, each as its stack of layers with its data below.

    Arguments:
        n_lstm_layers: how many LSTM layers to draw in each stack (the chapter's cpu model has 2).

    Returns:
        The matplotlib figure (nothing is saved).

    Example:
        >>> fig = ulmfit_stages(n_lstm_layers=3)
        >>> sum(t.get_text() == "LSTM 3" for t in fig.axes[0].texts)
        3
    """
    if n_lstm_layers < 1:
        raise ValueError(f"n_lstm_layers must be at least 1, got {n_lstm_layers}")
    layers = ["embedding"] + [f"LSTM {i + 1}" for i in range(n_lstm_layers)]
    height = 2.4 + 0.6 * len(layers)
    fig, ax = canvas(10, height)
    stages = [
        ("stage 1: pretrain the LM", "general text\n(Wikipedia, news)", "next-word\nsoftmax", "trained", None),
        ("stage 2: fine-tune the LM", "target text\n(no labels)", "next-word\nsoftmax", "trained", "rates ÷2.6 per layer down"),
        ("stage 3: fine-tune a classifier", "target labels\n(few)", "classifier\nhead (new)", "new", "unfrozen top-down"),
    ]
    tops = []
    for s, (title, data, head, head_role, note) in enumerate(stages):
        x = 1.7 + 3.3 * s
        ax.text(x, height - 0.2, title, ha="center", va="center", fontsize=9, weight="bold")
        d = box(ax, (x, 0.45), data, width=2.0, height=0.7, color="data")
        below = d
        for i, name in enumerate(layers):
            b = box(ax, (x, 1.25 + 0.6 * i), name, width=1.8, height=0.45, color="trained")
            arrow(ax, below, b)
            below = b
        h = box(ax, (x, 1.25 + 0.6 * len(layers)), head, width=1.8, height=0.6, color=head_role)
        arrow(ax, below, h)
        tops.append(h)
        if note:
            ax.text(x + 1.0, 1.25 + 0.3 * (len(layers) - 1), note, rotation=90, ha="left", va="center", fontsize=7)
        if s:
            y = 1.25 + 0.6 * len(layers)
            arrow(ax, (x - 2.3, y), (x - 1.0, y), "weights", dashed=True)
    return fig
