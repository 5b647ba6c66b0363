"""A counting baseline for any token stream: the add-one smoothed n-gram language model.

An n-gram model predicts token ``t`` from the ``n - 1`` tokens before it by counting:

.. math:: p(w \\mid c) = \\frac{\\#(c, w) + 1}{\\#(c) + V}

where ``#(c, w)`` counts context ``c`` followed by ``w`` in the training stream, ``#(c)`` counts
``c`` followed by anything, and ``V`` is the vocabulary size (add-one, or Laplace, smoothing: an
unseen pair still gets probability ``1 / (#(c) + V)``). It is the baseline a neural LM must
beat, and it shows why counting runs out of data: there are ``V ** (n - 1)`` contexts.

Example:
    >>> import torch
    >>> stream = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])
    >>> bigram = NGramLM(n=2, vocab_size=2).fit(stream)
    >>> round(bigram.probability(context=[0], token=1), 3)  # (4 + 1) / (4 + 2)
    0.833
    >>> round(bigram.loss(stream), 3)  # mean -log p over the 7 predicted tokens, in nats
    0.2
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["NGramLM"]


class NGramLM:
    """Add-one smoothed n-gram language model over token ids ``0 .. vocab_size - 1``.

    Arguments:
        n: tokens per n-gram: 1 (unigram), 2 (bigram), 3 (trigram), ...
        vocab_size: ``V``, the number of possible tokens (the smoothing spreads over all of them).

    Raises:
        ValueError: ``n < 1`` or ``vocab_size < 1``, or ``vocab_size ** n`` beyond what int64
            context codes can hold (use a smaller ``n``).
    """

    def __init__(self, n: int, vocab_size: int) -> None:
        for name, value in (("n", n), ("vocab_size", vocab_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"NGramLM: {name} must be an int >= 1, got {value!r}")
        if n * math.log2(vocab_size) >= 63:
            raise ValueError(f"NGramLM: vocab_size ** n = {vocab_size}**{n} does not fit the int64 codes of n-grams; use a smaller n")
        self.n, self.vocab_size = n, vocab_size
        self._pairs = np.empty(0, dtype=np.int64)  # sorted codes of seen (context, token) pairs
        self._pair_counts = np.empty(0, dtype=np.int64)
        self._contexts = np.empty(0, dtype=np.int64)  # sorted codes of seen contexts
        self._context_counts = np.empty(0, dtype=np.int64)
        self.fitted = False

    def __repr__(self) -> str:
        return f"NGramLM(n={self.n}, vocab_size={self.vocab_size}, contexts_seen={len(self._contexts)})"

    def fit(self, ids: Any) -> NGramLM:
        """Count every n-gram of the stream ``ids`` (a 1-D tensor, array or list of ints); returns self."""
        context, token = self._codes(ids, "fit")
        self._pairs, self._pair_counts = np.unique(context * self.vocab_size + token, return_counts=True)
        self._contexts, self._context_counts = np.unique(context, return_counts=True)
        self.fitted = True
        return self

    def log_probs(self, ids: Any) -> np.ndarray:
        """``log p(ids[t] | ids[t-n+1 : t])`` for every ``t >= n - 1``, in nats (``len(ids) - n + 1`` values)."""
        self._check_fitted("log_probs")
        context, token = self._codes(ids, "log_probs")
        pairs = _lookup(self._pairs, self._pair_counts, context * self.vocab_size + token)
        contexts = _lookup(self._contexts, self._context_counts, context)
        return np.log(pairs + 1.0) - np.log(contexts + float(self.vocab_size))

    def loss(self, ids: Any) -> float:
        """Mean negative log-likelihood per predicted token of ``ids``, in nats (what an LM's loss reports)."""
        return float(-self.log_probs(ids).mean())

    def probability(self, context: Sequence[int], token: int) -> float:
        """``p(token | context)`` for one context of ``n - 1`` ids."""
        self._check_fitted("probability")
        if len(context) != self.n - 1:
            raise ValueError(f"NGramLM.probability: a {self.n}-gram model needs a context of {self.n - 1} ids, got {len(context)}")
        return float(np.exp(self.log_probs([*context, token])[0]))

    def _check_fitted(self, caller: str) -> None:
        if not self.fitted:
            raise RuntimeError(f"NGramLM.{caller}: call .fit(train_ids) first")

    def _codes(self, ids: Any, caller: str) -> tuple[np.ndarray, np.ndarray]:
        """Each position's context as one base-V integer, and the token that follows it."""
        x = _as_ids(ids, caller)
        if len(x) < self.n:
            raise ValueError(f"NGramLM.{caller}: a {self.n}-gram model needs at least {self.n} tokens, got {len(x)}")
        if x.min() < 0 or x.max() >= self.vocab_size:
            bad = int(x.min()) if x.min() < 0 else int(x.max())
            raise ValueError(f"NGramLM.{caller}: token id {bad} is outside 0..{self.vocab_size - 1} (vocab_size={self.vocab_size})")
        positions = len(x) - self.n + 1
        context = np.zeros(positions, dtype=np.int64)
        for j in range(self.n - 1):  # the oldest token is the most significant digit
            context = context * self.vocab_size + x[j : j + positions]
        return context, x[self.n - 1 :]


def _as_ids(ids: Any, caller: str) -> np.ndarray:
    if hasattr(ids, "detach"):  # a torch tensor
        ids = ids.detach().cpu().numpy()
    x = np.asarray(ids)
    if x.ndim != 1 or not (np.issubdtype(x.dtype, np.integer) or x.size == 0):
        raise ValueError(f"NGramLM.{caller}: ids must be a 1-D sequence of ints, got shape {x.shape} of {x.dtype}")
    return x.astype(np.int64)


def _lookup(keys: np.ndarray, counts: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """``counts`` of each query in sorted ``keys``, 0 where it is absent."""
    if len(keys) == 0:
        return np.zeros(len(queries), dtype=np.int64)
    at = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    return np.where(keys[at] == queries, counts[at], 0)
