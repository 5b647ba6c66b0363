"""Finding a dataset's files: local mirror, then user cache, then download.

For each file the resolution order is:

1. ``$TLNLP_DATA_DIR/<name>/<relpath>`` (a local mirror, checked against the registry; in smoke
   mode only, a file marked as a stand-in by a ``<relpath>.standin`` file beside it is taken
   unchecked, with a warning: ``make smoke-gpu`` serves tiny copies of checksummed datasets so);
2. the user cache ``tlnlp.config.cache_dir("data", name)`` (``$TLNLP_CACHE`` or ``~/.cache/tlnlp``);
3. a download from the registry's URL, checked and written atomically into the cache
   (skipped when ``$TLNLP_OFFLINE=1``);
4. otherwise :class:`DataNotFoundError`, saying what is missing and how to fix it.

>>> dataset_file("sst2", "dev.tsv").name
'dev.tsv'
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..cache import cache_location, ensure_writable_dir, set_aside
from .checksums import ChecksumError, check_file, verify_file
from .download import DownloadError, fetch
from .registry import DatasetSpec, FileSpec, get_dataset
from .urls import redact_url

DATA_DIR_ENV = "TLNLP_DATA_DIR"
"""Environment variable naming a local mirror (one folder per dataset)."""

OFFLINE_ENV = "TLNLP_OFFLINE"
"""Environment variable that disables downloads: ``1``/``true``/``yes``/``on`` (any case) forbid
them, ``0``/``false``/``no``/``off`` or empty allow them; anything else is an error."""

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


class DataNotFoundError(FileNotFoundError):
    """A dataset file is in neither the mirror nor the cache and could not be downloaded."""


def offline() -> bool:
    """True when ``$TLNLP_OFFLINE`` forbids downloads.

    Raises:
        ValueError: the variable holds something other than ``1/true/yes/on`` or
            ``0/false/no/off`` (any case) or nothing; the message names it and the valid values.

    Example:
        >>> saved = os.environ.get("TLNLP_OFFLINE")
        >>> os.environ["TLNLP_OFFLINE"] = "Yes"; offline()
        True
        >>> os.environ["TLNLP_OFFLINE"] = "y"; offline()
        Traceback (most recent call last):
        ...
        ValueError: $TLNLP_OFFLINE='y' is not a valid switch: use 1, true, yes or on to forbid downloads, 0, false, no or off (or unset it) to allow them
        >>> _ = os.environ.pop("TLNLP_OFFLINE") if saved is None else os.environ.update(TLNLP_OFFLINE=saved)
    """
    raw = os.environ.get(OFFLINE_ENV, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"${OFFLINE_ENV}={raw!r} is not a valid switch: use {', '.join(_TRUE[:-1])} or {_TRUE[-1]} to forbid "
        f"downloads, {', '.join(_FALSE[:-2])} or {_FALSE[-2]} (or unset it) to allow them"
    )


def _mirror_root(name: str) -> Path | None:
    root = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(root).expanduser() / name if root else None


STANDIN_SUFFIX = ".standin"
"""A mirror file ``f`` with a file ``f.standin`` beside it is a smoke-run stand-in (see :func:`dataset_file`)."""

_warned_standins: set[Path] = set()


def _smoke_standin(path: Path) -> bool:
    """True when ``path`` is a marked stand-in and smoke mode is on; warns once per file.

    Both are needed: a marker alone (outside ``make smoke-gpu``) changes nothing, so a real
    mirror's checksums are never skipped by accident.
    """
    from ..config import smoke_mode  # config imports nothing of data; imported late to keep layers light

    if not (smoke_mode() and path.with_name(path.name + STANDIN_SUFFIX).is_file()):
        return False
    if path not in _warned_standins:
        _warned_standins.add(path)
        warnings.warn(f"smoke mode: {path} is a stand-in, taken without checking its size or checksum", stacklevel=3)
    return True


def _mirror_advice(file: FileSpec) -> str:
    return (
        f"The local mirror (${DATA_DIR_ENV}) holds a corrupted or different version: restore it "
        f"from {redact_url(file.url) if file.url else 'the dataset homepage'} or unset ${DATA_DIR_ENV}."
    )


def _not_found(spec: DatasetSpec, file: FileSpec, cached: Path, why: str) -> DataNotFoundError:
    mirror = _mirror_root(spec.name)
    if mirror is None:
        looked = f"${DATA_DIR_ENV} is unset"
    elif not mirror.parent.is_dir():
        looked = f"${DATA_DIR_ENV}={mirror.parent} is not a folder"
    else:
        looked = f"{mirror / file.relpath} does not exist"
    source = redact_url(file.url) if file.url else spec.homepage
    return DataNotFoundError(
        f"dataset {spec.name!r}: file {file.relpath!r} is not available ({looked}; not in the cache "
        f"at {cached}; {why}). Download it from {source} into {cached}, or point "
        f"{DATA_DIR_ENV} at a local mirror that holds {spec.name}/{file.relpath}, "
        f"e.g. `export {DATA_DIR_ENV}=/path/to/data`."
    )


def _from_cache(spec: DatasetSpec, file: FileSpec) -> Path:
    """The cached copy of ``file``, downloading it first if needed (steps 2-4).

    Looking does not write (a read-only cache works for files it holds). A cached copy that
    fails its check is moved aside with a warning and downloaded again when downloads are
    allowed; offline, the error says what is wrong and how to fix it.
    """
    cached = cache_location("data", spec.name) / file.relpath
    is_offline = offline()
    if cached.is_file():
        try:
            verify_file(cached, file)
            return cached
        except ChecksumError as err:
            if is_offline or file.url is None:
                how = (f"unset ${OFFLINE_ENV} to download it again" if is_offline
                       else f"restore it from {spec.homepage}")
                raise ChecksumError(f"{err} The cache's copy is damaged: delete {cached} and {how}.") from None
            set_aside(cached, str(err), then=f"downloading it again from {redact_url(file.url)}")
    if is_offline:
        raise _not_found(spec, file, cached, f"downloads are disabled by ${OFFLINE_ENV}: unset it to download")
    if file.url is None:
        raise _not_found(spec, file, cached, "the registry knows no download URL")
    ensure_writable_dir(cached.parent, what=f"the data cache of {spec.name!r}")
    try:
        return fetch(file, cached)
    except DownloadError as err:
        raise _not_found(spec, file, cached, f"the download failed: {err}") from err


def dataset_file(name: str, relpath: str, *, registry: Mapping[str, DatasetSpec] | None = None) -> Path:
    """The path of one registered file, from the mirror, the cache or a download.

    Arguments:
        name: the dataset, e.g. ``"crossner"``.
        relpath: the file inside it, e.g. ``"ai/train.txt"``.
        registry: the registry to use (default :data:`tlnlp.data.registry.REGISTRY`).

    Raises:
        UnknownDatasetError, UnknownFileError: the name or file is not registered.
        ChecksumError: the mirror's copy does not match the registry (the message says how to
            fix it), or, offline, the cache's copy does not (online it is moved aside with a
            warning and downloaded again).
        CacheError: a download is needed but the cache folder is not writable.
        DataNotFoundError: the file is nowhere and cannot be downloaded.

    Example:
        >>> dataset_file("crossner", "ai/train.txt").read_text().split()[:4]
        ['Popular', 'O', 'approaches', 'O']
    """
    spec = get_dataset(name, registry)
    file = spec.file(relpath)
    mirror = _mirror_root(name)
    if mirror is not None and (mirror / relpath).is_file():
        if not _smoke_standin(mirror / relpath):
            verify_file(mirror / relpath, file, advice=_mirror_advice(file))
        return mirror / relpath
    return _from_cache(spec, file)


def dataset_path(
    name: str, files: Sequence[str] | None = None, *, registry: Mapping[str, DatasetSpec] | None = None
) -> Path:
    """A folder that holds ``files`` of dataset ``name`` (the mirror's folder, else the cache's).

    Arguments:
        name: the dataset, e.g. ``"clinc150"``.
        files: the relative paths the folder must hold; default: every file with a known
            checksum (the mirrored ones), or all files if none has one (online-only datasets).
        registry: the registry to use (default :data:`tlnlp.data.registry.REGISTRY`).

    Returns:
        ``$TLNLP_DATA_DIR/<name>`` if it holds all ``files``; otherwise the cache folder,
        after downloading what it lacks (all of ``files`` must be in one folder: to combine
        mirrored files with downloaded ones, use :func:`dataset_file` per file).

    Example:
        >>> sorted(p.name for p in dataset_path("clinc150").glob("*.json"))
        ['data_full.json', 'domains.json']
    """
    spec = get_dataset(name, registry)
    if isinstance(files, str):
        files = [files]
    if files is None:
        files = [f.relpath for f in spec.files if f.sha256 is not None] or [f.relpath for f in spec.files]
    specs = [spec.file(relpath) for relpath in files]
    mirror = _mirror_root(name)
    if mirror is not None and all((mirror / f.relpath).is_file() for f in specs):
        for f in specs:
            verify_file(mirror / f.relpath, f, advice=_mirror_advice(f))
        return mirror
    # Files the mirror lacks first, so that offline the error names a file that is really missing.
    for f in sorted(specs, key=lambda f: mirror is not None and (mirror / f.relpath).is_file()):
        _from_cache(spec, f)
    return cache_location("data", name)
