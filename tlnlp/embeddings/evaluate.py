r"""One evaluation protocol for every set of word vectors (ours, gensim's, random ones).

* **Analogies** (:func:`evaluate_analogies`): the Google questions "a is to b as c is to ?",
  answered by 3CosAdd, :math:`\arg\max_{x\notin\{a,b,c\}} \cos(x,\; \hat b - \hat a + \hat c)`
  over unit-normalised vectors of the ``restrict_vocab`` most frequent words (30,000 by
  default); questions with a word outside them are skipped and counted as OOV. This is
  what gensim's ``evaluate_word_analogies`` does, computed in batched matrix products.
* **Word similarity** (:func:`evaluate_word_pairs`): Spearman's :math:`\rho` between cosine
  similarities and human scores, over the pairs whose two words have vectors.
* :func:`nearest_neighbours`, :func:`pca_2d` and :func:`random_like` (the floor to beat).

Everything is case-insensitive: words are lowercased, and when two vector words lowercase to
the same string the more frequent (earlier) one is used.

>>> wv = WordVectors(["a", "b", "c", "d"], np.array([[1, 0], [1, 1], [0, 1], [-1, 1.0]]))
>>> evaluate_word_pairs(wv, [("a", "b", 5.0), ("a", "c", 1.0), ("a", "d", 0.0)]).spearman
1.0
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .vectors import WordVectors

DEFAULT_RESTRICT_VOCAB = 30_000
"""Analogies use the 30,000 most frequent words, the usual protocol since word2vec's paper."""


@dataclass(frozen=True)
class AnalogyResult:
    """Result of :func:`evaluate_analogies`.

    Attributes:
        accuracy: correct / answered (questions with an OOV word are not answered).
        correct: number answered correctly.
        answered: number of questions whose four words are all in the restricted vocabulary.
        total: number of questions in the file.
        sections: section name -> (correct, answered).
    """

    accuracy: float
    correct: int
    answered: int
    total: int
    sections: dict[str, tuple[int, int]] = field(repr=False)

    @property
    def oov_rate(self) -> float:
        """Share of questions skipped because a word is outside the restricted vocabulary."""
        return 1.0 - self.answered / self.total if self.total else 0.0

    def split_accuracy(self, syntactic: bool) -> float:
        """Accuracy over the semantic sections, or the syntactic (``gram*``) ones."""
        parts = [v for k, v in self.sections.items() if k.startswith("gram") == syntactic]
        answered = sum(a for _, a in parts)
        return sum(c for c, _ in parts) / answered if answered else float("nan")


@dataclass(frozen=True)
class PairResult:
    """Result of :func:`evaluate_word_pairs`.

    Attributes:
        spearman: Spearman's rho between model cosines and human scores.
        pearson: Pearson's r, for reference.
        pairs: number of pairs with both words known.
        oov_rate: share of pairs skipped because a word has no vector.
    """

    spearman: float
    pearson: float
    pairs: int
    oov_rate: float


def _lower_index(wv: WordVectors, limit: int | None) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, w in enumerate(wv.words[:limit]):
        index.setdefault(w.lower(), i)
    return index


def read_analogies(path: str | os.PathLike[str]) -> list[tuple[str, str, str, str, str]]:
    """Read an analogy file (``: section`` headers, then ``a b c d`` lines) as ``(section, a, b, c, d)``.

    Example:
        >>> from tlnlp.data import google_analogies_path
        >>> read_analogies(google_analogies_path())[0]
        ('capital-common-countries', 'athens', 'greece', 'baghdad', 'iraq')
    """
    questions, section = [], None
    with open(Path(path), encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if line.startswith(": "):
                section = line[2:].strip()
                continue
            words = line.lower().split()
            if not words:
                continue
            if section is None or len(words) != 4:
                raise ValueError(f"{path}, line {number}: expected ': section' or four words, got {line!r}")
            questions.append((section, *words))
    return questions


def evaluate_analogies(
    wv: WordVectors,
    questions: str | os.PathLike[str] | Sequence[tuple[str, str, str, str, str]],
    restrict_vocab: int = DEFAULT_RESTRICT_VOCAB,
    batch_size: int = 512,
) -> AnalogyResult:
    """Accuracy of 3CosAdd on analogy questions, over the ``restrict_vocab`` most frequent words.

    Arguments:
        wv: the vectors, rows sorted by descending frequency.
        questions: a path to a ``questions-words.txt``-style file, or :func:`read_analogies` output.
        restrict_vocab: candidates and question words come from the first ``restrict_vocab`` rows.
        batch_size: questions scored per matrix product.

    Returns:
        An :class:`AnalogyResult`.

    Example:
        >>> wv = WordVectors(["man", "king", "woman", "queen"], np.array([[1, 0], [1, 1], [-1, 0], [-1, 1.0]]))
        >>> evaluate_analogies(wv, [("royal", "man", "king", "woman", "queen")]).accuracy
        1.0
    """
    if isinstance(questions, (str, os.PathLike)):
        questions = read_analogies(questions)
    index = _lower_index(wv, restrict_vocab)
    rows = sorted(set(index.values()))
    position = {row: p for p, row in enumerate(rows)}
    unit = wv.restrict([wv.words[r] for r in rows]).unit_vectors()
    sections: dict[str, list[int]] = {}
    known = []
    for section, a, b, c, d in questions:
        sections.setdefault(section, [0, 0])
        if a in index and b in index and c in index and d in index:
            known.append((section, *(position[index[w]] for w in (a, b, c, d))))
    if known:
        ids = np.array([q[1:] for q in known], dtype=np.int64)
        hits = np.empty(len(known), dtype=bool)
        for lo in range(0, len(known), batch_size):
            a, b, c, d = ids[lo : lo + batch_size].T
            sims = (unit[b] - unit[a] + unit[c]) @ unit.T
            n = np.arange(a.shape[0])
            sims[n, a] = sims[n, b] = sims[n, c] = -np.inf  # the question words are not answers
            hits[lo : lo + batch_size] = sims.argmax(axis=1) == d
        for (section, *_), hit in zip(known, hits):
            sections[section][0] += int(hit)
            sections[section][1] += 1
    correct = sum(c for c, _ in sections.values())
    answered = len(known)
    return AnalogyResult(
        accuracy=correct / answered if answered else 0.0,
        correct=correct,
        answered=answered,
        total=len(questions),
        sections={k: (c, a) for k, (c, a) in sections.items()},
    )


def evaluate_word_pairs(
    wv: WordVectors, pairs: str | os.PathLike[str] | Iterable[tuple[str, str, float]]
) -> PairResult:
    """Spearman's rho between cosine similarity and human similarity scores.

    Arguments:
        wv: the vectors.
        pairs: ``(word1, word2, score)`` triples (e.g. ``tlnlp.data.load_word_similarity("simlex999")``),
            or a path to a tab-separated file with ``#`` comment lines.

    Returns:
        A :class:`PairResult`; pairs with a word that has no vector are skipped.

    Example:
        >>> wv = WordVectors(["a", "b", "c"], np.array([[1.0, 0], [1, 0.1], [0, 1]]))
        >>> round(evaluate_word_pairs(wv, [("a", "b", 9.0), ("a", "c", 1.0), ("b", "c", 2.0)]).spearman, 3)
        1.0
    """
    from scipy.stats import pearsonr, spearmanr

    if isinstance(pairs, (str, os.PathLike)):
        with open(Path(pairs), encoding="utf-8") as stream:
            rows = [line.rstrip("\r\n").split("\t") for line in stream if line.strip() and not line.startswith("#")]
        pairs = [(a, b, float(s)) for a, b, s in rows]
    pairs = list(pairs)
    if not pairs:
        raise ValueError("evaluate_word_pairs() got no word pairs")
    index = _lower_index(wv, None)
    known = [(index[a.lower()], index[b.lower()], s) for a, b, s in pairs if a.lower() in index and b.lower() in index]
    oov_rate = 1.0 - len(known) / len(pairs)
    if len(known) < 3:
        return PairResult(float("nan"), float("nan"), len(known), oov_rate)
    unit = wv.unit_vectors()
    i, j, gold = (np.array(col) for col in zip(*known))
    cosines = (unit[i] * unit[j]).sum(axis=1)
    return PairResult(float(spearmanr(cosines, gold)[0]), float(pearsonr(cosines, gold)[0]), len(known), oov_rate)


def nearest_neighbours(wv: WordVectors, words: Sequence[str], topn: int = 5) -> dict[str, list[str]]:
    """The ``topn`` nearest words (cosine) of each query word that has a vector.

    Example:
        >>> wv = WordVectors(["a", "b", "c"], np.array([[1.0, 0], [0.9, 0.1], [0, 1]]))
        >>> nearest_neighbours(wv, ["a", "zzz"], topn=1)
        {'a': ['b']}
    """
    if isinstance(words, str):
        raise TypeError(f"nearest_neighbours() takes a list of query words, got the string {words!r}; pass [{words!r}]")
    return {w: [n for n, _ in wv.most_similar(w, topn)] for w in words if w in wv}


def pca_2d(wv: WordVectors, words: Sequence[str]) -> np.ndarray:
    """Project the vectors of ``words`` on their first two principal components.

    Arguments:
        wv: the vectors.
        words: the words to place (all must have vectors; at least 2).

    Returns:
        ``(len(words), 2)`` coordinates.

    Example:
        >>> wv = WordVectors(["a", "b", "c"], np.array([[0.0, 0, 1], [2, 0, 1], [4, 0, 1.1]]))
        >>> pca_2d(wv, ["a", "b", "c"]).shape
        (3, 2)
    """
    if isinstance(words, str):
        raise TypeError(f"pca_2d() takes a list of words, got the string {words!r}")
    if len(words) < 2:
        raise ValueError("pca_2d() needs at least two words")
    x = wv.restrict(list(words)).vectors.astype(np.float64)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T


def random_like(wv: WordVectors, seed: int = 0) -> WordVectors:
    """Gaussian random vectors for the same words (same order, dimension and standard deviation): the floor to beat.

    The per-coordinate standard deviation matches ``wv``'s, so a model that starts from these
    rows starts at the same scale as one that starts from ``wv``.

    Example:
        >>> wv = WordVectors(["a", "b"], np.ones((2, 3)))
        >>> r = random_like(wv); r.words == wv.words and r.vectors.shape == (2, 3)
        True
    """
    rng = np.random.default_rng(seed)
    return WordVectors(wv.words, rng.normal(0.0, float(wv.vectors.std()), wv.vectors.shape).astype(np.float32))


def evaluate_all(
    wv: WordVectors,
    analogies: str | os.PathLike[str] | Sequence[tuple[str, str, str, str, str]] | None = None,
    word_pairs: dict[str, Iterable[tuple[str, str, float]]] | None = None,
    restrict_vocab: int = DEFAULT_RESTRICT_VOCAB,
) -> dict[str, float]:
    """The whole protocol in one dict: analogy accuracy (all / semantic / syntactic / OOV) and each benchmark's rho and OOV.

    Arguments:
        wv: the vectors.
        analogies: questions (default: Google's, from :func:`tlnlp.data.google_analogies_path`).
        word_pairs: name -> pairs (default: ``ws353`` and ``simlex`` from :func:`tlnlp.data.load_word_similarity`).
        restrict_vocab: for the analogies.

    Returns:
        ``{"analogy", "analogy_semantic", "analogy_syntactic", "analogy_oov", "<name>", "<name>_oov", ...}``.

    Example:
        >>> scores = evaluate_all(wv)  # doctest: +SKIP
        >>> sorted(scores)  # doctest: +SKIP
        ['analogy', 'analogy_oov', 'analogy_semantic', 'analogy_syntactic', 'simlex', 'simlex_oov', 'ws353', 'ws353_oov']
    """
    if analogies is None or word_pairs is None:
        from tlnlp.data import google_analogies_path, load_word_similarity

        analogies = google_analogies_path() if analogies is None else analogies
        if word_pairs is None:
            word_pairs = {"ws353": load_word_similarity("wordsim353"), "simlex": load_word_similarity("simlex999")}
    a = evaluate_analogies(wv, analogies, restrict_vocab)
    scores = {
        "analogy": a.accuracy,
        "analogy_semantic": a.split_accuracy(syntactic=False),
        "analogy_syntactic": a.split_accuracy(syntactic=True),
        "analogy_oov": a.oov_rate,
    }
    for name, pairs in word_pairs.items():
        r = evaluate_word_pairs(wv, pairs)
        scores[name], scores[f"{name}_oov"] = r.spearman, r.oov_rate
    return scores
