"""Checking a data file against its registry entry (sha256, size, first bytes).

Hashing a file costs a read, so a successful check is remembered for the rest of the
process, keyed by the file's path, size and modification time: a file that changes
is checked again.

>>> import tempfile, pathlib, hashlib
>>> from tlnlp.data.registry import FileSpec
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
>>> _ = p.write_bytes(b"abc")
>>> verify_file(p, FileSpec("a.txt", sha256=hashlib.sha256(b"abc").hexdigest(), size=3))
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .registry import FileSpec

_CHUNK = 1 << 20
_verified: set[tuple[str, int, int, FileSpec]] = set()


class ChecksumError(ValueError):
    """A file whose size, sha256 or first bytes differ from its registry entry (or that is
    shorter than a complete copy)."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "empty"; _ = p.write_bytes(b"")
        >>> sha256_file(p)[:12]
        'e3b0c44298fc'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(
    path: Path, spec: FileSpec, *, sha256: str | None = None, name: str | None = None, advice: str = ""
) -> None:
    """Raise :class:`ChecksumError` unless ``path`` matches ``spec`` (no caching).

    Arguments:
        path: the file to check.
        spec: its registry entry; only the checks it knows (size, minimum size, first bytes,
            sha256) are made.
        sha256: the file's digest if the caller has already computed it.
        name: how the message names the file (default: its path).
        advice: a sentence appended to the message saying what happened or how to fix it.
    """
    name = name or str(path)
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        raise ChecksumError(
            f"{name} has {size:,} bytes but {spec.relpath!r} should have {spec.size:,} bytes "
            f"(truncated or a different version). {advice}".rstrip()
        )
    if spec.min_size is not None and size < spec.min_size:
        raise ChecksumError(
            f"{name} has {size:,} bytes but a complete {spec.relpath!r} has at least {spec.min_size:,} bytes "
            f"(truncated). {advice}".rstrip()
        )
    if spec.head is not None:
        with open(path, "rb") as stream:
            head = stream.read(len(spec.head))
        if head != spec.head:
            raise ChecksumError(
                f"{name} starts with {head!r} but {spec.relpath!r} should start with {spec.head!r}. {advice}".rstrip()
            )
    if spec.sha256 is not None:
        actual = sha256 or sha256_file(path)
        if actual != spec.sha256:
            raise ChecksumError(
                f"checksum mismatch for {name}: expected sha256 {spec.sha256}, got {actual}. {advice}".rstrip()
            )


def verify_file(path: str | os.PathLike[str], spec: FileSpec, advice: str = "") -> None:
    """Check ``path`` against ``spec`` once per process (until the file changes).

    Raises:
        ChecksumError: the size, first bytes or sha256 differ; the message names the file,
            the expected and the actual values, and ends with ``advice``.
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, spec)
    if key in _verified:
        return
    check_file(path, spec, advice=advice)
    _verified.add(key)
