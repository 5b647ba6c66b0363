"""Chapter 6's diagram: what each fine-tuning strategy trains, frozen parts grey, trained ones orange.

One column per strategy (probe, full, top-k, gradual unfreezing, LoRA), each the same stack of
embeddings, ``n_layers`` Transformer layers and a new head, coloured by the role the strategy
gives each part. Gradual unfreezing is drawn at its start with arrows for the thaw order; LoRA
draws its small trained low-rank matrices beside frozen layers.

>>> fig = strategies_diagram(n_layers=4, top_k=2)
>>> [t.get_text() for t in fig.axes[0].texts][:2]
['probe', 'embeddings']
"""

from __future__ import annotations

from matplotlib.figure import Figure

from .draw import PALETTE, arrow, box, canvas

__all__ = ["STRATEGIES", "strategies_diagram", "trained_parts"]

STRATEGIES: tuple[str, ...] = ("probe", "full", "top-k", "gradual", "LoRA")
"""The strategies drawn, in chapter 6's order."""


def trained_parts(strategy: str, n_layers: int, top_k: int = 2) -> list[str]:
    """The role of each part, bottom up (embeddings, layers 1..L, head): ``"frozen"``, ``"trained"``
    (pretrained weights that move), ``"new"`` (a fresh head) or ``"lora"`` (frozen, with a trained
    low-rank update). Gradual unfreezing is given at its first stage (only the head trains).

    Example:
        >>> trained_parts("top-k", n_layers=3, top_k=1)
        ['frozen', 'frozen', 'frozen', 'trained', 'new']
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {STRATEGIES}")
    if not 1 <= top_k <= n_layers:
        raise ValueError(f"top_k must be between 1 and n_layers={n_layers}, got {top_k}")
    body = {
        "probe": ["frozen"] * (n_layers + 1),
        "full": ["trained"] * (n_layers + 1),
        "top-k": ["frozen"] * (n_layers + 1 - top_k) + ["trained"] * top_k,
        "gradual": ["frozen"] * (n_layers + 1),
        "LoRA": ["frozen"] + ["lora"] * n_layers,
    }[strategy]
    return body + ["new"]


def strategies_diagram(n_layers: int = 6, top_k: int = 2) -> Figure:
    """Five columns, one per strategy of :data:`STRATEGIES`, showing which parts train.

    Arguments:
        n_layers: Transformer layers drawn (MiniLM has 6).
        top_k: how many top layers the top-k strategy trains.

    Returns:
        The figure (not saved).
    """
    column, row = 2.2, 0.55
    width, height = column * len(STRATEGIES) + 0.4, row * (n_layers + 2) + 1.6
    fig, ax = canvas(width, height)
    for c, strategy in enumerate(STRATEGIES):
        x = 0.2 + column * (c + 0.5)
        title = {"top-k": f"top-{top_k} layers", "gradual": "gradual unfreezing"}.get(strategy, strategy)
        ax.text(x, height - 0.35, title, ha="center", va="center", fontsize=10, fontweight="bold")
        roles = trained_parts(strategy, n_layers, top_k)
        names = ["embeddings"] + [f"layer {i}" for i in range(1, n_layers + 1)] + ["new head"]
        boxes = []
        for r, (name, role) in enumerate(zip(names, roles)):
            y = 0.6 + row * r
            colour = "frozen" if role == "lora" else role
            boxes.append(box(ax, (x - (0.25 if role == "lora" else 0), y), name, width=1.3 if role == "lora" else 1.8,
                             height=row * 0.8, color=colour, fontsize=8))
            if role == "lora":
                box(ax, (x + 0.68, y), "BA", width=0.45, height=row * 0.8, color="trained", fontsize=7)
        if strategy == "gradual":  # thaw order: the head first, then one layer down at a time
            for upper, lower in zip(boxes[:0:-1], boxes[-2:0:-1]):
                arrow(ax, (upper.x + 1.0, upper.y), (lower.x + 1.0, lower.y), dashed=True, color="#d9480f")
            ax.text(x + 1.05, boxes[0].y, "thaw\norder", fontsize=7, color="#d9480f", ha="center", va="center")
    for i, (role, label) in enumerate([("frozen", "frozen (pretrained)"), ("trained", "trained (pretrained start)"),
                                       ("new", "trained (fresh)")]):
        xl = 0.4 + i * 3.4
        ax.add_patch(_swatch(xl, 0.05, PALETTE[role]))
        ax.text(xl + 0.35, 0.15, label, fontsize=8, va="center")
    return fig


def _swatch(x: float, y: float, colour: str):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 0.25, 0.2, facecolor=colour, edgecolor="#333333")
