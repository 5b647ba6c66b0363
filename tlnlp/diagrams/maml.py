"""Chapter 7's diagram: MAML's inner loop (adapt on the support set) and outer loop (update the
initialisation from the query loss of the adapted weights).

>>> fig = maml_diagram(inner_steps=5)
>>> any("query" in t.get_text() for t in fig.axes[0].texts)
True
"""

from __future__ import annotations

from matplotlib.figure import Figure

from .draw import arrow, box, canvas

__all__ = ["maml_diagram"]


def maml_diagram(inner_steps: int = 5, tasks: int = 3) -> Figure:
    """The meta-parameters θ fan out to ``tasks`` tasks; each takes ``inner_steps`` gradient steps on
    its support set to reach θ'ᵢ, is scored on its query set, and the summed query losses send one
    gradient back to θ (through the inner steps).

    Arguments:
        inner_steps: inner gradient steps, written on the inner-loop arrows.
        tasks: how many tasks of the meta-batch to draw (2 to 4 fit).

    Returns:
        The figure (not saved).
    """
    if not 1 <= tasks <= 4:
        raise ValueError(f"draw between 1 and 4 tasks, got {tasks}")
    if inner_steps < 1:
        raise ValueError(f"inner_steps must be >= 1, got {inner_steps}")
    width, height = 10.0, 1.4 * tasks + 1.4
    fig, ax = canvas(width, height)
    theta = box(ax, (1.0, height / 2), "θ\n(meta-\nparameters)", width=1.5, height=1.2, color="trained")
    losses = []
    for i in range(tasks):
        y = height - 0.9 - 1.4 * i
        support = box(ax, (3.3, y), f"task {i + 1}: support\n(K examples per class)", width=2.1, height=0.8, color="data")
        fast = box(ax, (5.9, y), f"θ'{i + 1} = θ − α∇L_S\n({inner_steps} steps)", width=2.0, height=0.8, color="new")
        query = box(ax, (8.4, y), f"query loss\nL_Q(θ'{i + 1})", width=1.7, height=0.8, color="loss")
        arrow(ax, theta, support)
        arrow(ax, support, fast, "inner loop")
        arrow(ax, fast, query)
        losses.append(query)
    ax.annotate("", xy=(theta.x, theta.y - 0.65), xytext=(8.4, 0.25),
                arrowprops=dict(arrowstyle="-|>", color="#d9480f", linestyle="--",
                                connectionstyle="angle,angleA=180,angleB=-90,rad=0"))
    ax.text(5.0, 0.1, "outer loop: θ ← θ − β ∇θ Σ L_Q(θ'ᵢ), the gradient passing through the inner steps",
            ha="center", va="bottom", fontsize=8, color="#d9480f")
    return fig
