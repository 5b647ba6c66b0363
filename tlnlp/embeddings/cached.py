"""Word vectors trained once and cached: the same method, settings and corpus load from disk.

Chapter 2 trains skip-gram, gensim's skip-gram and GloVe on its corpus through
:func:`load_or_train`; a second run (or a later chapter) with the same corpus and settings
loads the vectors, with the training time measured when they were trained.

>>> from tlnlp.embeddings import SkipGramConfig
>>> tv = load_or_train("skipgram", sentences, SkipGramConfig(epochs=5))  # doctest: +SKIP
>>> tv.vectors.most_similar("good", topn=3), tv.train_seconds  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..cache import load_or_compute
from .cbow import train_cbow, train_gensim_cbow
from .glove import GloVeConfig, train_glove
from .skipgram import SkipGramConfig, train_gensim_skipgram, train_skipgram
from .vectors import WordVectors

METHODS: tuple[str, ...] = ("skipgram", "gensim", "cbow", "gensim-cbow", "glove")
"""``skipgram``: :func:`train_skipgram`; ``gensim``: :func:`train_gensim_skipgram`; ``cbow``: :func:`train_cbow`;
``gensim-cbow``: :func:`train_gensim_cbow`; ``glove``: :func:`train_glove`."""

CACHE_VERSION = 1
"""Part of every cache key: bump it when a change to the training code changes the vectors."""


@dataclass(frozen=True)
class TrainedVectors:
    """Vectors with how long they took to train (measured when they were trained, not when loaded).

    Attributes:
        vectors: the word vectors.
        train_seconds: wall-clock training time.
        from_cache: True when loaded from the cache.
    """

    vectors: WordVectors
    train_seconds: float
    from_cache: bool


def corpus_fingerprint(sentences: Sequence[Sequence[str]]) -> str:
    """A short hash of a tokenised corpus (part of the cache key, so a changed corpus retrains).

    Example:
        >>> corpus_fingerprint([["a", "b"]]) == corpus_fingerprint([["a", "b"]]) != corpus_fingerprint([["a"], ["b"]])
        True
    """
    digest = hashlib.sha256()
    for sentence in sentences:
        digest.update(" ".join(sentence).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def load_or_train(
    method: str,
    sentences: Sequence[Sequence[str]],
    config: SkipGramConfig | GloVeConfig,
    device: Any = None,
) -> TrainedVectors:
    """Train vectors with ``method`` on ``sentences``, or load them if this exact run is cached.

    Arguments:
        method: one of :data:`METHODS`.
        sentences: the tokenised corpus.
        config: :class:`SkipGramConfig` (``skipgram``, ``gensim``, ``cbow``, ``gensim-cbow``) or :class:`GloVeConfig` (``glove``).
        device: torch device for ``skipgram``/``cbow``/``glove`` (gensim runs on 2 CPU threads).

    Returns:
        :class:`TrainedVectors`; the cache key is the method, the config and a fingerprint of the corpus.

    Example:
        >>> from tlnlp.embeddings import SkipGramConfig
        >>> corpus = [["a", "cat", "sat"], ["a", "dog", "sat"]] * 20
        >>> first = load_or_train("skipgram", corpus, SkipGramConfig(dim=4, epochs=1, min_count=1), device="cpu")
        >>> again = load_or_train("skipgram", corpus, SkipGramConfig(dim=4, epochs=1, min_count=1), device="cpu")
        >>> again.from_cache, bool((again.vectors.vectors == first.vectors.vectors).all())
        (True, True)
    """
    expected = GloVeConfig if method == "glove" else SkipGramConfig
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not isinstance(config, expected):
        raise TypeError(f"method {method!r} needs a {expected.__name__}, got {type(config).__name__}")

    def compute() -> TrainedVectors:
        start = time.perf_counter()
        if method == "skipgram":
            vectors = train_skipgram(sentences, config, device=device)
        elif method == "gensim":
            vectors = train_gensim_skipgram(sentences, config)
        elif method == "cbow":
            vectors = train_cbow(sentences, config, device=device)
        elif method == "gensim-cbow":
            vectors = train_gensim_cbow(sentences, config)
        else:
            vectors = train_glove(sentences, config, device=device)
        return TrainedVectors(vectors, time.perf_counter() - start, from_cache=False)

    def save(result: TrainedVectors, path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(f, words=np.array(result.vectors.words, dtype=str), vectors=result.vectors.vectors,
                     train_seconds=np.float64(result.train_seconds))

    def load(path: Path) -> TrainedVectors:
        with np.load(path, allow_pickle=False) as z:
            return TrainedVectors(WordVectors(z["words"].tolist(), z["vectors"]), float(z["train_seconds"]), from_cache=True)

    key = {"version": CACHE_VERSION, "method": method, "config": config.key(), "corpus": corpus_fingerprint(sentences)}
    return load_or_compute(f"word-vectors-{method}", key, compute, save, load, suffix=".npz")
