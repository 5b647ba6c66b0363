"""Word tokenisation: the one rule that turns a text into the words every word-level model of the book sees.

Introduced in chapter 2 (word vectors); chapter 3's language model reads the same words.

>>> simple_tokenize("Don't PANIC -- it's 42!")
["don't", 'panic', "it's", '42']
"""

from __future__ import annotations

import re

__all__ = ["simple_tokenize"]

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def simple_tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Words and numbers of ``text`` (runs of letters/digits, inner apostrophes kept; punctuation dropped).

    Arguments:
        text: any string.
        lowercase: lower-case it first (the book's corpora and tasks are all lower-cased).

    Example:
        >>> simple_tokenize("It's a 10/10 film -- Great!")
        ["it's", 'a', '10', '10', 'film', 'great']
    """
    if not isinstance(text, str):
        raise TypeError(
            f"simple_tokenize() takes one string, got {type(text).__name__}"
            + ("; tokenise each text: [simple_tokenize(t) for t in texts]" if isinstance(text, (list, tuple)) else "")
            + ("; decode bytes first: data.decode('utf-8')" if isinstance(text, bytes) else "")
            + ("; drop or fill missing texts first" if text is None or isinstance(text, float) else "")
        )
    return _TOKEN.findall(text.lower() if lowercase else text)
