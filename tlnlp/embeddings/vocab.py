"""A word vocabulary built from tokenised sentences, and the corpus encoded with it.

>>> v = build_vocab([["the", "cat"], ["the", "dog"]], min_count=1)
>>> v.words, v.counts.tolist()
(['the', 'cat', 'dog'], [2, 1, 1])
>>> v.encode([["the", "bird", "dog"]]).ids.tolist()   # unknown words are dropped
[0, 2]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np


class EmptyVocabularyError(ValueError):
    """No word survived ``min_count``/``max_size`` (or there were no sentences)."""


@dataclass(frozen=True)
class EncodedCorpus:
    """A corpus as one flat array of word ids plus the sentence each token belongs to.

    Out-of-vocabulary tokens are removed before encoding, as word2vec and GloVe do, so
    two words separated only by unknown words count as neighbours.

    Attributes:
        ids: ``int64`` word ids, sentence after sentence.
        sentence_ids: ``int64`` array of the same length: the index of each token's sentence.
    """

    ids: np.ndarray
    sentence_ids: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True)
class Vocab:
    """Words sorted by descending frequency (ties by first appearance), their counts and an index.

    Attributes:
        words: the words; ``words[i]`` has id ``i``.
        counts: corpus frequency of each word (``int64``).
        index: word -> id.

    Example:
        >>> v = Vocab(["a", "b"], np.array([3, 1]))
        >>> v["b"], "c" in v, len(v)
        (1, False, 2)
    """

    words: list[str]
    counts: np.ndarray
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=np.int64)
        if len(self.words) != counts.shape[0]:
            raise ValueError(f"Vocab got {len(self.words)} words but {counts.shape[0]} counts; give one count per word")
        if not self.words:
            raise EmptyVocabularyError("the vocabulary is empty; lower min_count or give more text")
        index = {w: i for i, w in enumerate(self.words)}
        if len(index) != len(self.words):
            raise ValueError("Vocab words must be unique")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "index", index)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"{word!r} is not in the vocabulary ({len(self)} words)") from None

    @property
    def total(self) -> int:
        """Number of in-vocabulary tokens in the corpus the counts came from."""
        return int(self.counts.sum())

    def encode(self, sentences: Iterable[Sequence[str]]) -> EncodedCorpus:
        """Map tokenised sentences to an :class:`EncodedCorpus`, dropping unknown words.

        Example:
            >>> v = build_vocab([["a", "b", "a"]], min_count=1)
            >>> c = v.encode([["a", "x"], ["b", "a"]])
            >>> c.ids.tolist(), c.sentence_ids.tolist()
            ([0, 1, 0], [0, 1, 1])
        """
        index = self.index
        ids: list[int] = []
        sent: list[int] = []
        for s, sentence in enumerate(sentences):
            kept = [index[w] for w in sentence if w in index]
            ids.extend(kept)
            sent.extend([s] * len(kept))
        return EncodedCorpus(np.asarray(ids, dtype=np.int64), np.asarray(sent, dtype=np.int64))


def build_vocab(
    sentences: Iterable[Sequence[str]], min_count: int = 5, max_size: int | None = None
) -> Vocab:
    """Count words and keep those seen at least ``min_count`` times, at most ``max_size`` of them.

    Arguments:
        sentences: tokenised sentences (lists of strings).
        min_count: drop words rarer than this (word2vec's and gensim's default is 5).
        max_size: keep only the ``max_size`` most frequent words (``None``: no limit).

    Returns:
        A :class:`Vocab` sorted by descending count; ties keep first-appearance order.

    Raises:
        EmptyVocabularyError: if no word is left.

    Example:
        >>> build_vocab([["x", "y", "y", "z"]], min_count=1, max_size=2).words
        ['y', 'x']
    """
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    if max_size is not None and max_size < 1:
        raise ValueError(f"max_size must be a positive int or None, got {max_size}")
    counter: Counter[str] = Counter()
    for sentence in sentences:
        if isinstance(sentence, str):
            raise TypeError("sentences must be lists of tokens, not strings; tokenise them first (e.g. s.split())")
        counter.update(sentence)
    # Counter.most_common is a stable sort, so equal counts keep first-appearance order.
    kept = [(w, c) for w, c in counter.most_common(max_size) if c >= min_count]
    if not kept:
        raise EmptyVocabularyError(
            f"no word occurs at least min_count={min_count} times in {sum(counter.values())} tokens; "
            "lower min_count or give more text"
        )
    return Vocab([w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64))
