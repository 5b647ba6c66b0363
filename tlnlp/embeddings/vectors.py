"""A light container for word vectors, convertible to and from gensim's ``KeyedVectors``.

>>> wv = WordVectors(["king", "queen"], np.eye(2, dtype=np.float32))
>>> wv["queen"].tolist(), "man" in wv
([0.0, 1.0], False)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # gensim is imported only by the conversion methods
    from gensim.models import KeyedVectors


class DimensionMismatchError(ValueError):
    """Two things that must share a dimension (words and rows, two vector sets) do not."""


@dataclass(frozen=True)
class WordVectors:
    """Words, one vector per word, and a word -> row index.

    Words should be sorted by descending corpus frequency: the evaluation restricts
    analogies to the first ``restrict_vocab`` rows, as gensim does.

    Attributes:
        words: the words, row order.
        vectors: ``float32`` array of shape ``(len(words), dim)``.
        index: word -> row.

    Example:
        >>> wv = WordVectors(["a", "b"], np.array([[1.0, 0.0], [0.0, 2.0]]))
        >>> wv.dim, len(wv), wv.unit_vectors()[1].tolist()
        (2, 2, [0.0, 1.0])
    """

    words: list[str]
    vectors: np.ndarray
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.words, str):
            raise TypeError(f"WordVectors words must be a list of words, got the string {self.words!r}")
        vectors = np.asarray(self.vectors, dtype=np.float32)
        words = list(self.words)
        if vectors.ndim != 2:
            raise DimensionMismatchError(f"vectors must be 2-D (words x dim), got shape {vectors.shape}")
        if vectors.shape[0] != len(words):
            raise DimensionMismatchError(
                f"{len(words)} words but {vectors.shape[0]} vectors; give exactly one row per word"
            )
        if not words:
            raise ValueError("WordVectors needs at least one word")
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise ValueError(
                f"the vector of {words[bad[0]]!r} (row {bad[0]}) holds NaN or inf, as do {bad.size} rows in all: "
                "the training diverged (lower the learning rate) or the file is corrupt"
            )
        index = {w: i for i, w in enumerate(words)}
        if len(index) != len(words):
            raise ValueError("WordVectors words must be unique")
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "vectors", vectors)
        object.__setattr__(self, "index", index)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.row(word)]

    def row(self, word: str) -> int:
        """The row of ``word``; a clear ``KeyError`` if it has no vector."""
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"{word!r} has no vector ({len(self)} words)") from None

    @property
    def dim(self) -> int:
        """The vector dimension."""
        return int(self.vectors.shape[1])

    def unit_vectors(self) -> np.ndarray:
        """Rows scaled to unit length (zero rows stay zero)."""
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        return self.vectors / np.maximum(norms, 1e-12)

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` words with the highest cosine similarity to ``word`` (itself excluded).

        Example:
            >>> wv = WordVectors(["a", "b", "c"], np.array([[1.0, 0], [0.9, 0.1], [0, 1.0]]))
            >>> [w for w, _ in wv.most_similar("a", topn=2)]
            ['b', 'c']
        """
        if isinstance(topn, bool) or not isinstance(topn, (int, np.integer)) or topn < 0:
            raise ValueError(f"topn must be an int >= 0, got {topn!r}")
        row = self.row(word)
        unit = self.unit_vectors()
        sims = unit @ unit[row]
        sims[row] = -np.inf
        top = np.argsort(-sims)[: min(topn, len(self) - 1)]  # never the word itself
        return [(self.words[i], float(sims[i])) for i in top]

    def restrict(self, words: Sequence[str]) -> "WordVectors":
        """The vectors of ``words`` only (all must be present), in that order."""
        missing = [w for w in words if w not in self.index]
        if missing:
            raise KeyError(f"{len(missing)} words have no vector, e.g. {missing[:5]}")
        return WordVectors(list(words), self.vectors[[self.index[w] for w in words]])

    # ---- gensim ------------------------------------------------------------------------
    @classmethod
    def from_gensim(cls, kv: "KeyedVectors") -> "WordVectors":
        """Copy a gensim ``KeyedVectors`` (e.g. ``Word2Vec(...).wv``), keeping its word order."""
        return cls(list(kv.index_to_key), np.array(kv.vectors, dtype=np.float32))

    def to_gensim(self) -> "KeyedVectors":
        """A gensim ``KeyedVectors`` holding the same words (same order) and vectors."""
        from gensim.models import KeyedVectors

        kv = KeyedVectors(vector_size=self.dim, dtype=np.float32)
        kv.add_vectors(self.words, self.vectors)
        return kv

    # ---- files -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write an ``.npz`` file (no pickle): ``words`` as a unicode array, ``vectors`` as float32."""
        with open(path, "wb") as f:  # a file object stops numpy from appending ".npz"
            np.savez(f, words=np.array(self.words, dtype=str), vectors=self.vectors)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "WordVectors":
        """Read a file written by :meth:`save`."""
        with np.load(Path(path), allow_pickle=False) as z:
            return cls(z["words"].tolist(), z["vectors"])
