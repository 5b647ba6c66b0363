"""Keeping secrets out of messages: every URL tlnlp prints goes through :func:`redact_url`.

A registry entry or a mirror URL may carry credentials, as a password in the userinfo
(``https://user:password@host/...``) or as a query parameter (``?token=...``, a signed
S3 link's ``X-Amz-Signature=...``). Error messages, warnings and log lines show such a URL
with the secret replaced by ``***``.

>>> redact_url("https://me:hunter2@example.org/a.txt?token=abc&v=2")
'https://me:***@example.org/a.txt?token=***&v=2'
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

__all__ = ["redact_url", "scrub", "url_secrets"]

MASK = "***"
"""What a secret is replaced with."""

_SECRET_PARAM = re.compile(
    r"(token|key|secret|signature|sig|password|passwd|pwd|auth|credential|session)", re.IGNORECASE
)
"""A query parameter whose name contains one of these words holds a secret
(``access_token``, ``api_key``, ``X-Amz-Signature``, ``X-Amz-Credential``, ``sig``...)."""


def _secret_param(name: str) -> bool:
    return bool(_SECRET_PARAM.search(name))


def redact_url(url: str | None) -> str:
    """``url`` with the password of its userinfo and the values of secret-looking query
    parameters replaced by ``***`` (everything else unchanged, for a readable message).

    Arguments:
        url: any URL (or ``None``, shown as ``"None"``).

    Example:
        >>> redact_url("https://s3.example.org/f.zip?X-Amz-Signature=ab12&X-Amz-Expires=60")
        'https://s3.example.org/f.zip?X-Amz-Signature=***&X-Amz-Expires=60'
        >>> redact_url("http://127.0.0.1:8000/a.tsv")
        'http://127.0.0.1:8000/a.tsv'
    """
    if url is None:
        return "None"
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 literal: hide everything after the scheme
        return url.split(":", 1)[0] + ":" + MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
    query = parts.query
    if query:
        pieces = []
        for piece in query.split("&"):
            name, eq, value = piece.partition("=")
            pieces.append(f"{name}={MASK}" if eq and value and _secret_param(unquote(name)) else piece)
        query = "&".join(pieces)
    fragment = parts.fragment
    if fragment and any(_secret_param(name) for name, _ in parse_qsl(fragment)):
        fragment = MASK
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def url_secrets(url: str | None) -> list[str]:
    """The secret strings :func:`redact_url` hides in ``url`` (raw and percent-decoded).

    Example:
        >>> url_secrets("https://me:pw@h/x?sig=s1&n=1")
        ['pw', 's1']
    """
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        found.append(userinfo.split(":", 1)[1] if ":" in userinfo else userinfo)
    for piece in parts.query.split("&") if parts.query else ():
        name, eq, value = piece.partition("=")
        if eq and value and _secret_param(unquote(name)):
            found.append(value)
    for name, value in parse_qsl(parts.fragment):
        if value and _secret_param(name):
            found.append(value)
    decoded = [unquote(s) for s in found if unquote(s) != s]
    return [s for s in dict.fromkeys(found + decoded) if s]


def scrub(text: str, url: str | None) -> str:
    """``text`` (e.g. a library's error message) with ``url`` and its secrets (of 4 characters
    or more) masked.

    Example:
        >>> scrub("cannot resolve host 'me:pw@h'", "https://me:pw@h/x")
        "cannot resolve host 'me:***@h'"
    """
    if not url:
        return text
    text = text.replace(url, redact_url(url))
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    if "@" in netloc:  # e.g. a resolver's message quoting the host part
        text = text.replace(netloc, urlsplit(redact_url(url)).netloc)
    for secret in sorted(url_secrets(url), key=len, reverse=True):
        if len(secret) >= 4:  # shorter ones would mangle ordinary words (and protect nothing)
            text = text.replace(secret, MASK)
    return text
