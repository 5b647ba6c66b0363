"""Downloading one registered file: streamed, checked, written atomically.

The bytes go to a temporary file next to the target, are counted and hashed on the
way, and the file is renamed into place only if everything the registry knows about
it (size, sha256, first bytes) matches. On any failure nothing is left behind.

>>> from tlnlp.data.registry import get_dataset
>>> spec = get_dataset("sst2").file("dev.tsv")
>>> fetch(spec, "/tmp/sst2/dev.tsv")  # doctest: +SKIP
PosixPath('/tmp/sst2/dev.tsv')
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from .. import __version__
from ..cache import atomic_path
from .checksums import check_file
from .registry import FileSpec

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for the server to connect or to send the next chunk."""

_CHUNK = 1 << 20
_USER_AGENT = f"tlnlp/{__version__} (Python urllib)"


class DownloadError(RuntimeError):
    """The file could not be requested: no URL, no connection, an HTTP error or a timeout."""


class IncompleteDownloadError(RuntimeError):
    """The transfer ended before all the announced bytes arrived; nothing was saved."""


def fetch(spec: FileSpec, target: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Download ``spec.url`` to ``target``, checking it against ``spec``.

    Arguments:
        spec: the registry entry of the file (URL, and what is known: size, sha256, first bytes).
        target: where the verified file ends up; its folder is created.
        timeout: seconds to wait for the connection and for each chunk.

    Returns:
        ``target`` as a :class:`~pathlib.Path`.

    Raises:
        DownloadError: the request failed (no URL, unreachable host, HTTP error, timeout).
        IncompleteDownloadError: fewer bytes arrived than the server announced.
        ChecksumError: the bytes differ from the registry entry (size, sha256 or first bytes).

    Example:
        >>> fetch(FileSpec("x.txt", None), "/tmp/x.txt")
        Traceback (most recent call last):
        ...
        tlnlp.data.download.DownloadError: 'x.txt' has no download URL in the registry
    """
    target = Path(target)
    if spec.url is None:
        raise DownloadError(f"{spec.relpath!r} has no download URL in the registry")
    request = urllib.request.Request(spec.url, headers={"User-Agent": _USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except (OSError, http.client.HTTPException) as err:  # URLError and timeouts are OSErrors
        reason = err if isinstance(err, urllib.error.HTTPError) else getattr(err, "reason", err)
        raise DownloadError(f"could not download {spec.url}: {reason}") from err
    discarded = f"The download from {spec.url} was discarded; nothing was saved."
    with response, atomic_path(target) as tmp:
        length = response.headers.get("Content-Length", "")
        announced = int(length) if length.isdigit() else None
        digest, received = _stream(response, tmp, spec, total=spec.size or announced)
        if announced is not None and received != announced:
            raise IncompleteDownloadError(
                f"incomplete download of {spec.url}: received {received:,} of the {announced:,} bytes "
                f"the server announced. {discarded} Try again."
            )
        check_file(tmp, spec, sha256=digest, name=f"the file downloaded from {spec.url}", advice=discarded)
    return target


def _stream(response: http.client.HTTPResponse, tmp: Path, spec: FileSpec, total: int | None) -> tuple[str, int]:
    """Copy the response body to ``tmp`` in chunks with a progress bar; return (sha256, bytes)."""
    digest = hashlib.sha256()
    received = 0
    with open(tmp, "wb") as out, tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=spec.relpath, leave=False
    ) as bar:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (OSError, http.client.HTTPException) as err:
                raise IncompleteDownloadError(
                    f"download of {spec.url} broke off after {received:,} bytes ({err!r}); nothing was saved"
                ) from err
            if not chunk:
                return digest.hexdigest(), received
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
