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

import base64
import hashlib
import http.client
import math
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from tqdm import tqdm

from .. import __version__
from ..cache import atomic_path
from .checksums import check_file
from .registry import FileSpec
from .urls import redact_url, scrub, url_secrets

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for the server to connect or to send the next chunk."""

DEFAULT_DEADLINE = 900.0
"""Seconds one download may take in all (15 minutes: text8's 31 MB at 35 kB/s)."""

DEADLINE_ENV = "TLNLP_DOWNLOAD_DEADLINE"
"""Environment variable overriding :data:`DEFAULT_DEADLINE`, in seconds (e.g. ``3600``)."""

_CHUNK = 1 << 20
_USER_AGENT = f"tlnlp/{__version__} (Python urllib)"


class DownloadError(RuntimeError):
    """The file could not be requested: no URL, no connection, an HTTP error or a timeout."""


class IncompleteDownloadError(RuntimeError):
    """The transfer ended before all the announced bytes arrived; nothing was saved."""


class DownloadDeadlineError(IncompleteDownloadError):
    """The transfer took longer than its overall deadline (``$TLNLP_DOWNLOAD_DEADLINE``); nothing was saved."""


def download_deadline(deadline: float | None = None) -> float:
    """The overall time limit of one download, in seconds.

    Arguments:
        deadline: an explicit limit; default ``$TLNLP_DOWNLOAD_DEADLINE``, else
            :data:`DEFAULT_DEADLINE`.

    Raises:
        ValueError: the limit is not a positive number of seconds; the message names the
            variable and the value.

    Example:
        >>> download_deadline(5)
        5.0
    """
    if deadline is None:
        raw = os.environ.get(DEADLINE_ENV, "").strip()
        if not raw:
            return DEFAULT_DEADLINE
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ValueError(
                f"${DEADLINE_ENV}={raw!r} is not a positive number of seconds: set it to e.g. 3600, "
                f"or unset it for the default of {DEFAULT_DEADLINE:.0f} s"
            )
        return value
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)) or not (
        math.isfinite(deadline) and deadline > 0
    ):
        raise ValueError(f"deadline must be a positive number of seconds, got {deadline!r}")
    return float(deadline)


def _request(url: str) -> urllib.request.Request:
    """A GET request for ``url``; credentials in its userinfo become a Basic Authorization header
    (urllib would otherwise take ``user:password@host`` for a host name and look it up)."""
    headers = {"User-Agent": _USER_AGENT}
    parts = urlsplit(url)
    if "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        user, _, password = userinfo.partition(":")
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
        url = urlunsplit(parts._replace(netloc=host))
    return urllib.request.Request(url, headers=headers)


def fetch(
    spec: FileSpec,
    target: str | os.PathLike[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    deadline: float | None = None,
) -> Path:
    """Download ``spec.url`` to ``target``, checking it against ``spec``.

    Messages show the URL with any password or token masked (:func:`~tlnlp.data.urls.redact_url`);
    ``user:password@`` in the URL is sent as HTTP Basic authentication.

    Arguments:
        spec: the registry entry of the file (URL, and what is known: size, sha256, first bytes).
        target: where the verified file ends up; its folder is created.
        timeout: seconds to wait for the connection and for each chunk.
        deadline: seconds the whole download may take; default ``$TLNLP_DOWNLOAD_DEADLINE``
            or :data:`DEFAULT_DEADLINE` (15 minutes). A server that trickles bytes is cut off
            at the first chunk after the deadline.

    Returns:
        ``target`` as a :class:`~pathlib.Path`.

    Raises:
        DownloadError: the request failed (no URL, unreachable host, HTTP error, timeout).
        IncompleteDownloadError: fewer bytes arrived than the server announced.
        DownloadDeadlineError: the download took longer than ``deadline``.
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
    limit = download_deadline(deadline)
    shown = redact_url(spec.url)
    started = time.monotonic()
    try:
        response = urllib.request.urlopen(_request(spec.url), timeout=min(timeout, limit))
    except (OSError, http.client.HTTPException, ValueError) as err:  # URLError and timeouts are OSErrors
        reason = err if isinstance(err, urllib.error.HTTPError) else getattr(err, "reason", err)
        message = f"could not download {shown}: {scrub(str(reason), spec.url)}"
        if url_secrets(spec.url):  # the original error (its url, its traceback) may quote the secret
            raise DownloadError(message) from None
        raise DownloadError(message) from err
    discarded = f"The download from {shown} was discarded; nothing was saved."
    with response, atomic_path(target) as tmp:
        length = response.headers.get("Content-Length", "")
        announced = int(length) if length.isdigit() else None
        digest, received = _stream(response, tmp, spec, total=spec.size or announced, started=started, limit=limit)
        if announced is not None and received != announced:
            raise IncompleteDownloadError(
                f"incomplete download of {shown}: received {received:,} of the {announced:,} bytes "
                f"the server announced. {discarded} Try again."
            )
        check_file(tmp, spec, sha256=digest, name=f"the file downloaded from {shown}", advice=discarded)
    return target


def _stream(
    response: http.client.HTTPResponse, tmp: Path, spec: FileSpec, total: int | None, started: float, limit: float
) -> tuple[str, int]:
    """Copy the response body to ``tmp`` in chunks with a progress bar; return (sha256, bytes).

    ``read1`` returns what has arrived instead of waiting for a full chunk, so the deadline
    (``limit`` seconds after ``started``, a :func:`time.monotonic` time) is checked however
    slowly the bytes come.
    """
    digest = hashlib.sha256()
    received = 0
    shown = redact_url(spec.url)
    with open(tmp, "wb") as out, tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=spec.relpath, leave=False
    ) as bar:
        while True:
            if time.monotonic() - started > limit:
                raise DownloadDeadlineError(
                    f"download of {shown} did not finish within its deadline of "
                    f"{limit:g} s ({received:,} bytes received"
                    f"{f' of {total:,}' if total else ''}); nothing was saved. A slow connection? Raise the limit "
                    f"with `export {DEADLINE_ENV}=3600` (seconds) or fetch(..., deadline=...), then try again."
                )
            try:
                chunk = response.read1(_CHUNK)
            except (OSError, http.client.HTTPException) as err:
                raise IncompleteDownloadError(
                    f"download of {shown} broke off after {received:,} bytes "
                    f"({scrub(repr(err), spec.url)}); nothing was saved"
                ) from None
            if not chunk:
                return digest.hexdigest(), received
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
