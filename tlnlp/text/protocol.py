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

from typing import Any, Literal, Protocol, Sequence, runtime_checkable

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
