"""The one word vocabulary: words by frequency, optional specials, an explicit unknown-word policy.

Every word-level model of the book reads text through a :class:`Vocab`: skip-gram and GloVe
(chapter 2; unknown words are dropped, as word2vec does), the bag of embeddings (chapter 2)
and the LSTM language model and classifier (chapter 3; unknown words become ``<unk>``, since a
language model must predict *something* there). It follows :class:`~tlnlp.text.TextEncoder`.

>>> v = build_vocab([["the", "cat"], ["the", "dog"]], min_count=1)
>>> v.words, v.counts.tolist()
(('the', 'cat', 'dog'), [2, 1, 1])
>>> v.encode(["the", "bird", "dog"])   # unknown="drop" by default
[0, 2]
>>> lm_vocab = build_vocab([["the", "cat"]], min_count=1, specials=("<pad>", "<unk>", "<eos>"), unknown="map")
>>> lm_vocab.encode(["the", "bird"]), lm_vocab.pack([["cat"], ["the"]]).tolist()
([3, 1], [4, 2, 3, 2])
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor

from .protocol import UNKNOWN_POLICIES, UnknownPolicy, short_repr

__all__ = ["Vocab", "EncodedCorpus", "EmptyVocabularyError", "build_vocab", "PAD", "UNK", "EOS"]

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
"""The names of the special tokens :class:`Vocab` knows by role (padding, unknown word, end of text)."""


class EmptyVocabularyError(ValueError):
    """No word survived ``min_count``/``max_size`` (or there were no sentences)."""


@dataclass(frozen=True)
class EncodedCorpus:
    """A corpus as one flat array of word ids plus the sentence each token belongs to.

    With ``unknown="drop"`` out-of-vocabulary tokens are removed before encoding, as word2vec
    and GloVe do, so two words separated only by unknown words count as neighbours.

    Attributes:
        ids: ``int64`` word ids, sentence after sentence.
        sentence_ids: ``int64`` array of the same length: the index of each token's sentence.
    """

    ids: np.ndarray
    sentence_ids: np.ndarray

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def _check_tokens(text: object) -> None:
    if isinstance(text, str):
        raise TypeError(
            "a Vocab encodes lists of words, not strings; tokenise first, e.g. tlnlp.text.simple_tokenize(text)"
        )
    if text is None or not hasattr(text, "__iter__"):
        raise TypeError(
            f"a Vocab encodes lists of words, got {short_repr(text)} ({type(text).__name__}); drop missing texts "
            "and tokenise each one, e.g. tlnlp.text.simple_tokenize(text)"
        )


def _check_sentences(sentences: object, caller: str) -> None:
    if isinstance(sentences, str) or (isinstance(sentences, (list, tuple)) and sentences and isinstance(sentences[0], str)):
        raise TypeError(
            f"{caller} takes a list of tokenised sentences (lists of words), got {short_repr(sentences)}; "
            "wrap one sentence in a list: [simple_tokenize(text)]"
        )


@dataclass(frozen=True)
class Vocab:
    """Words with ids: the specials first, then the words (by descending frequency when built).

    Arguments:
        words: every entry, specials included; ``words[i]`` has id ``i``.
        counts: corpus frequency of each entry (0 for specials); ``None`` when unknown.
        specials: the entries of ``words`` that are special tokens (they must come first).
        unknown: what :meth:`encode` does with a word it does not know: ``"map"`` (to
            ``<unk>``, which must be a special), ``"drop"`` or ``"error"``.

    Attributes:
        index: word -> id.

    Example:
        >>> v = Vocab(("<unk>", "a", "b"), specials=("<unk>",), unknown="map")
        >>> v["b"], "c" in v, len(v), v.unk_id, v.encode(["c", "a"])
        (2, False, 3, 0, [0, 1])
    """

    words: tuple[str, ...]
    counts: np.ndarray | None = field(default=None, compare=False)
    specials: tuple[str, ...] = ()
    unknown: UnknownPolicy = "drop"
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("words", "specials"):
            if isinstance(getattr(self, name), str):
                raise TypeError(f"Vocab {name} must be a sequence of strings, got the string {getattr(self, name)!r}")
        words, specials = tuple(self.words), tuple(self.specials)
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "specials", specials)
        if len(words) == len(specials):
            raise EmptyVocabularyError("the vocabulary has no words; lower min_count or give more text")
        if words[: len(specials)] != specials:
            raise ValueError(f"the specials {specials} must be the first entries of words, in that order")
        index = {w: i for i, w in enumerate(words)}
        if len(index) != len(words):
            duplicates = sorted(w for w, n in Counter(words).items() if n > 1)[:5]
            raise ValueError(f"Vocab words must be unique; repeated: {duplicates}")
        if self.counts is not None:
            counts = np.asarray(self.counts, dtype=np.int64)
            if counts.shape != (len(words),):
                raise ValueError(f"Vocab got {len(words)} words but {counts.shape[0]} counts; give one count per word")
            object.__setattr__(self, "counts", counts)
        if self.unknown not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown={self.unknown!r}; choose one of {', '.join(UNKNOWN_POLICIES)}")
        if self.unknown == "map" and UNK not in specials:
            raise ValueError(f"unknown='map' needs {UNK!r} among the specials; add it or use unknown='drop'/'error'")
        object.__setattr__(self, "index", index)

    # -- lookups --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"{word!r} is not in the vocabulary ({len(self)} entries)") from None

    @property
    def vocab_size(self) -> int:
        """Number of ids (the rows of an embedding over this vocabulary)."""
        return len(self.words)

    def _special_id(self, token: str) -> int | None:
        return self.index[token] if token in self.specials else None

    @property
    def pad_id(self) -> int | None:
        """The id of ``<pad>``, or ``None`` without one."""
        return self._special_id(PAD)

    @property
    def unk_id(self) -> int | None:
        """The id of ``<unk>``, or ``None`` without one."""
        return self._special_id(UNK)

    @property
    def eos_id(self) -> int | None:
        """The id of ``<eos>`` (ends each text in :meth:`pack`), or ``None`` without one."""
        return self._special_id(EOS)

    def count(self, word: str) -> int:
        """The corpus count of ``word`` (0 for a word the vocabulary does not have).

        Example:
            >>> v = build_vocab([["a", "b", "a"]], min_count=1)
            >>> v.count("a"), v.count("z")
            (2, 0)
        """
        if self.counts is None:
            raise ValueError("this Vocab has no counts; build it with build_vocab()")
        i = self.index.get(word)
        return 0 if i is None else int(self.counts[i])

    @property
    def total(self) -> int:
        """Number of in-vocabulary tokens in the corpus the counts came from."""
        if self.counts is None:
            raise ValueError("this Vocab has no counts; build it with build_vocab()")
        return int(self.counts.sum())

    # -- the TextEncoder protocol -----------------------------------------------------------
    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of a list of words, unknown words treated by the vocabulary's ``unknown`` policy.

        Raises:
            KeyError: an unknown word with ``unknown="error"``.
            TypeError: a string instead of a list of words.

        Example:
            >>> build_vocab([["a", "b"]], min_count=1, unknown="error").encode(["b", "z"])
            Traceback (most recent call last):
            ...
            KeyError: "'z' is not in the vocabulary (2 entries); build it with more text or choose unknown='map'/'drop'"
        """
        _check_tokens(tokens)
        index = self.index
        if self.unknown == "drop":
            return [index[w] for w in tokens if w in index]
        if self.unknown == "map":
            unk = self.index[UNK]
            return [index.get(w, unk) for w in tokens]
        missing = next((w for w in tokens if w not in index), None)
        if missing is not None:
            raise KeyError(
                f"{missing!r} is not in the vocabulary ({len(self)} entries); "
                "build it with more text or choose unknown='map'/'drop'"
            )
        return [index[w] for w in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The words of a sequence of ids.

        Example:
            >>> build_vocab([["a", "b", "b"]], min_count=1).decode([0, 1])
            ['b', 'a']
        """
        words, n = self.words, len(self.words)
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise ValueError(f"id {i} is outside the vocabulary range(0, {n}); decode ids made by this Vocab")
            out.append(words[i])
        return out

    def pack(self, texts: Iterable[Sequence[str]]) -> Tensor:
        """All texts as one 1-D ``long`` tensor, each followed by ``<eos>`` if the vocabulary has one.

        The input of a language model (:class:`tlnlp.lm.RandomBlocks`).

        Example:
            >>> v = build_vocab([["a", "b"]], min_count=1, specials=(EOS,))
            >>> v.pack([["a"], ["b", "a"]]).tolist()
            [1, 0, 2, 1, 0]
        """
        eos = self.eos_id
        ids: list[int] = []
        for text in texts:
            ids.extend(self.encode(text))
            if eos is not None:
                ids.append(eos)
        return torch.tensor(ids, dtype=torch.long)

    # -- corpora ------------------------------------------------------------------------------
    def encode_corpus(self, sentences: Iterable[Sequence[str]]) -> EncodedCorpus:
        """Tokenised sentences as an :class:`EncodedCorpus` (flat ids + sentence ids), for skip-gram and GloVe.

        Example:
            >>> v = build_vocab([["a", "b", "a"]], min_count=1)
            >>> c = v.encode_corpus([["a", "x"], ["b", "a"]])
            >>> c.ids.tolist(), c.sentence_ids.tolist()
            ([0, 1, 0], [0, 1, 1])
        """
        _check_sentences(sentences, "encode_corpus()")
        ids: list[int] = []
        sent: list[int] = []
        for s, sentence in enumerate(sentences):
            kept = self.encode(sentence)
            ids.extend(kept)
            sent.extend([s] * len(kept))
        return EncodedCorpus(np.asarray(ids, dtype=np.int64), np.asarray(sent, dtype=np.int64))

    def unknown_rate(self, sentences: Iterable[Sequence[str]]) -> float:
        """Share of the tokens of ``sentences`` that are not in the vocabulary.

        Example:
            >>> build_vocab([["a", "b"]], min_count=1).unknown_rate([["a", "c"]])
            0.5
        """
        _check_sentences(sentences, "unknown_rate()")
        tokens = [w for sentence in sentences for w in sentence]
        if not tokens:
            raise ValueError("unknown_rate() got no tokens")
        return sum(w not in self.index for w in tokens) / len(tokens)

    def extend(self, words: Iterable[str], counts: Iterable[int] | None = None) -> Vocab:
        """A new vocabulary with ``words`` appended (those it already has are skipped).

        Existing ids do not change, so a model over this vocabulary can grow rows for the new words.

        Arguments:
            words: the words to add, in order.
            counts: their counts (default 0), when the vocabulary has counts.

        Example:
            >>> build_vocab([["a", "a", "b"]], min_count=1).extend(["c", "a"]).words
            ('a', 'b', 'c')
        """
        if isinstance(words, str):
            raise TypeError(f"extend() takes a list of words, got the string {words!r}; pass [{words!r}]")
        words = list(words)
        given = [0] * len(words) if counts is None else list(counts)
        if len(given) != len(words):
            raise ValueError(f"extend() got {len(words)} words but {len(given)} counts")
        new = [(w, c) for w, c in zip(words, given) if w not in self.index]
        if len({w for w, _ in new}) != len(new):
            raise ValueError("extend() got the same new word twice")
        merged = None
        if self.counts is not None:
            merged = np.concatenate([self.counts, np.asarray([c for _, c in new], dtype=np.int64)])
        return Vocab(self.words + tuple(w for w, _ in new), merged, self.specials, self.unknown)


def build_vocab(
    sentences: Iterable[Sequence[str]],
    min_count: int = 5,
    max_size: int | None = None,
    *,
    specials: Sequence[str] = (),
    unknown: UnknownPolicy = "drop",
) -> Vocab:
    """Count words and keep those seen at least ``min_count`` times, at most ``max_size`` of them.

    Arguments:
        sentences: tokenised sentences (lists of strings).
        min_count: drop words rarer than this (word2vec's and gensim's default is 5).
        max_size: keep only the ``max_size`` most frequent words, specials not counted (``None``: no limit).
        specials: special tokens placed first, e.g. ``("<pad>", "<unk>", "<eos>")`` for a
            language model (a word spelled like a special is not counted twice).
        unknown: the :class:`Vocab`'s policy for unknown words (``"drop"``, ``"map"``, ``"error"``).

    Returns:
        A :class:`Vocab`: the specials, then the words by descending count; ties keep
        first-appearance order.

    Raises:
        EmptyVocabularyError: if no word is left.

    Example:
        >>> build_vocab([["x", "y", "y", "z"]], min_count=1, max_size=2).words
        ('y', 'x')
    """
    if unknown not in UNKNOWN_POLICIES:  # before counting, so a typo is not reported as an empty vocabulary
        raise ValueError(f"unknown={unknown!r}; choose one of {', '.join(UNKNOWN_POLICIES)}")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise ValueError(f"min_count must be an int >= 1, got {min_count!r}")
    if max_size is not None and (not isinstance(max_size, (int, np.integer)) or max_size < 1):
        raise ValueError(f"max_size must be a positive int or None, got {max_size!r}")
    if isinstance(specials, str):
        raise TypeError(f"specials must be a sequence of tokens, got the string {specials!r}; pass ({specials!r},)")
    _check_sentences(sentences, "build_vocab()")
    counter: Counter[str] = Counter()
    for sentence in sentences:
        _check_tokens(sentence)
        counter.update(sentence)
    odd = [w for w in counter if not isinstance(w, str)]  # once per distinct word, not per token
    if odd:
        raise TypeError(
            f"build_vocab(): the word {short_repr(odd[0])} ({type(odd[0]).__name__}) is not a string; "
            "tokenise texts into lists of strings, e.g. with simple_tokenize"
        )
    specials = tuple(specials)
    for token in specials:
        counter.pop(token, None)
    # Counter.most_common is a stable sort, so equal counts keep first-appearance order.
    kept = [(w, c) for w, c in counter.most_common(max_size) if c >= min_count]
    if not kept:
        raise EmptyVocabularyError(
            f"no word occurs at least min_count={min_count} times in {sum(counter.values())} tokens; "
            "lower min_count or give more text"
        )
    words = specials + tuple(w for w, _ in kept)
    counts = np.array([0] * len(specials) + [c for _, c in kept], dtype=np.int64)
    return Vocab(words, counts, specials, unknown)
