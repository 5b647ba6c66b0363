"""Primitives for the book's concept diagrams: a blank canvas, labelled boxes and arrows.

Coordinates are in data units of a canvas ``width`` × ``height`` (think of inches), so
diagrams can be laid out on a grid by hand and stay legible when the page scales them.

>>> fig, ax = canvas(4, 2)
>>> b = box(ax, (1, 1), "encoder", color="frozen")
>>> (round(b.x, 2), round(b.y, 2), b.label)
(1.0, 1.0, 'encoder')
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

PALETTE: dict[str, str] = {
    "data": "#e8eef7",
    "frozen": "#d9d9d9",
    "trained": "#ffd8a8",
    "new": "#b2f2bb",
    "loss": "#ffc9c9",
    "plain": "#ffffff",
}
"""Fill colours by role, used the same way in every diagram: pretrained and frozen parts grey,
trained parts orange, freshly initialised parts green, data blue, losses red."""


@dataclass(frozen=True)
class Box:
    """A drawn box: its centre, size and label, for attaching arrows to its edges."""

    x: float
    y: float
    width: float
    height: float
    label: str

    def edge(self, toward: "Box") -> tuple[float, float]:
        """The point on this box's border facing ``toward``'s centre (left/right/top/bottom)."""
        dx, dy = toward.x - self.x, toward.y - self.y
        if abs(dx) * self.height >= abs(dy) * self.width:
            return (self.x + (self.width / 2 if dx > 0 else -self.width / 2), self.y)
        return (self.x, self.y + (self.height / 2 if dy > 0 else -self.height / 2))


def canvas(width: float, height: float) -> tuple[Figure, Axes]:
    """A blank figure of ``width`` × ``height`` inches whose data units are inches, axes hidden."""
    if width <= 0 or height <= 0:
        raise ValueError(f"canvas size must be positive, got {width} × {height}")
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1)
    return fig, ax


def box(
    ax: Axes,
    centre: tuple[float, float],
    label: str,
    *,
    width: float = 1.4,
    height: float = 0.6,
    color: str = "plain",
    fontsize: float = 9,
) -> Box:
    """Draw a rounded box with a centred label; ``color`` is a role of :data:`PALETTE` or a colour."""
    fill = PALETTE.get(color, color)
    x, y = centre
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2), width, height,
            boxstyle="round,pad=0.02,rounding_size=0.08", facecolor=fill, edgecolor="#333333", linewidth=1,
        )
    )
    ax.text(x, y, label, ha="center", va="center", fontsize=fontsize, wrap=True)
    return Box(float(x), float(y), float(width), float(height), label)


def arrow(
    ax: Axes,
    start: Box | tuple[float, float],
    end: Box | tuple[float, float],
    label: str = "",
    *,
    style: str = "-|>",
    dashed: bool = False,
    color: str = "#333333",
    fontsize: float = 8,
) -> FancyArrowPatch:
    """Draw an arrow from ``start`` to ``end`` (boxes: from edge to edge), label at its middle."""
    a = start.edge(end) if isinstance(start, Box) and isinstance(end, Box) else _point(start, end)
    b = end.edge(start) if isinstance(start, Box) and isinstance(end, Box) else _point(end, start)
    patch = FancyArrowPatch(
        a, b, arrowstyle=style, mutation_scale=12, color=color, linewidth=1.2,
        linestyle="--" if dashed else "-",
    )
    ax.add_patch(patch)
    if label:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.12, label, ha="center", va="bottom", fontsize=fontsize)
    return patch


def _point(p: Box | tuple[float, float], other: Box | tuple[float, float]) -> tuple[float, float]:
    """A box's edge toward ``other`` (or its centre when ``other`` is a point), or the point itself."""
    if isinstance(p, Box):
        target = other if isinstance(other, Box) else Box(other[0], other[1], 0, 0, "")
        return p.edge(target)
    return (float(p[0]), float(p[1]))
