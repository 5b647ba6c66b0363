"""Reading text files as UTF-8, with an error that names the file and the place when they are not.

A ``UnicodeDecodeError`` alone says neither which file nor which line; :func:`read_text` and
:func:`utf8_errors` turn it into a :class:`FileEncodingError` that gives the path, the line
and the byte offset of the first bad byte, and the fix.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "latin1.txt"
>>> _ = p.write_bytes("ok\\ncaf\\xe9\\n".encode("latin-1"))
>>> read_text(p)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tlnlp.data.textfiles.FileEncodingError: .../latin1.txt is not valid UTF-8: line 2, column 4 (byte offset 6: 0xe9 ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["FileEncodingError", "read_text", "utf8_errors"]


class FileEncodingError(ValueError):
    """A file that should be UTF-8 text is not; the message names the file, the line and the byte."""


def _where(path: Path) -> tuple[int, int, int, bytes] | None:
    """(line, column, byte offset, bad bytes) of the first invalid UTF-8 sequence in ``path``."""
    try:
        data = path.read_bytes()
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        line_start = data.rfind(b"\n", 0, err.start) + 1
        column = len(data[line_start : err.start].decode("utf-8", errors="replace")) + 1
        return data.count(b"\n", 0, err.start) + 1, column, err.start, data[err.start : err.end]
    except OSError:
        return None
    return None


def encoding_error(path: str | os.PathLike[str], err: UnicodeDecodeError, fix: str = "") -> FileEncodingError:
    """A :class:`FileEncodingError` for ``err`` raised while reading ``path`` as UTF-8."""
    path = Path(path)
    found = _where(path)
    where = (
        f"line {found[0]}, column {found[1]} (byte offset {found[2]:,}: "
        f"{' '.join(f'0x{b:02x}' for b in found[3])} is not UTF-8)"
        if found
        else f"{err.reason} at byte {err.start:,} of a chunk"
    )
    fix = fix or (
        "re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`); if it is a registered dataset file, "
        "delete it so that a good copy is used"
    )
    return FileEncodingError(f"{path} is not valid UTF-8: {where}. Expected UTF-8 text: {fix}.")


@contextmanager
def utf8_errors(path: str | os.PathLike[str], fix: str = "") -> Iterator[None]:
    """Turn a ``UnicodeDecodeError`` raised in the body into a :class:`FileEncodingError` naming ``path``.

    Example:
        >>> with utf8_errors("x.txt"):
        ...     _ = b"ok".decode("utf-8")
    """
    try:
        yield
    except UnicodeDecodeError as err:
        raise encoding_error(path, err, fix) from None


def read_text(path: str | os.PathLike[str]) -> str:
    """The content of a UTF-8 text file.

    Raises:
        FileEncodingError: the file is not valid UTF-8 (the message gives the line and byte).
    """
    with utf8_errors(path):
        return Path(path).read_text(encoding="utf-8")
