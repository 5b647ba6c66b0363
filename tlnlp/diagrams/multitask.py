"""Chapter 8's diagram: hard parameter sharing, one body and a head per task, one task per batch.

A task sampler draws which task the next batch comes from (``p ∝ n^(1/T)``); the batch passes
the frozen lower layers of the encoder (run once per sentence and cached), the shared top
layers that every task trains, and its own task's head; that task's loss, weighted by ``w_t``,
updates the shared layers and that head only.

>>> fig = multitask_diagram()
>>> [t.get_text().split("\\n")[0] for t in fig.axes[0].texts if "head" in t.get_text()]
['SST-2 head', 'CoNLL head', 'CLINC head']
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from .draw import arrow, box, canvas

__all__ = ["MAX_TASKS", "TASKS", "multitask_diagram"]

TASKS: tuple[tuple[str, str], ...] = (("SST-2", "sentence"), ("CoNLL", "every token"), ("CLINC", "150 intents"))
"""Chapter 8's three tasks, each as (name, what its head predicts)."""

MAX_TASKS = 6
"""The most task heads the picture has room for."""


def _task(entry: str | tuple[str, str]) -> tuple[str, str]:
    """A task entry as (name, kind); a bare name has no kind."""
    if isinstance(entry, str):
        name, kind = entry, ""
    elif isinstance(entry, (tuple, list)) and len(entry) == 2 and all(isinstance(s, str) for s in entry):
        name, kind = entry
    else:
        raise ValueError(f"each task must be a name or a (name, kind) pair of strings, got {entry!r}")
    if not name.strip():
        raise ValueError("a task's name must not be empty")
    return name, kind


def _layers(first: int, last: int) -> str:
    """'layer 3' or 'layers 1-5'."""
    return f"layer {first}" if first == last else f"layers {first}-{last}"


def multitask_diagram(
    tasks: Sequence[str | tuple[str, str]] = TASKS,
    *,
    n_layers: int = 6,
    top: int = 1,
) -> Figure:
    """Draw hard parameter sharing: task sampler -> frozen cached layers -> shared top layers ->
    one head per task -> that task's loss times its weight ``w_t``.

    Grey: frozen; orange: trained by every task; green: new heads; blue: data; red: losses
    (:data:`tlnlp.diagrams.draw.PALETTE`).

    Arguments:
        tasks: the tasks, top to bottom, each a name or a (name, kind) pair, the kind saying what
            its head predicts (``"sentence"``, ``"every token"``, ...); 1 to :data:`MAX_TASKS`.
        n_layers: the encoder's layers (MiniLM has 6).
        top: how many top layers are shared and trained; the ``n_layers - top`` below are frozen
            and cached. With ``top == n_layers`` the whole encoder is shared and no box is cached.

    Returns:
        The figure (not saved).

    Example:
        >>> fig = multitask_diagram([("NLI", "sentence pair"), "POS"], n_layers=12, top=2)
        >>> texts = [t.get_text() for t in fig.axes[0].texts]
        >>> [t for t in texts if "head" in t]
        ['NLI head\\n(sentence pair)', 'POS head']
        >>> texts.count("loss × w_2")
        1
    """
    entries = [_task(t) for t in tasks] if not isinstance(tasks, str) else [_task(tasks)]
    if not entries:
        raise ValueError("draw at least one task")
    if len(entries) > MAX_TASKS:
        raise ValueError(f"at most {MAX_TASKS} tasks fit in the picture, got {len(entries)}")
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    if not 1 <= top <= n_layers:
        raise ValueError(f"top must be between 1 and n_layers={n_layers}, got {top}")

    step = 1.15
    width, height = 10.0, max(3.6, step * len(entries) + 0.6)
    fig, ax = canvas(width, height)

    frozen = n_layers - top
    shared_label = (f"shared top {_layers(frozen + 1, n_layers)}" if frozen else f"shared {_layers(1, n_layers)}")
    shared_y = height / 2 + (0.75 if frozen else 0.0)
    shared = box(ax, (3.9, shared_y), shared_label + "\n(trained by every task)", width=2.3, height=0.9,
                 color="trained")
    sampler = box(ax, (1.15, height / 2), "task sampler\np ∝ n^(1/T)", width=1.8, height=0.9, color="data")
    if frozen:
        cached = box(ax, (3.9, height / 2 - 0.85), f"frozen {_layers(1, frozen)}\n(run once per sentence,\ncached)",
                     width=2.3, height=1.0, color="frozen")
        arrow(ax, sampler, cached)
        arrow(ax, cached, shared)
    else:
        arrow(ax, sampler, shared)

    top_y = height / 2 + step * (len(entries) - 1) / 2
    start = (shared.x + shared.width / 2, shared.y)
    for i, (name, kind) in enumerate(entries):
        y = top_y - step * i
        head = box(ax, (6.55, y), f"{name} head" + (f"\n({kind})" if kind else ""), width=1.8, height=0.8,
                   color="new")
        loss = box(ax, (8.9, y), f"loss × w_{i + 1}", width=1.6, height=0.8, color="loss")
        arrow(ax, start, (head.x - head.width / 2, head.y))
        arrow(ax, head, loss)
    return fig
