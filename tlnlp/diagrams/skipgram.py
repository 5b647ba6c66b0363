"""Chapter 2's board picture: skip-gram's window around a centre word and its negative samples.

The centre word's input vector scores the words within the (dynamic) window as positives and
K words drawn from the noise distribution (unigram^0.75) as negatives: 1 + K logistic
regressions per (centre, context) pair.

>>> fig = skipgram_window(["the", "cast", "is", "superb", "and", "the", "script"], centre=3, window=2)
>>> [t.get_text() for t in fig.axes[0].texts if t.get_text() == "superb"]
['superb']
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from tlnlp.diagrams.draw import arrow, box, canvas

ALT_TEXT = (
    "Skip-gram with negative sampling. A sentence is drawn as a row of word boxes; the centre word "
    "is orange and the words within the window on either side are blue, each joined to the centre "
    "by an arrow labelled 'positive: σ(u_o·v_c) → 1'. Below, K noise words drawn from unigram^0.75 "
    "are red, joined by dashed arrows labelled 'negative: σ(u_n·v_c) → 0'. Words outside the "
    "window are white."
)
"""Alt text for the figure, for the chapter's caption."""


def skipgram_window(
    words: Sequence[str], centre: int, window: int = 2, negatives: Sequence[str] = ("carburettor", "of", "june")
) -> Figure:
    """Draw a sentence, one centre word, its window of contexts and K negative samples.

    Arguments:
        words: the sentence, one word per box.
        centre: the position of the centre word.
        window: how many words on each side are contexts (one draw of the dynamic window).
        negatives: the noise words to draw (K of them).

    Returns:
        The matplotlib figure (nothing is saved).

    Example:
        >>> fig = skipgram_window(["a", "b", "c"], centre=1, window=1, negatives=["x"])
        >>> len([t for t in fig.axes[0].texts if t.get_text() in {"a", "c"}])
        2
    """
    if not 0 <= centre < len(words):
        raise ValueError(f"centre={centre} is not a position of the {len(words)}-word sentence; pass 0..{len(words) - 1}")
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    step = 1.25
    width = step * len(words) + 0.5
    fig, ax = canvas(max(width, 2.2 + 1.6 * len(negatives)), 3.4)
    boxes = []
    for i, w in enumerate(words):
        inside = abs(i - centre) <= window
        role = "trained" if i == centre else ("data" if inside else "plain")
        boxes.append(box(ax, (0.85 + step * i, 2.6), w, width=1.1, height=0.5, color=role))
    c = boxes[centre]
    lo, hi = max(0, centre - window), min(len(words) - 1, centre + window)
    ax.annotate("", xy=(boxes[lo].x - 0.6, 3.15), xytext=(boxes[hi].x + 0.6, 3.15),
                arrowprops=dict(arrowstyle="|-|", color="#1f4e99"))
    ax.text((boxes[lo].x + boxes[hi].x) / 2, 3.25, f"window b = {window} (drawn from 1..W)", ha="center",
            va="bottom", fontsize=8, color="#1f4e99")
    for i in range(lo, hi + 1):
        if i != centre:
            arrow(ax, (c.x, c.y - 0.25), (boxes[i].x, boxes[i].y - 0.25), style="<|-|>", color="#1f4e99")
    ax.text(c.x, 1.95, "positives: σ(u_o·v_c) → 1", ha="center", va="center", fontsize=8, color="#1f4e99")
    start = c.x - 1.6 * (len(negatives) - 1) / 2
    for k, w in enumerate(negatives):
        n = box(ax, (start + 1.6 * k, 0.55), w, width=1.3, height=0.5, color="loss")
        arrow(ax, (c.x, c.y - 0.25), n, dashed=True, color="#a61e1e")
    ax.text(0.1, 1.2, f"K = {len(negatives)} negatives\n~ unigram^0.75", fontsize=8, va="center", color="#a61e1e")
    ax.text(0.1, 0.35, "σ(u_n·v_c) → 0", fontsize=8, va="center", color="#a61e1e")
    return fig
