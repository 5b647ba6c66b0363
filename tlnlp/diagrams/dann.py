"""The DANN diagram of the domain-adaptation chapter: one feature extractor, two heads, a reversal.

>>> fig = dann_diagram()
>>> len(fig.axes)
1
"""

from __future__ import annotations

from matplotlib.figure import Figure

from .draw import arrow, box, canvas

__all__ = ["dann_diagram"]


def dann_diagram() -> Figure:
    """Source and target reviews -> feature extractor F -> label head C (source labels) and,
    behind a gradient reversal layer, domain head D (source vs target)."""
    fig, ax = canvas(9.0, 3.6)
    src = box(ax, (0.9, 2.6), "labelled\nsource reviews", width=1.5, height=0.7, color="data")
    tgt = box(ax, (0.9, 1.0), "unlabelled\ntarget reviews", width=1.5, height=0.7, color="data")
    enc = box(ax, (2.9, 1.8), "frozen encoder\n(MiniLM)", width=1.4, height=0.8, color="frozen")
    f = box(ax, (4.6, 1.8), "feature\nextractor F", width=1.3, height=0.8, color="trained")
    c = box(ax, (6.5, 2.8), "label head C", width=1.4, height=0.6, color="trained")
    grl = box(ax, (6.1, 0.9), "gradient\nreversal  ×(−λ)", width=1.3, height=0.7, color="new")
    d = box(ax, (7.9, 0.9), "domain head D", width=1.4, height=0.6, color="trained")
    lc = box(ax, (8.3, 2.8), "sentiment\nloss", width=1.0, height=0.6, color="loss")
    arrow(ax, src, enc)
    arrow(ax, tgt, enc)
    arrow(ax, enc, f)
    arrow(ax, f, c, "source rows")
    arrow(ax, f, grl, "all rows")
    arrow(ax, grl, d)
    arrow(ax, c, lc)
    ax.text(6.4, 0.3, "domain loss: D descends it; F, through the reversal, ascends it", ha="center", fontsize=8)
    return fig
