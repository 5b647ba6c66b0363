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


CHECKPOINT_FORMAT = "tlnlp-checkpoint-1"
"""The ``format`` entry of every checkpoint :func:`save_checkpoint` writes."""


class CheckpointError(ValueError):
    """A checkpoint file is not one :func:`save_checkpoint` wrote, or does not fit the model."""


def save_checkpoint(model: Any, path: str | os.PathLike[str], *, config: Any, extra: Any = None) -> None:
    """Write a model's weights, its config and any JSON-able extras to one safetensors file, atomically.

    The one checkpoint format of tlnlp's own models: the weights are a safetensors file (no
    pickled code; tied weights stored once), and the file's metadata holds ``config`` (what
    rebuilds the architecture) and ``extra`` (a training history, a vocabulary...) as JSON.

    Arguments:
        model: a ``torch.nn.Module``.
        path: the file to write (``.safetensors`` by convention).
        config: JSON-serialisable (a dataclass is written as its fields).
        extra: JSON-serialisable, or None.

    Example:
        >>> import tempfile, torch
        >>> path = Path(tempfile.mkdtemp()) / "m.safetensors"
        >>> save_checkpoint(torch.nn.Linear(2, 1), path, config={"in": 2}, extra={"epochs": 3})
        >>> model, config, extra = load_checkpoint(path, lambda c: torch.nn.Linear(c["in"], 1))
        >>> config, extra, model.weight.shape
        ({'in': 2}, {'epochs': 3}, torch.Size([1, 2]))
    """
    from dataclasses import asdict, is_dataclass

    from safetensors.torch import save_model

    if is_dataclass(config) and not isinstance(config, type):
        config = asdict(config)
    metadata = {"format": CHECKPOINT_FORMAT, "config": json.dumps(config), "extra": json.dumps(extra)}
    with atomic_path(path) as tmp:
        save_model(model, str(tmp), metadata=metadata)


def read_checkpoint_meta(path: str | os.PathLike[str]) -> tuple[Any, Any]:
    """The ``(config, extra)`` stored in a checkpoint, without reading its weights."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for a foreign file
        raise CheckpointError(f"{path} is not a safetensors checkpoint ({err}); write it with save_checkpoint()") from err
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} was not written by tlnlp.cache.save_checkpoint() (no {CHECKPOINT_FORMAT!r} tag)")
    return json.loads(meta["config"]), json.loads(meta["extra"])


def load_checkpoint(path: str | os.PathLike[str], build: Callable[[Any], Any], device: Any = "cpu") -> tuple[Any, Any, Any]:
    """Rebuild a model from a checkpoint: ``build(config)``, then load every weight strictly.

    Arguments:
        path: a file written by :func:`save_checkpoint`.
        build: makes the (untrained) model from the stored config.
        device: where to load the weights.

    Returns:
        ``(model, config, extra)``.

    Raises:
        CheckpointError: not a tlnlp checkpoint, or a tensor is missing, unexpected or of
            another shape (nothing is left randomly initialised in silence).
    """
    from safetensors.torch import load_model

    config, extra = read_checkpoint_meta(path)
    model = build(config)
    try:
        missing, unexpected = load_model(model, str(path), strict=False, device=str(device))
    except RuntimeError as err:  # shape mismatches
        raise CheckpointError(f"{path} does not fit a {type(model).__name__} built from its config: {err}") from err
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not fit a {type(model).__name__} built from its config: "
            f"missing {sorted(missing)[:10]}, unexpected {sorted(unexpected)[:10]}"
        )
    return model, config, extra
