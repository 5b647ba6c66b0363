"""Few-shot episodes: N classes, K labelled examples each (support) and some held-out queries.

>>> import numpy as np
>>> labels = np.repeat(np.arange(6), 10)
>>> ep = sample_episode(labels, n_way=3, k_shot=2, n_query=4, rng=np.random.default_rng(0))
>>> len(ep.support), len(ep.query), sorted(set(ep.support_labels.tolist()))
(6, 12, [0, 1, 2])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["Episode", "sample_episode"]


@dataclass(frozen=True)
class Episode:
    """One few-shot task, as row indices into a dataset and labels renumbered ``0 .. n_way-1``.

    Attributes:
        classes: the original labels of the episode's classes; class ``i`` of the episode is
            ``classes[i]``.
        support, query: row indices of the support and query examples (disjoint).
        support_labels, query_labels: episode labels (``0 .. n_way-1``) of those rows.
    """

    classes: np.ndarray
    support: np.ndarray
    support_labels: np.ndarray
    query: np.ndarray
    query_labels: np.ndarray


def _distinct_classes(labels: np.ndarray, classes: Sequence | np.ndarray) -> np.ndarray:
    """Check ``classes``: distinct, each present in ``labels``; a repeat would put one class in two slots."""
    pool = np.asarray(classes)
    values, counts = np.unique(pool, return_counts=True)
    if (counts > 1).any():
        repeated = values[counts > 1].tolist()
        raise ValueError(
            f"classes repeats {repeated[:5]}{' ...' if len(repeated) > 5 else ''} ({len(pool)} entries, "
            f"{len(values)} distinct): an episode would draw a class twice, under two labels; pass the distinct "
            "classes, e.g. np.unique(labels), not the per-row labels"
        )
    missing = np.setdiff1d(values, np.unique(labels)).tolist()
    if missing:
        raise ValueError(f"classes {missing[:5]} do not occur in labels: pass classes that have rows")
    return pool


def sample_episode(
    labels: Sequence[int] | Sequence[str] | np.ndarray,
    n_way: int,
    k_shot: int,
    n_query: int,
    rng: np.random.Generator,
    classes: Sequence | np.ndarray | None = None,
) -> Episode:
    """Draw an N-way K-shot episode: ``n_way`` classes, ``k_shot`` support and ``n_query``
    query rows from each, without repeats.

    Arguments:
        labels: one label per row of the dataset (ints or strings).
        n_way: classes per episode.
        k_shot: support examples per class.
        n_query: query examples per class.
        rng: the random generator (``np.random.default_rng(seed)``).
        classes: draw the episode's classes from these only (e.g. the meta-test classes);
            default: every label.

    Example:
        >>> ep = sample_episode(["a", "a", "b", "b"], 2, 1, 1, np.random.default_rng(0))
        >>> sorted(ep.classes.tolist())
        ['a', 'b']
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator, got {type(rng).__name__} {rng!r}: pass np.random.default_rng(seed)")
    for what, value in (("n_way", n_way), ("k_shot", k_shot), ("n_query", n_query)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{what} must be an int, got {type(value).__name__} {value!r}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence (one label per row), got shape {labels.shape}")
    pool = np.unique(labels) if classes is None else _distinct_classes(labels, classes)
    if n_way < 1 or k_shot < 1 or n_query < 0:
        raise ValueError(f"need n_way >= 1, k_shot >= 1, n_query >= 0; got {n_way}, {k_shot}, {n_query}")
    if n_way > len(pool):
        raise ValueError(f"n_way={n_way} but only {len(pool)} classes to draw from")
    chosen = rng.choice(pool, size=n_way, replace=False)
    support, support_labels, query, query_labels = [], [], [], []
    for episode_label, cls in enumerate(chosen):
        rows = np.flatnonzero(labels == cls)
        if len(rows) < k_shot + n_query:
            raise ValueError(f"class {cls!r} has {len(rows)} rows; an episode needs k_shot + n_query = "
                             f"{k_shot + n_query}: lower k_shot or n_query, or leave the class out")
        picked = rng.choice(rows, size=k_shot + n_query, replace=False)
        support.append(picked[:k_shot])
        query.append(picked[k_shot:])
        support_labels.append(np.full(k_shot, episode_label))
        query_labels.append(np.full(n_query, episode_label))
    return Episode(chosen, np.concatenate(support), np.concatenate(support_labels),
                   np.concatenate(query), np.concatenate(query_labels))
