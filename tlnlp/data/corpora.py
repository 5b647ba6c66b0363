"""Raw-text corpora for language modelling: WikiText-2, tinyshakespeare and text8.

>>> text = load_tinyshakespeare()
>>> len(text), text[:14]
(1115394, 'First Citizen:')
"""

from __future__ import annotations

import zipfile

from .choices import check_choice
from .resolve import dataset_file

WIKITEXT2_SPLITS: tuple[str, ...] = ("valid", "test", "train")
"""WikiText-2's splits; ``train`` is online only (the mirror has ``valid`` and ``test``)."""


def load_wikitext2(split: str) -> str:
    """One split of WikiText-2 as a single string (one paragraph per line, `` = Title = `` headings).

    Arguments:
        split: ``"valid"`` or ``"test"`` (in the mirror) or ``"train"`` (downloaded on first
            use; no checksum is known for it, only its first line).

    Example:
        >>> load_wikitext2("valid").splitlines()[1]
        ' = Homarus gammarus = '
    """
    check_choice(split, WIKITEXT2_SPLITS, "WikiText-2 split")
    return dataset_file("wikitext2", f"{split}.txt").read_text(encoding="utf-8")


def load_tinyshakespeare() -> str:
    """The tinyshakespeare corpus (1,115,394 characters), nanoGPT's character-level example.

    Example:
        >>> sorted(set(load_tinyshakespeare()))[:3]
        ['\\n', ' ', '!']
    """
    return dataset_file("tinyshakespeare", "input.txt").read_text(encoding="utf-8")


def load_text8() -> str:
    """text8 (10^8 characters of lowercased Wikipedia, ~17 M words), read from ``text8.zip``.

    The zip (31 MB) is online only: it is downloaded into the cache on first use and checked
    by its size, since no sha256 is known here.

    Example:
        >>> load_text8()[:20]  # doctest: +SKIP
        ' anarchism originate'
    """
    with zipfile.ZipFile(dataset_file("text8", "text8.zip")) as archive:
        return archive.read("text8").decode("utf-8")
