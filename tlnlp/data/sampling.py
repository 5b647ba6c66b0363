"""Reproducible small labelled samples, for sample-efficiency curves.

>>> labels = [0] * 50 + [1] * 30 + [2] * 20
>>> idx = sample_labelled(labels, 9, seed=0)
>>> np.bincount(np.asarray(labels)[idx]).tolist()
[3, 3, 3]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sample_labelled(labels: Sequence[int] | np.ndarray, n: int, seed: int, balanced: bool = True) -> np.ndarray:
    """Indices of a reproducible sample of ``n`` labelled examples.

    With ``balanced=True`` every class gets ``n // k`` examples (``k`` classes) and
    ``n % k`` classes, chosen at random, get one more. Samples are nested: with the
    same seed, the sample of a smaller ``n`` is a subset of the sample of a larger ``n``,
    so a learning curve adds examples instead of redrawing them.

    Arguments:
        labels: the label of every example (any hashable, sortable values).
        n: the sample size.
        seed: the random seed; the same seed gives the same sample.
        balanced: draw the same number per class (else a uniform sample without replacement).

    Returns:
        ``int64`` indices into ``labels``, sorted ascending.

    Raises:
        ValueError: ``n`` is not positive, exceeds the examples available, is smaller than the
            number of classes (balanced), or a class has fewer examples than its share.

    Example:
        >>> sample_labelled([0, 0, 1, 1, 1], 2, seed=1).size
        2
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-d sequence, got shape {labels.shape}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if n > labels.size:
        raise ValueError(f"cannot sample n={n} examples: only {labels.size} are available")
    rng = np.random.default_rng(seed)
    if not balanced:
        return np.sort(rng.permutation(labels.size)[:n])
    classes, counts = np.unique(labels, return_counts=True)
    if n < len(classes):
        raise ValueError(
            f"a balanced sample needs at least one example per class: n={n} < {len(classes)} classes "
            "(raise n or pass balanced=False)"
        )
    extra = np.zeros(len(classes), dtype=np.int64)
    extra[rng.permutation(len(classes))[: n % len(classes)]] = 1
    quota = n // len(classes) + extra
    short = [f"{c!r} has {k} < {q}" for c, k, q in zip(classes, counts, quota) if k < q]
    if short:
        raise ValueError(f"not enough examples for a balanced sample of n={n}: class {'; class '.join(short)}")
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)
