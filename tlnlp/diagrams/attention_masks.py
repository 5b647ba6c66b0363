"""Causal vs bidirectional attention masks, side by side (chapter 4's board picture).

Row ``t`` of a mask is the query position, column ``s`` a key position; a filled cell means
position ``t`` may read position ``s``. GPT's causal mask fills the lower triangle (``s <= t``);
BERT's bidirectional encoder fills every cell, which is why it must hide its targets by masking
the *input* instead (chapter 5).

>>> fig = attention_masks_figure(["the", "bank", "raised", "rates"])
>>> len(fig.axes)
2
>>> causal_mask(3).astype(int).tolist()
[[1, 0, 0], [1, 1, 0], [1, 1, 1]]
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from tlnlp.diagrams.draw import PALETTE

ALT_TEXT = (
    "Two grids of attention permissions for the same four tokens. Left, GPT's causal mask: each "
    "row (query) may read only itself and the tokens to its left, a lower triangle. Right, "
    "BERT's bidirectional mask: every token reads every token, the whole grid is filled."
)


def causal_mask(n: int) -> np.ndarray:
    """The ``n × n`` boolean causal mask: ``True`` where query ``t`` may attend to key ``s <= t``."""
    if n < 1:
        raise ValueError(f"a mask needs at least one position, got n={n}")
    return np.tril(np.ones((n, n), dtype=bool))


def attention_masks_figure(tokens: Sequence[str]) -> Figure:
    """Draw the causal (GPT) and bidirectional (BERT) masks for ``tokens``; returns the figure."""
    tokens = list(tokens)
    if not tokens:
        raise ValueError("give at least one token to draw the masks for")
    n = len(tokens)
    masks = {"causal (GPT): query t reads s ≤ t": causal_mask(n),
             "bidirectional (BERT): every t reads every s": np.ones((n, n), dtype=bool)}
    fig, axes = plt.subplots(1, 2, figsize=(2.2 * n / 2 + 4, 0.6 * n + 1.2), layout="constrained")
    for ax, (title, mask) in zip(axes, masks.items()):
        for t in range(n):
            for s in range(n):
                colour = PALETTE["trained"] if mask[t, s] else PALETTE["plain"]
                ax.add_patch(plt.Rectangle((s, n - 1 - t), 1, 1, facecolor=colour, edgecolor="#333333"))
                ax.text(s + 0.5, n - 0.5 - t, "✓" if mask[t, s] else "", ha="center", va="center", fontsize=9)
        ax.set_xlim(0, n)
        ax.set_ylim(0, n)
        ax.set_aspect("equal")
        ax.set_xticks(np.arange(n) + 0.5, tokens, fontsize=8)
        ax.set_yticks(np.arange(n) + 0.5, tokens[::-1], fontsize=8)
        ax.tick_params(length=0)
        ax.xaxis.set_ticks_position("top")
        ax.set_xlabel("key position s (what is read)", fontsize=8)
        ax.set_ylabel("query position t", fontsize=8)
        ax.set_title(title, fontsize=9)
    return fig
