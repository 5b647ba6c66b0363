"""The one protocol every vocabulary and tokenizer of tlnlp follows.

A :class:`TextEncoder` maps text to ids and back. What happens to input it does not know is
never implicit: each implementation takes ``unknown=`` with one of :data:`UNKNOWN_POLICIES`:

- ``"map"``: an unknown item becomes the unknown id (``<unk>``; needs one in the vocabulary);
- ``"drop"``: unknown items are skipped (word2vec's habit);
- ``"error"``: an unknown item raises ``KeyError`` naming it.

>>> from typing import get_args
>>> get_args(UnknownPolicy) == UNKNOWN_POLICIES
True
"""

from __future__ import annotations

from typing import Any, Iterable, Literal, Protocol, Sequence, runtime_checkable

__all__ = ["TextEncoder", "UnknownPolicy", "UNKNOWN_POLICIES"]

UnknownPolicy = Literal["map", "drop", "error"]
UNKNOWN_POLICIES: tuple[str, ...] = ("map", "drop", "error")


@runtime_checkable
class TextEncoder(Protocol):
    """What every vocabulary and tokenizer offers.

    Attributes:
        vocab_size: the number of ids (the rows of an embedding matrix over it).
    """

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: Any) -> list[int]:
        """Ids of one text (a string, or a list of tokens for word vocabularies)."""
        ...

    def decode(self, ids: Sequence[int]) -> Any:
        """The text (or tokens) of a list of ids."""
        ...

    def pack(self, texts: Sequence[Any]) -> Any:
        """All texts as one 1-D ``LongTensor`` stream for a language model, each followed by an
        end-of-text id where the encoder has one."""
        ...


def short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_texts(texts: Any, caller: str) -> list[str]:
    """``texts`` as a list of strings, or an error naming the first item that is not one.

    Where a list of texts enters the library (:func:`tlnlp.text.tokenize`, ``pack``...), so a
    ``None`` or a NaN from a DataFrame is reported by its index, not by a tokenizer's
    ``TextEncodeInput must be Union[...]``.

    Example:
        >>> check_texts(("a", "b"), "tokenize()")
        ['a', 'b']
        >>> check_texts(["a", None], "tokenize()")
        Traceback (most recent call last):
        ...
        TypeError: tokenize(): text 1 is None (NoneType), not a string; drop or fill missing texts first, e.g. df.dropna(subset=["text"]) or df["text"].fillna("")
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{caller} takes a list of texts, got a single {type(texts).__name__}; pass [text] instead")
    try:
        texts = list(texts)
    except TypeError:
        raise TypeError(f"{caller} takes a list of texts, got {type(texts).__name__} {short_repr(texts)}") from None
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"{caller}: text {i} is {short_repr(text)} ({type(text).__name__}), not a string; drop or fill missing "
                'texts first, e.g. df.dropna(subset=["text"]) or df["text"].fillna("")'
            )
    return texts


def check_encodable(texts: Iterable[str], caller: str) -> None:
    """Raise ``ValueError`` naming the first text that cannot be written as UTF-8 (a lone surrogate).

    Called after a tokenizer failed, to say which text it choked on.

    Example:
        >>> check_encodable(["fine", "bad \\udce9"], "tokenize()")
        Traceback (most recent call last):
        ...
        ValueError: tokenize(): text 1 holds '\\udce9' at position 4, which is not valid Unicode (a lone surrogate, usually from reading a file with errors='surrogateescape'); read the file with its real encoding, or clean the text with text.encode('utf-8', 'replace').decode('utf-8')
    """
    for i, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise ValueError(
                f"{caller}: text {i} holds {text[err.start:err.end]!r} at position {err.start}, which is not valid "
                "Unicode (a lone surrogate, usually from reading a file with errors='surrogateescape'); read the "
                "file with its real encoding, or clean the text with text.encode('utf-8', 'replace').decode('utf-8')"
            ) from None
