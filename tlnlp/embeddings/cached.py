"""The book's word vectors: the corpus and settings of each preset, trained once and cached.

Chapter 2 trains these vectors; later chapters (e.g. the recurrent language model) reuse
them with :func:`book_vectors`, which loads them from the cache when the corpus and the
settings are unchanged.

========= =============================================================== ================
preset    corpus                                                          skip-gram epochs
========= =============================================================== ================
``ci``    WikiText-2 valid (about 0.2 M tokens)                           2
``cpu``   the offline general-English pool (:func:`tlnlp.data.general_english_sentences`, about 1.8 M tokens)  5
``gpu``   text8 (17 M tokens of Wikipedia), downloaded once                5
========= =============================================================== ================

>>> wv = book_vectors("skipgram")  # doctest: +SKIP
>>> wv.most_similar("good", topn=3)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..cache import load_or_compute
from ..config import preset_name as active_preset
from .glove import GloVeConfig, train_glove
from .skipgram import SkipGramConfig, train_gensim_skipgram, train_skipgram
from .vectors import WordVectors

METHODS: tuple[str, ...] = ("skipgram", "gensim", "glove")
"""``skipgram``: :func:`train_skipgram`; ``gensim``: :func:`train_gensim_skipgram`; ``glove``: :func:`train_glove`."""

CACHE_VERSION = 1
"""Part of every cache key: bump it when a change to the training code changes the vectors."""

TEXT8_SENTENCE_LENGTH = 1000
"""text8 has no sentence breaks; like word2vec's C code we cut it into 1,000-word pieces."""


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


def book_corpus(preset_name: str | None = None) -> list[list[str]]:
    """The tokenised corpus the book trains word vectors on at a preset (default: the active one).

    Example:
        >>> sentences = book_corpus("ci")  # doctest: +SKIP
        >>> sum(map(len, sentences))  # doctest: +SKIP
        196231
    """
    from ..data import general_english_sentences, load_text8

    name = preset_name or active_preset()
    if name == "ci":
        return general_english_sentences(include=("wikitext2_valid",))
    if name == "cpu":
        return general_english_sentences()
    if name == "gpu":
        words = load_text8().split()
        return [words[i : i + TEXT8_SENTENCE_LENGTH] for i in range(0, len(words), TEXT8_SENTENCE_LENGTH)]
    raise ValueError(f"unknown preset {name!r}; valid presets are ci, cpu, gpu")


def book_skipgram_config(preset_name: str | None = None) -> SkipGramConfig:
    """The skip-gram settings of a preset (gensim's defaults, fewer epochs on the small presets).

    Example:
        >>> book_skipgram_config("cpu").epochs
        5
    """
    name = preset_name or active_preset()
    if name == "ci":
        return SkipGramConfig(dim=50, epochs=2, min_count=3)
    if name == "cpu":
        return SkipGramConfig(dim=100, epochs=5)
    if name == "gpu":
        return SkipGramConfig(dim=100, epochs=5, batch_size=16384)
    raise ValueError(f"unknown preset {name!r}; valid presets are ci, cpu, gpu")


def book_glove_config(preset_name: str | None = None) -> GloVeConfig:
    """The GloVe settings of a preset. ``x_max=10`` as in Stanford's text8 demo (small corpora).

    Example:
        >>> book_glove_config("cpu").x_max
        10.0
    """
    name = preset_name or active_preset()
    if name == "ci":
        return GloVeConfig(dim=50, window=5, x_max=10.0, epochs=3, min_count=3)
    if name == "cpu":
        return GloVeConfig(dim=100, window=10, x_max=10.0, epochs=15)
    if name == "gpu":
        return GloVeConfig(dim=100, window=10, x_max=10.0, epochs=15, batch_size=262144)
    raise ValueError(f"unknown preset {name!r}; valid presets are ci, cpu, gpu")


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
        config: :class:`SkipGramConfig` (``skipgram``, ``gensim``) or :class:`GloVeConfig` (``glove``).
        device: torch device for ``skipgram``/``glove`` (gensim runs on 2 CPU threads).

    Returns:
        :class:`TrainedVectors`; the cache key is the method, the config and a fingerprint of the corpus.

    Example:
        >>> tv = load_or_train("skipgram", book_corpus("ci"), book_skipgram_config("ci"))  # doctest: +SKIP
        >>> tv.vectors.dim, tv.from_cache  # doctest: +SKIP
        (50, False)
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


def book_vectors(method: str = "skipgram", preset_name: str | None = None) -> WordVectors:
    """The book's word vectors for a preset: trained by chapter 2, loaded from the cache afterwards.

    Example:
        >>> wv = book_vectors("skipgram", "ci")  # doctest: +SKIP
        >>> wv.dim  # doctest: +SKIP
        50
    """
    config = book_glove_config(preset_name) if method == "glove" else book_skipgram_config(preset_name)
    return load_or_train(method, book_corpus(preset_name), config).vectors
