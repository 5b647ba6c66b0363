"""Atomic writes and load-or-compute caching.

Nothing tlnlp writes is ever half-written: files are written to a temporary
name in the same directory and renamed into place, which is atomic on POSIX.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_path(d / "x.txt") as tmp:
...     _ = tmp.write_text("hello")
>>> (d / "x.txt").read_text()
'hello'
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from .config import cache_dir

T = TypeVar("T")


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    If the body raises, the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def config_key(config: Any) -> str:
    """A short stable hash of a JSON-serialisable config (dataclasses via ``vars``).

    Example:
        >>> config_key({"a": 1}) == config_key({"a": 1})
        True
    """
    if hasattr(config, "__dataclass_fields__"):
        config = vars(config)
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def load_or_compute(
    name: str,
    config: Any,
    compute: Callable[[], T],
    save: Callable[[T, Path], None],
    load: Callable[[Path], T],
    suffix: str = ".pt",
) -> T:
    """Return ``load(path)`` if a result for ``(name, config)`` is cached, else compute and cache it.

    The cache file lives under ``cache_dir("artifacts")`` and is keyed by a hash of
    ``config``, so changing any setting retrains instead of reusing stale weights.

    Arguments:
        name: a readable prefix for the file, e.g. ``"mini-gpt"``.
        config: everything the result depends on (JSON-serialisable).
        compute: builds the result when it is not cached.
        save: writes a result to a path (called on a temporary path, then renamed).
        load: reads a result back.
    """
    path = cache_dir("artifacts") / f"{name}-{config_key(config)}{suffix}"
    if path.exists():
        return load(path)
    result = compute()
    with atomic_path(path) as tmp:
        save(result, tmp)
    return result
