"""BERT's input representation and the 80/10/10 masking rule (chapter 5's board picture).

The top panel sums three embeddings per position, as Devlin et al. (2019) draw it: the token's
WordPiece embedding, the segment embedding (A or B) and the learned position embedding. The
bottom panel shows what happens to the 15 % of tokens chosen for the masked-LM loss: 80 %
become ``[MASK]``, 10 % a random token, 10 % stay unchanged; the loss is computed only there.

>>> fig = bert_input_figure()
>>> len(fig.axes)
1
>>> sorted(MASK_RULE.values())
[0.1, 0.1, 0.8]
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from tlnlp.diagrams.draw import arrow, box, canvas

MASK_RULE: dict[str, float] = {"[MASK]": 0.8, "random token": 0.1, "unchanged": 0.1}
"""What becomes of a token chosen for the MLM loss, with BERT's probabilities."""

ALT_TEXT = (
    "Top: the input '[CLS] my dog is cute [SEP] he likes play ##ing [SEP]'; under each token, three "
    "boxes are summed: its token embedding, a segment embedding (A for the first sentence and its "
    "[SEP], B for the second) and a position embedding 0 to 10. Bottom: of the tokens, 15 % are "
    "chosen for the loss; a chosen token becomes [MASK] with probability 0.8, a random token with "
    "0.1 and stays unchanged with 0.1, and the model must predict the original token there."
)

DEFAULT_TOKENS = ("[CLS]", "my", "dog", "is", "cute", "[SEP]", "he", "likes", "play", "##ing", "[SEP]")


def bert_input_figure(tokens: Sequence[str] = DEFAULT_TOKENS) -> Figure:
    """Draw token + segment + position embeddings for ``tokens`` and the 80/10/10 rule below them.

    Segment B starts after the first ``[SEP]``; pass tokens with exactly that structure (or
    one segment only).
    """
    tokens = list(tokens)
    if not tokens:
        raise ValueError("give at least one token to draw")
    n = len(tokens)
    first_sep = tokens.index("[SEP]") if "[SEP]" in tokens else n - 1
    step = 0.95
    width = step * n + 1.8
    fig, ax = canvas(width, 6.2)
    x0 = 1.6
    rows = {"input": 5.7, "token": 4.9, "segment": 4.2, "position": 3.5}
    for label, y in rows.items():
        ax.text(0.1, y, label if label == "input" else f"{label}\nembedding", fontsize=8, va="center")
    for i, tok in enumerate(tokens):
        x = x0 + i * step
        box(ax, (x, rows["input"]), tok, width=0.85, height=0.45, color="data", fontsize=7)
        box(ax, (x, rows["token"]), f"E[{tok}]", width=0.85, height=0.45, color="trained", fontsize=6)
        segment = "A" if i <= first_sep else "B"
        box(ax, (x, rows["segment"]), f"E_{segment}", width=0.85, height=0.45,
            color="new" if segment == "A" else "frozen", fontsize=7)
        box(ax, (x, rows["position"]), f"E_{i}", width=0.85, height=0.45, color="loss", fontsize=7)
        for y in (4.55, 3.85):
            ax.text(x, y, "+", ha="center", va="center", fontsize=9)
    ax.text(x0 - 0.7, 2.95, "sum = the vector each position enters the encoder with", fontsize=8)

    chosen = box(ax, (1.4, 1.2), "15 % of tokens\nchosen for the loss", width=2.2, height=0.8, color="data", fontsize=8)
    outcomes = [("→ [MASK]\n(80 %)", 2.05), ("→ random token\n(10 %)", 1.2), ("unchanged\n(10 %)", 0.4)]
    for label, y in outcomes:
        target = box(ax, (4.6, y), label, width=2.0, height=0.6, color="trained", fontsize=8)
        arrow(ax, chosen, target)
    predict = box(ax, (7.6, 1.2), "predict the original\ntoken at each\nchosen position", width=2.4, height=1.1,
                  color="loss", fontsize=8)
    ax.annotate("", xy=(predict.x - predict.width / 2, predict.y), xytext=(5.6, 1.2),
                arrowprops={"arrowstyle": "-|>", "color": "#333333"})
    return fig
