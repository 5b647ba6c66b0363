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

import glob
import hashlib
import json
import os
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from .config import CACHE_ENV

T = TypeVar("T")

STALE_PART_SECONDS = 24 * 3600.0
"""A temporary ``.part`` file untouched this long is removed by the next write to its target."""

ORPHAN_PART_SECONDS = 60.0
"""A ``.part`` file of a process that no longer runs is removed once untouched this long."""


class CacheError(RuntimeError):
    """The cache cannot be written, or a result could not be saved to it."""


def cache_location(*parts: str) -> Path:
    """Where ``cache_dir(*parts)`` is, without creating anything (lookups must not write).

    Example:
        >>> cache_location("data", "sst2").parts[-2:]
        ('data', 'sst2')
    """
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tlnlp").expanduser()
    return root.joinpath(*parts)


def ensure_writable_dir(folder: str | os.PathLike[str], what: str = "the tlnlp cache") -> Path:
    """Create ``folder`` if needed and check that files can be written in it.

    Raises:
        CacheError: the folder cannot be created or is not writable; the message names it
            and ``$TLNLP_CACHE``.

    Example:
        >>> import tempfile
        >>> ensure_writable_dir(Path(tempfile.mkdtemp()) / "sub").is_dir()
        True
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise CacheError(
            f"cannot write to {what} at {folder} ({err.strerror or err}): make the folder writable, "
            f"or point ${CACHE_ENV} at a writable folder, e.g. `export {CACHE_ENV}=/tmp/tlnlp-cache`"
        ) from None
    return folder


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # someone else's process, or a platform without signal 0
        return True
    return True


def remove_stale_parts(target: str | os.PathLike[str], now: float | None = None) -> list[Path]:
    """Remove the temporary files that killed writers of ``target`` left behind.

    :func:`atomic_path` names its temporary file ``.<name>.<pid>.<random>.part``. One is stale
    when its process no longer runs and it is untouched for :data:`ORPHAN_PART_SECONDS`, or
    when it is untouched for :data:`STALE_PART_SECONDS` whoever wrote it (the pid may belong
    to another machine sharing the folder). A live writer's file is left alone.

    Returns:
        The files removed.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / ".x.txt.999999999.ab12.part").write_text("half")
        >>> [p.name for p in remove_stale_parts(d / "x.txt", now=time.time() + 120)]
        ['.x.txt.999999999.ab12.part']
    """
    target = Path(target)
    now = time.time() if now is None else now
    removed = []
    try:
        candidates = list(target.parent.glob(f".{glob.escape(target.name)}.*.part"))
    except OSError:
        return []
    for part in candidates:
        try:
            idle = now - part.stat().st_mtime
        except OSError:  # removed meanwhile
            continue
        pid_field = part.name[len(target.name) + 2 :].split(".", 1)[0]
        orphan = pid_field.isdigit() and not _pid_alive(int(pid_field))
        if idle > STALE_PART_SECONDS or (orphan and idle > ORPHAN_PART_SECONDS):
            try:
                part.unlink()
                removed.append(part)
            except OSError:
                pass
    return removed


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    If the body raises, the temporary file is removed and ``target`` is untouched. The
    temporary file is named ``.<name>.<pid>.<random>.part``; ones that killed processes
    left behind are removed first (see :func:`remove_stale_parts`).

    Raises:
        CacheError: the folder of ``target`` cannot be created or written.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(target)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".part", dir=target.parent)
    except OSError as err:
        raise CacheError(
            f"cannot write {target.name} in {target.parent} ({err.strerror or err}): make the folder writable"
            + (f", or point ${CACHE_ENV} at a writable folder" if _under_cache(target) else "")
        ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _under_cache(path: Path) -> bool:
    try:
        path.resolve().relative_to(cache_location().resolve())
    except (ValueError, OSError):
        return False
    return True


def set_aside(path: str | os.PathLike[str], reason: str, then: str = "rebuilding it") -> Path:
    """Rename a bad file to ``<name>.corrupt-<timestamp>`` (kept for inspection) and warn.

    Arguments:
        path: the unusable file.
        reason: what is wrong with it (goes into the warning).
        then: what happens next (goes into the warning).

    Raises:
        CacheError: the file cannot be renamed (a read-only folder); the message says to delete it.

    Example:
        >>> import tempfile
        >>> bad = Path(tempfile.mkdtemp()) / "x.json"; _ = bad.write_text("{")
        >>> with warnings.catch_warnings(record=True):
        ...     warnings.simplefilter("always")
        ...     moved = set_aside(bad, "truncated")
        >>> moved.name.startswith("x.json.corrupt-"), bad.exists()
        (True, False)
    """
    path = Path(path)
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    try:
        os.replace(path, aside)
    except OSError as err:
        raise CacheError(
            f"{path} is unusable ({reason}) and cannot be moved aside ({err.strerror or err}): delete it by hand"
            + (f", or point ${CACHE_ENV} at a writable folder" if _under_cache(path) else "")
        ) from None
    warnings.warn(f"{path} is unusable ({reason}); moved it to {aside.name} and {then}", RuntimeWarning, stacklevel=3)
    return aside


def config_key(config: Any) -> str:
    """A short stable hash of a JSON-serialisable config (dataclasses via ``vars``).

    Values JSON cannot write enter the key as their ``str``; large arrays by their content.

    Raises:
        TypeError: a value whose ``str`` holds a memory address (a function, most objects),
            which would make the key differ in every run.

    Example:
        >>> config_key({"a": 1}) == config_key({"a": 1})
        True
    """
    if hasattr(config, "__dataclass_fields__"):
        config = vars(config)
    blob = json.dumps(config, sort_keys=True, default=_key_part).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _key_part(value: Any) -> Any:
    """How a value JSON cannot write enters a cache key: its ``str``, unless that would be unsafe.

    A ``str`` holding a memory address (``<object at 0x...>``) differs in every run (the cache
    would never be reused); an array's ``str`` elides the middle (``[0 1 ... 9]``), so different
    arrays would share a key and a stale result would be returned. Arrays are keyed by their
    bytes instead; other such objects are refused.
    """
    text = str(value)
    if "..." in text and hasattr(value, "shape") and hasattr(value, "dtype"):
        array = value.detach().cpu().numpy() if hasattr(value, "detach") else value
        import numpy as np

        array = np.ascontiguousarray(array)
        return {"array_sha256": hashlib.sha256(array.tobytes()).hexdigest(), "shape": list(array.shape), "dtype": str(array.dtype)}
    if " at 0x" in text:
        raise TypeError(
            f"a cache key cannot hold {text[:80]!r} ({type(value).__name__}): its text changes every run, so "
            "the cached result would never be found; put a stable description in the config instead (a name, "
            "the settings that matter)"
        )
    return text


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

    A cached file that ``load`` cannot read (truncated, corrupted) is moved aside to
    ``<file>.corrupt-<timestamp>`` with a :class:`RuntimeWarning` naming it, and the result
    is computed again. The cache folder is checked for writing before ``compute`` runs, so a
    read-only cache fails at once, not after the work.

    Arguments:
        name: a readable prefix for the file, e.g. ``"mini-gpt"``.
        config: everything the result depends on (JSON-serialisable).
        compute: builds the result when it is not cached.
        save: writes a result to a path (called on a temporary path, then renamed).
        load: reads a result back.
        suffix: the file's extension.

    Raises:
        CacheError: the cache folder is not writable (it names the folder and ``$TLNLP_CACHE``),
            or ``save`` failed (nothing is left in the cache).

    Example:
        >>> import tempfile
        >>> saved = os.environ.get("TLNLP_CACHE"); os.environ["TLNLP_CACHE"] = tempfile.mkdtemp()
        >>> load_or_compute("doc", {"n": 1}, lambda: "hi", lambda r, p: p.write_text(r), lambda p: p.read_text(), ".txt")
        'hi'
        >>> _ = os.environ.pop("TLNLP_CACHE") if saved is None else os.environ.update(TLNLP_CACHE=saved)
    """
    folder = cache_location("artifacts")
    path = folder / f"{name}-{config_key(config)}{suffix}"
    if path.exists():
        try:
            return load(path)
        except (MemoryError, ImportError):
            raise
        except Exception as err:  # any reader's error: the file is not what save() wrote
            set_aside(path, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'cannot be read'}")
    ensure_writable_dir(folder)
    result = compute()
    try:
        with atomic_path(path) as tmp:
            save(result, tmp)
    except CacheError:
        raise
    except Exception as err:
        raise CacheError(
            f"could not cache the result of {name!r} at {path}: save() raised {type(err).__name__}: {err}. "
            "Nothing was written; make the result saveable (or fix save())."
        ) from err
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
