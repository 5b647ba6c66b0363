"""The proxy A-distance between two domains: how well a classifier tells their features apart.

Ben-David et al. (2010) bound a classifier's error on a target domain by its source error plus
a divergence between the domains, which can be estimated from unlabelled samples: train a
domain classifier to tell source features from target features and measure its held-out
error :math:`\\epsilon`. The *proxy A-distance* is

.. math:: \\hat d_A = 2\\,(1 - 2\\epsilon),

0 when the classifier can do no better than guessing (:math:`\\epsilon = 0.5`, the features do
not show the domain) and 2 when it never errs (the domains are perfectly separable).

Introduced in the chapter on domain adaptation.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> round(proxy_a_distance(rng.normal(size=(200, 4)), rng.normal(size=(200, 4)) + 10), 3)
2.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["proxy_a_distance", "domain_classifier_error"]


def _as_matrix(name: str, features: Any) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows, features), got shape {x.shape}")
    if len(x) < 2:
        raise ValueError(f"{name} has {len(x)} row(s); the proxy A-distance needs at least 2 per domain")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values; encode the texts again or drop those rows")
    return x


def domain_classifier_error(
    source_features: Any, target_features: Any, *, test_size: float = 0.5, seed: int = 0, C: float = 1.0
) -> float:
    """Held-out error of a logistic regression that tells source rows (0) from target rows (1).

    The larger domain is subsampled (without replacement, ``seed``) to the size of the smaller
    one, so guessing scores 0.5; the rows are split, stratified by domain, into a training part
    and a held-out part of share ``test_size``; features are standardised on the training part.

    Arguments:
        source_features, target_features: ``(rows, dim)`` arrays with the same ``dim``.
        test_size: the held-out share, in (0, 1).
        seed: seeds the subsampling and the split.
        C: the inverse L2 strength of the logistic regression.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(100, 3))
        >>> domain_classifier_error(x, x + 100)
        0.0
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xs, xt = _as_matrix("source_features", source_features), _as_matrix("target_features", target_features)
    if xs.shape[1] != xt.shape[1]:
        raise ValueError(
            f"source features have {xs.shape[1]} columns and target features {xt.shape[1]}: "
            "encode both domains with the same feature extractor"
        )
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must lie in (0, 1), got {test_size!r}")
    rng = np.random.default_rng(seed)
    n = min(len(xs), len(xt))
    xs, xt = (x[rng.choice(len(x), n, replace=False)] if len(x) > n else x for x in (xs, xt))
    x = np.concatenate([xs, xt])
    y = np.repeat([0, 1], n)
    if round(2 * n * test_size) < 2 or round(2 * n * (1 - test_size)) < 2:
        raise ValueError(f"{2 * n} rows split at test_size={test_size} leave a part with fewer than 2 rows; give more rows")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    probe.fit(x_train, y_train)
    return float(np.mean(probe.predict(x_test) != y_test))


def proxy_a_distance(
    source_features: Any, target_features: Any, *, test_size: float = 0.5, seed: int = 0, C: float = 1.0
) -> float:
    """Ben-David et al.'s proxy A-distance, :math:`2(1 - 2\\epsilon)`, between two sets of features.

    :math:`\\epsilon` is :func:`domain_classifier_error` (a held-out error, with balanced
    domains). A classifier worse than guessing could be flipped, so :math:`\\epsilon` is capped
    at 0.5 and the distance lies in ``[0, 2]``: 0 for features that do not show the domain, 2
    for perfectly separable domains. It measures the *features*, so the same texts give
    different distances through different encoders (or before and after adaptation).

    Arguments:
        source_features, target_features: ``(rows, dim)`` arrays with the same ``dim``.
        test_size, seed, C: passed to :func:`domain_classifier_error`.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> same = proxy_a_distance(rng.normal(size=(500, 3)), rng.normal(size=(500, 3)))
        >>> bool(same < 0.3)
        True
    """
    error = domain_classifier_error(source_features, target_features, test_size=test_size, seed=seed, C=C)
    return 2.0 * (1.0 - 2.0 * min(error, 0.5))
