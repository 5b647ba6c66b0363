"""Figures the chapters share: learning curves and sample-efficiency curves.

Every function draws on a Matplotlib ``Axes`` (a new one unless ``ax`` is given) and
returns it; nothing calls ``plt.show()``, so notebooks and headless builds (Agg) both work.

>>> ax = plot_history({"pretrained": h1, "scratch": h2})  # doctest: +SKIP
>>> ax = plot_sample_efficiency(results, x="n_labels", y="accuracy", hue="method")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import torch
    from matplotlib.axes import Axes

    from .train import History

_LINESTYLES = ("-", "--", ":", "-.")


def _new_axes(ax: "Axes | None") -> "Axes":
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    return ax


def _frame(history: "History | pd.DataFrame") -> pd.DataFrame:
    if isinstance(history, pd.DataFrame):
        return history
    if not callable(getattr(history, "to_frame", None)):
        raise TypeError(
            f"plot_history() draws tlnlp.train.History objects (what fit() returns) or their to_frame(), "
            f"got {type(history).__name__}"
        )
    return history.to_frame()


def plot_history(
    history_or_histories: "History | pd.DataFrame | Sequence[History | pd.DataFrame] | Mapping[str, History | pd.DataFrame]",
    metrics: Sequence[str] = ("train_loss", "eval_loss"),
    ax: "Axes | None" = None,
    labels: Sequence[str] | None = None,
    x: str | None = None,
) -> "Axes":
    """Learning curves of one or several runs, overlaid.

    Each run gets one colour and each metric one line style (solid, dashed, ...).
    Metrics a run did not record (e.g. ``eval_loss`` without an eval set) are skipped.

    Arguments:
        history_or_histories: a :class:`tlnlp.train.History` (or its ``to_frame()``),
            a list of them, or a dict label -> history.
        metrics: record keys to draw.
        ax: the Axes to draw on; default a new figure.
        labels: one label per run (default: the dict keys, else ``run 1``, ``run 2``...).
        x: the x column, ``"epoch"`` or ``"step"``; default ``"epoch"`` when every record
            is an epoch end, else ``"step"``.

    Returns:
        The Axes.

    Example:
        >>> ax = plot_history({"pretrained": h_pre, "scratch": h_scratch})  # doctest: +SKIP
        >>> ax.figure.savefig("curves.png")  # doctest: +SKIP
    """
    if isinstance(history_or_histories, Mapping):
        runs = list(history_or_histories.values())
        labels = list(history_or_histories) if labels is None else labels
    elif isinstance(history_or_histories, (list, tuple)):
        runs = list(history_or_histories)
    else:
        runs = [history_or_histories]
    if not runs:
        raise ValueError("plot_history() got no histories; pass the History that fit() returned")
    if isinstance(metrics, str):
        metrics = [metrics]
    if labels is None:
        labels = [""] if len(runs) == 1 else [f"run {i + 1}" for i in range(len(runs))]
    if len(labels) != len(runs):
        raise ValueError(f"got {len(labels)} labels for {len(runs)} histories")
    frames = [_frame(run) for run in runs]
    if x is None:
        x = "epoch" if all(f["epoch"].is_unique for f in frames if "epoch" in f) else "step"

    ax = _new_axes(ax)
    colors = [f"C{i % 10}" for i in range(len(frames))]
    drawn = 0
    for frame, label, color in zip(frames, labels, colors):
        if x not in frame:
            raise KeyError(f"plot_history(): no {x!r} column in a history; it has {list(frame.columns)}")
        for j, metric in enumerate(metrics):
            if metric not in frame:
                continue
            name = metric.replace("_", " ")
            ax.plot(
                frame[x],
                frame[metric],
                color=color,
                linestyle=_LINESTYLES[j % len(_LINESTYLES)],
                marker="o" if len(frame) <= 20 else None,
                markersize=3,
                label=f"{label}: {name}" if label else name,
            )
            drawn += 1
    if not drawn:
        raise KeyError(f"plot_history(): none of {list(metrics)} was recorded")
    ax.set_xlabel(x)
    ax.set_ylabel(metrics[0].split("_")[-1] if len({m.split("_")[-1] for m in metrics}) == 1 else "value")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


def plot_sample_efficiency(
    df: pd.DataFrame,
    x: str = "n_labels",
    y: str = "accuracy",
    hue: str = "method",
    ax: "Axes | None" = None,
    logx: bool = True,
) -> "Axes":
    """Score against amount of labelled data, one line per method with a mean ± sd band.

    Arguments:
        df: one row per run, with columns ``x``, ``y``, ``hue`` (and usually ``seed``).
        x: the amount of data (e.g. number of labelled examples).
        y: the score.
        hue: the column naming the method; methods are drawn in order of appearance.
        ax: the Axes to draw on; default a new figure.
        logx: log-scale the x axis. Ticks are placed at the measured x values either way.

    Returns:
        The Axes: one line per method (the mean over seeds) and, where a method has
        points with at least two runs, one shaded band (mean ± sd, ddof=1).

    Example:
        >>> ax = plot_sample_efficiency(results, x="n_labels", y="accuracy", hue="method")  # doctest: +SKIP
    """
    from matplotlib.ticker import NullLocator

    missing = [c for c in (x, y, hue) if c not in df.columns]
    if missing:
        raise KeyError(f"plot_sample_efficiency(): no column(s) {missing}; the DataFrame has {list(df.columns)}")
    if df[y].notna().sum() == 0:
        raise ValueError(f"plot_sample_efficiency(): no {y!r} value to draw ({len(df)} rows, all empty or NaN)")
    ax = _new_axes(ax)
    runs_per_point: set[int] = set()
    for i, (method, group) in enumerate(df.groupby(hue, sort=False)):
        stats = group.groupby(x)[y].agg(["mean", "std", "count"]).sort_index()
        xs, mean, sd = stats.index.to_numpy(dtype=float), stats["mean"].to_numpy(), stats["std"].to_numpy()
        color = f"C{i % 10}"
        ax.plot(xs, mean, marker="o", color=color, label=str(method))
        if (stats["count"] >= 2).any():
            ax.fill_between(xs, mean - sd, mean + sd, color=color, alpha=0.2, linewidth=0)
        runs_per_point.update(stats["count"].tolist())
    ticks = np.sort(df[x].unique().astype(float))
    if logx:
        ax.set_xscale("log")
    ax.set_xticks(ticks, labels=[f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(x.replace("_", " "))
    if runs_per_point == {1}:
        spread = ""
    elif len(runs_per_point) == 1:
        spread = f" (mean ± sd over {runs_per_point.pop()} runs)"
    else:
        spread = " (mean ± sd)"
    ax.set_ylabel(y.replace("_", " ") + spread)
    ax.grid(True, alpha=0.3)
    ax.legend(title=hue)
    return ax


def smooth(values: Sequence[float] | np.ndarray | "torch.Tensor", window: int) -> np.ndarray:
    """The moving average of a noisy per-step curve (a loss per step), over ``window`` steps.

    Only full windows are averaged, so the result has ``len(values) - window + 1`` points; the
    ``i``-th is the mean of steps ``i .. i + window - 1`` (draw it at x = ``i + window - 1``).
    ``window`` is clipped to ``[1, len(values)]``.

    Introduced in chapter 5 (pretraining losses).

    Example:
        >>> smooth([1.0, 3.0, 2.0, 4.0], window=2).tolist()
        [2.0, 2.5, 3.0]
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise TypeError(f"smooth(): window must be an int (steps to average), got {window!r}")
    v = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"smooth() takes a non-empty 1-D sequence of values, got shape {v.shape}")
    window = max(1, min(window, len(v)))
    return np.convolve(v, np.ones(window) / window, mode="valid")
