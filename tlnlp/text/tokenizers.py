"""Tokenizers for the language-model chapters: characters, and byte-level BPE.

Both follow :class:`tlnlp.text.protocol.TextEncoder`: ``encode(text) -> list[int]``,
``decode(ids) -> str``, ``vocab_size`` and ``pack(texts)`` (one 1-D stream for a language
model), so a chapter can swap one for the other. Unknown input: a :class:`CharTokenizer` says
what it does with a character it has not seen (``unknown="error"`` by default, or ``"drop"``);
a :class:`BPETokenizer` works on bytes, so no text is unknown to it.

Introduced in chapter 4.

>>> tok = CharTokenizer.from_text("hello world")
>>> tok.decode(tok.encode("hold")), tok.vocab_size
('hold', 8)
"""

from __future__ import annotations

import hashlib
import operator
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import torch

from ..cache import load_or_compute
from .protocol import UNKNOWN_POLICIES, UnknownPolicy, check_encodable, check_texts, short_repr

__all__ = ["END_OF_TEXT", "BPETokenizer", "CharTokenizer", "UnknownCharacterError", "load_or_train_bpe"]

END_OF_TEXT = "<|endoftext|>"
"""GPT-2's document separator, the one special token of :class:`BPETokenizer`."""


class UnknownCharacterError(KeyError, ValueError):
    """Text holds a character that is not in a :class:`CharTokenizer`'s vocabulary.

    A ``KeyError`` (the protocol's ``unknown="error"``) and, as before, a ``ValueError``.
    """

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


def _ids_in_range(ids: Iterable[int], vocab_size: int, owner: str) -> list[int]:
    """``ids`` as ints, or a ``ValueError`` naming the first one outside ``range(vocab_size)``."""
    try:
        ids = [operator.index(i) for i in ids]
    except TypeError:
        raise TypeError(f"{owner}.decode() takes integer token ids, got {short_repr(ids)}") from None
    bad = next((i for i in ids if not 0 <= i < vocab_size), None)
    if bad is not None:
        raise ValueError(
            f"{owner}.decode(): id {bad} is outside the vocabulary range(0, {vocab_size}); "
            "decode ids made by this very tokenizer (a model with a larger output layer can sample ids beyond it)"
        )
    return ids


def _check_text(text: Any, owner: str) -> None:
    if not isinstance(text, str):
        raise TypeError(
            f"{owner}.encode() takes one string, got {short_repr(text)} ({type(text).__name__})"
            + ("; for several texts use pack() or a loop" if isinstance(text, (list, tuple)) else "")
        )


class CharTokenizer:
    """One token per character, ids in sorted character order (as nanoGPT's Shakespeare).

    Arguments:
        chars: the vocabulary, one string of distinct characters.
        unknown: what :meth:`encode` does with a character not in ``chars``: ``"error"``
            raises :class:`UnknownCharacterError` naming it; ``"drop"`` skips it. (There is no
            unknown-character id, so ``"map"`` is refused.)

    Example:
        >>> tok = CharTokenizer.from_text("abcab")
        >>> tok.encode("cab")
        [2, 0, 1]
        >>> CharTokenizer.from_text("abc", unknown="drop").encode("cZab")
        [2, 0, 1]
    """

    def __init__(self, chars: str, unknown: UnknownPolicy = "error") -> None:
        if not isinstance(chars, str):
            raise TypeError(f"CharTokenizer takes its characters as one string, got {short_repr(chars)}")
        if not chars:
            raise ValueError("CharTokenizer got no characters: build it from non-empty text, CharTokenizer.from_text(text)")
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer needs distinct characters; build it with CharTokenizer.from_text(text)")
        if unknown not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown must be one of {UNKNOWN_POLICIES}, got {unknown!r}")
        if unknown == "map":
            raise ValueError(
                "CharTokenizer has no unknown-character id to map to: use unknown='error' (the default) or "
                "'drop', or build the tokenizer from text that holds every character you will encode"
            )
        self.chars = chars
        self.unknown = unknown
        self._id = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str, unknown: UnknownPolicy = "error") -> "CharTokenizer":
        """The tokenizer whose vocabulary is every character of ``text``."""
        if not isinstance(text, str):
            raise TypeError(
                f"CharTokenizer.from_text() takes one string, got {type(text).__name__}; "
                "for several texts pass ''.join(texts)"
            )
        return cls("".join(sorted(set(text))), unknown=unknown)

    @property
    def vocab_size(self) -> int:
        """Number of characters in the vocabulary."""
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Character ids of ``text``; an unseen character is handled as ``unknown`` says."""
        _check_text(text, "CharTokenizer")
        if self.unknown == "drop":
            return [self._id[c] for c in text if c in self._id]
        try:
            return [self._id[c] for c in text]
        except KeyError as err:
            raise UnknownCharacterError(
                f"character {err.args[0]!r} is not in the vocabulary of {self.vocab_size} characters; "
                "build the tokenizer from text that contains it, or pass unknown='drop'"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of ids."""
        return "".join(self.chars[i] for i in _ids_in_range(ids, self.vocab_size, "CharTokenizer"))

    def pack(self, texts: Sequence[str]) -> torch.Tensor:
        """All ``texts`` end to end as one 1-D ``LongTensor`` (there is no end-of-text character).

        Example:
            >>> CharTokenizer.from_text("ab").pack(["ab", "ba"]).tolist()
            [0, 1, 1, 0]
        """
        texts = check_texts(texts, "CharTokenizer.pack()")
        return torch.tensor([i for text in texts for i in self.encode(text)], dtype=torch.long)


class BPETokenizer:
    """Byte-level BPE (GPT-2's scheme) trained with the ``tokenizers`` library.

    Byte-level means every string can be encoded (no unknown tokens, so no ``unknown=``
    policy is needed): text is first mapped to its UTF-8 bytes, and BPE merges frequent
    adjacent pieces up to ``vocab_size``.

    Arguments:
        tokenizer: a trained ``tokenizers.Tokenizer``.

    Example:
        >>> tok = BPETokenizer.train(["the cat sat on the mat"] * 50, vocab_size=300)
        >>> tok.decode(tok.encode("the mat sat")) == "the mat sat"
        True
    """

    def __init__(self, tokenizer: "object") -> None:
        self.tokenizer = tokenizer

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 4096, min_frequency: int = 2) -> "BPETokenizer":
        """Learn a byte-level BPE vocabulary of (at most) ``vocab_size`` tokens from ``texts``.

        The vocabulary holds the 256 byte symbols, :data:`END_OF_TEXT` and the learned merges.
        """
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        try:
            vocab_size = operator.index(vocab_size)
        except TypeError:
            raise TypeError(f"vocab_size must be an int, got {short_repr(vocab_size)}") from None
        if vocab_size <= 257:
            raise ValueError(f"vocab_size must exceed 257 (256 bytes + {END_OF_TEXT}), got {vocab_size}")
        if isinstance(texts, (str, bytes)):
            raise TypeError("BPETokenizer.train() takes a list of documents, got a single string; pass [text]")
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=[END_OF_TEXT],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        seen = [0]

        def checked() -> Iterator[str]:  # checks each text as the trainer reads it: no copy of the corpus
            for i, text in enumerate(texts):
                if not isinstance(text, str):
                    raise TypeError(
                        f"BPETokenizer.train(): text {i} is {short_repr(text)} ({type(text).__name__}), not a "
                        "string; drop or fill missing texts first"
                    )
                check_encodable([text], f"BPETokenizer.train() (text {i})")
                seen[0] += 1
                yield text

        tokenizer.train_from_iterator(checked(), trainer=trainer)
        if seen[0] == 0:
            raise ValueError("BPETokenizer.train() got no texts; give it the training documents")
        return cls(tokenizer)

    @classmethod
    def load(cls, path: str | Path) -> "BPETokenizer":
        """Read a tokenizer written by :meth:`save`."""
        from tokenizers import Tokenizer

        if not Path(path).is_file():
            raise FileNotFoundError(f"no tokenizer file at {path}; write one with BPETokenizer.save(path) first")
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as err:  # the tokenizers library raises a bare Exception
            raise ValueError(
                f"{path} is not a tokenizer file written by BPETokenizer.save() ({err}); delete it and train again"
            ) from None

    def save(self, path: str | Path) -> None:
        """Write the tokenizer as one JSON file."""
        self.tokenizer.save(str(path))

    @property
    def vocab_size(self) -> int:
        """Number of tokens, the special token included."""
        return self.tokenizer.get_vocab_size()

    @property
    def eot_id(self) -> int:
        """The id of :data:`END_OF_TEXT`."""
        return self.tokenizer.token_to_id(END_OF_TEXT)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``."""
        _check_text(text, "BPETokenizer")
        try:
            return self.tokenizer.encode(text).ids
        except TypeError:
            check_encodable([text], "BPETokenizer.encode()")
            raise

    def decode(self, ids: Iterable[int]) -> str:
        """The text of a sequence of ids (the special token is dropped)."""
        return self.tokenizer.decode(_ids_in_range(ids, self.vocab_size, "BPETokenizer"))

    def pack(self, texts: Sequence[str]) -> torch.Tensor:
        """Encode documents into one 1-D token tensor, each followed by :data:`END_OF_TEXT`.

        This is how GPT-2 packs a corpus: documents end to end, separated by the special
        token, so a training block may span a document boundary and learns where texts end.

        Example:
            >>> tok = BPETokenizer.train(["a b", "b a"] * 20, vocab_size=260)
            >>> ids = tok.pack(["a b", "b a"])
            >>> (ids == tok.eot_id).sum().item()
            2
        """
        texts = check_texts(texts, "BPETokenizer.pack()")
        eot = self.eot_id
        ids: list[int] = []
        try:
            encoded = self.tokenizer.encode_batch(texts)
        except TypeError:
            check_encodable(texts, "BPETokenizer.pack()")
            raise
        for enc in encoded:
            ids.extend(enc.ids)
            ids.append(eot)
        return torch.tensor(ids, dtype=torch.long)


def load_or_train_bpe(
    texts: Sequence[str], vocab_size: int = 4096, min_frequency: int = 2, name: str = "bpe"
) -> BPETokenizer:
    """A :class:`BPETokenizer` trained on ``texts``, cached on disk (written atomically).

    The cache key holds the settings and a hash of the texts, so other texts or sizes train
    a new tokenizer instead of reusing a stale one.

    A cached file that cannot be read (e.g. truncated) is moved aside with a warning and the
    tokenizer trained again (see :func:`tlnlp.cache.load_or_compute`).

    Arguments:
        texts: the training documents (a list; any iterable is read once into a list).
        vocab_size: size of the vocabulary.
        min_frequency: a pair must occur this often to be merged.
        name: a readable prefix for the cache file.

    Raises:
        TypeError: ``texts`` is one string (pass ``[text]``).
        ValueError: ``texts`` is empty.

    Example:
        >>> tok = load_or_train_bpe(["a tiny corpus"] * 10, vocab_size=300)  # doctest: +SKIP
    """
    if isinstance(texts, str):
        raise TypeError("load_or_train_bpe() takes a list of documents; for one text, pass [text]")
    if not isinstance(texts, Sequence):
        texts = list(texts)  # a generator would be used up by the hash below and train on nothing
    if not texts:
        raise ValueError("load_or_train_bpe() got no texts: pass the training documents")
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    key = {"vocab_size": vocab_size, "min_frequency": min_frequency, "texts": digest.hexdigest(), "kind": "bytelevel-bpe-v1"}
    return load_or_compute(
        name,
        key,
        compute=lambda: BPETokenizer.train(texts, vocab_size=vocab_size, min_frequency=min_frequency),
        save=lambda tok, path: tok.save(path),
        load=BPETokenizer.load,
        suffix=".json",
    )
