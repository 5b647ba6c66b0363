"""Raw-text corpora for language modelling: WikiText-2, tinyshakespeare and text8.

>>> text = load_tinyshakespeare()
>>> len(text), text[:14]
(1115394, 'First Citizen:')
"""

from __future__ import annotations

import zipfile

from .checksums import ChecksumError
from .choices import check_choice
from .resolve import dataset_file
from .textfiles import read_text, utf8_errors

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
    return read_text(dataset_file("wikitext2", f"{split}.txt"))


def load_tinyshakespeare() -> str:
    """The tinyshakespeare corpus (1,115,394 characters), nanoGPT's character-level example.

    Example:
        >>> sorted(set(load_tinyshakespeare()))[:3]
        ['\\n', ' ', '!']
    """
    return read_text(dataset_file("tinyshakespeare", "input.txt"))


def load_text8() -> str:
    """text8 (10^8 characters of lowercased Wikipedia, ~17 M words), read from ``text8.zip``.

    The zip (31 MB) is online only: it is downloaded into the cache on first use and checked
    against its published sha256.

    Raises:
        ChecksumError: the zip is not a valid archive holding ``text8`` (its CRC is checked
            while reading); the message names the file and says to delete it.

    Example:
        >>> load_text8()[:20]  # doctest: +SKIP
        ' anarchism originate'
    """
    path = dataset_file("text8", "text8.zip")
    try:
        with zipfile.ZipFile(path) as archive, utf8_errors(path):
            return archive.read("text8").decode("utf-8")
    except (zipfile.BadZipFile, KeyError, EOFError) as err:
        raise ChecksumError(
            f"{path} is not a valid text8 archive ({err}): delete it so that it is downloaded again"
        ) from None
