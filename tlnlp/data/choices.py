"""Checking a user's choice (a split, a domain) against the valid ones, with a suggestion.

>>> check_choice("dev", ("train", "dev", "test"), "SST-2 split")
'dev'
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(value: str, choices: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` for the closest of ``choices`` (difflib), or ``""``.

    Example:
        >>> closest("sst", ["sst2", "wnut17"])
        " Did you mean 'sst2'?"
        >>> closest("SST2", ["sst2", "wnut17"])
        " Did you mean 'sst2'?"
    """
    choices = [str(c) for c in choices]
    same_but_case = [c for c in choices if c.lower() == str(value).lower()]
    match = same_but_case or difflib.get_close_matches(str(value), choices, n=1, cutoff=0.5)
    return f" Did you mean {match[0]!r}?" if match else ""


def check_choice(value: str, choices: Iterable[str], what: str) -> str:
    """Return ``value`` if it is one of ``choices``, else raise a :class:`ValueError` listing them.

    Example:
        >>> check_choice("valid", ("train", "validation"), "split")
        Traceback (most recent call last):
        ...
        ValueError: unknown split 'valid'; valid choices are: train, validation. Did you mean 'validation'?
    """
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(
            f"unknown {what} {value!r}; valid choices are: {', '.join(map(str, choices))}." + closest(value, choices)
        )
    return value
