"""Presets, device, seeding and the cache directory.

One notebook runs at three sizes. A chapter asks :func:`preset` which size it is
running at and picks its own numbers with :meth:`Preset.pick`:

>>> import os
>>> os.environ["TLNLP_PRESET"] = "ci"
>>> p = preset()
>>> p.name
'ci'
>>> p.pick(ci=2, cpu=200, gpu=2_000)
2

``TLNLP_PRESET`` overrides the automatic choice (``gpu`` when CUDA is present,
else ``cpu``).

``TLNLP_SMOKE=1`` turns on the *smoke* mode used by ``make smoke-gpu``: the preset keeps its
name (so ``TLNLP_PRESET=gpu`` takes the ``gpu`` code path, model names and data sources) but
:meth:`Preset.pick` returns the ``ci`` value wherever the value is a size (a number, or
anything that holds no string), so a chapter runs in minutes on a CPU. It proves that the code
runs, not what it measures.

>>> Preset("gpu", smoke=True).pick(ci=dict(steps=2, source="a"), gpu=dict(steps=4_000, source="b"))
{'steps': 2, 'source': 'b'}
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

PRESETS: tuple[str, ...] = ("ci", "cpu", "gpu")
"""Valid preset names, smallest first."""

PRESET_ENV = "TLNLP_PRESET"
SMOKE_ENV = "TLNLP_SMOKE"
"""Environment variable: ``1`` keeps the preset's names and code path but picks ``ci`` sizes."""
CACHE_ENV = "TLNLP_CACHE"
DEVICE_ENV = "TLNLP_DEVICE"

T = TypeVar("T")


class PresetError(ValueError):
    """An unknown preset name, or a chapter that gave no value for the active preset."""


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # tlnlp.config must stay importable without torch
        return False
    return bool(torch.cuda.is_available())


def preset_name() -> str:
    """The active preset: ``$TLNLP_PRESET`` if set, else ``gpu`` with CUDA, else ``cpu``.

    Raises :class:`PresetError` naming the valid presets if the variable holds
    anything else.
    """
    requested = os.environ.get(PRESET_ENV, "").strip().lower()
    if not requested:
        return "gpu" if _cuda_available() else "cpu"
    if requested not in PRESETS:
        raise PresetError(
            f"unknown preset {os.environ[PRESET_ENV]!r} in ${PRESET_ENV}; "
            f"valid presets are {', '.join(PRESETS)} "
            f"(or unset ${PRESET_ENV} to pick gpu/cpu automatically)"
        )
    return requested


@dataclass(frozen=True)
class Preset:
    """The size a chapter runs at.

    Attributes:
        name: one of :data:`PRESETS`.
    """

    name: str
    smoke: bool = False

    def __post_init__(self) -> None:
        if self.name not in PRESETS:
            raise PresetError(f"unknown preset {self.name!r}; valid presets are {', '.join(PRESETS)}")

    def pick(self, **values: T) -> T:
        """Return the value given for this preset.

        Example:
            >>> Preset("cpu").pick(ci=[16], cpu=[16, 64], gpu=[16, 64, 256])
            [16, 64]
        """
        unknown = set(values) - set(PRESETS)
        if unknown:
            raise PresetError(f"pick() got unknown preset(s) {sorted(unknown)}; valid presets are {', '.join(PRESETS)}")
        if self.name not in values:
            raise PresetError(f"pick() has no value for the active preset {self.name!r}; give {self.name}=...")
        if self.smoke and "ci" in values:
            return _smoke_value(values["ci"], values[self.name])
        return values[self.name]

    @property
    def device(self) -> "Any":
        """The torch device for this run (see :func:`device`)."""
        return device()

    def describe(self) -> str:
        """One line for a chapter's first cell: the preset, the device and the precision policy.

        It also checks ``$TLNLP_AMP`` (see :mod:`tlnlp.precision`), so that a bad value stops the
        chapter at once.

        Example:
            >>> line = Preset("ci").describe()
            >>> line.startswith("preset: ci, device: ") and "precision: " in line
            True
        """
        from .precision import describe as describe_precision

        mode = " (smoke: ci sizes)" if self.smoke else ""
        return f"preset: {self.name}{mode}, device: {self.device}\n{describe_precision(self.device)}"

    @property
    def is_small(self) -> bool:
        """True at ``ci`` and in smoke mode: the chapter should only check that its code runs."""
        return self.name == "ci" or self.smoke


def _holds_text(value: Any) -> bool:
    """True for a string, or a list/tuple/set whose items are all strings (names, sources)."""
    if isinstance(value, str):
        return True
    return isinstance(value, (list, tuple, set, frozenset)) and len(value) > 0 and all(isinstance(v, str) for v in value)


def _smoke_value(small: Any, named: Any) -> Any:
    """Smoke mode's pick: names from ``named`` (the active preset's value), sizes from ``small`` (ci's).

    Dictionaries are merged key by key; a key only ``named`` has keeps its value.

    Example:
        >>> _smoke_value({"n": 1, "src": ("a",)}, {"n": 9, "src": ("a", "b"), "extra": 3})
        {'n': 1, 'src': ('a', 'b'), 'extra': 3}
        >>> _smoke_value(16, 4096), _smoke_value("tiny", "gpt2")
        (16, 'gpt2')
    """
    if isinstance(small, dict) and isinstance(named, dict):
        return {k: _smoke_value(small[k], v) if k in small else v for k, v in named.items()}
    return named if _holds_text(named) else small


def smoke_mode() -> bool:
    """True when ``$TLNLP_SMOKE`` is ``1``/``true``/``yes``/``on``; empty or ``0``/``false``/``no``/``off`` is False.

    Raises:
        PresetError: any other value, naming the variable and the valid values.
    """
    raw = os.environ.get(SMOKE_ENV, "")
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise PresetError(f"${SMOKE_ENV}={raw!r} is not a valid switch: use 1 to turn smoke mode on, 0 (or unset it) to turn it off")


def preset() -> Preset:
    """The active :class:`Preset` (see :func:`preset_name`; ``$TLNLP_SMOKE`` sets its smoke mode)."""
    return Preset(preset_name(), smoke=smoke_mode())


def device() -> "Any":
    """``torch.device('cuda')`` when CUDA is available, else ``cpu``.

    ``TLNLP_DEVICE`` (e.g. ``cpu``, ``cuda``, ``cuda:1``, ``mps``) forces a device; a value
    torch does not know, or a device this machine lacks, is an error naming the variable.

    Example:
        >>> os.environ["TLNLP_DEVICE"] = "cpu"; str(device())
        'cpu'
        >>> del os.environ["TLNLP_DEVICE"]
    """
    import torch

    forced = os.environ.get(DEVICE_ENV, "").strip()
    if not forced:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return check_device(forced, f"${DEVICE_ENV}={forced!r}", f"unset {DEVICE_ENV} to pick automatically, or set it to cpu")


def check_device(spec: Any, what: str, fix: str) -> "Any":
    """``spec`` as a ``torch.device``, refused when torch does not know it or this machine lacks it.

    Arguments:
        spec: e.g. ``"cpu"``, ``"cuda:1"``, a ``torch.device``.
        what: how the error names the setting, e.g. ``"device='gpu'"``.
        fix: what to do instead, appended to the error.

    Example:
        >>> str(check_device("cpu", "device='cpu'", "pass device=None"))
        'cpu'
    """
    import torch

    try:
        chosen = torch.device(spec)
    except (RuntimeError, TypeError):
        raise ValueError(f"{what} is not a device torch knows: use cpu, cuda, cuda:N or mps; {fix}") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    }
    if not available.get(chosen.type, True):
        raise ValueError(f"{what} but this machine has no {chosen.type} device: {fix}")
    if chosen.type == "cuda" and chosen.index is not None and chosen.index >= torch.cuda.device_count():
        raise ValueError(f"{what} but this machine has {torch.cuda.device_count()} CUDA device(s): {fix}")
    return chosen


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (CPU and CUDA).

    Example:
        >>> seed_everything(0); a = np.random.rand()
        >>> seed_everything(0); a == np.random.rand()
        True
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r} ({type(seed).__name__})")
    seed = int(seed)
    if not 0 <= seed < 2**32:  # NumPy's limit; checked before any generator is touched
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed}: e.g. take seed % 2**32")
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:
        return
    torch.manual_seed(seed)  # also seeds every CUDA device


def cache_dir(*parts: str) -> Path:
    """The tlnlp cache directory (``$TLNLP_CACHE`` or ``~/.cache/tlnlp``), created.

    Example:
        >>> cache_dir("models").name
        'models'
    """
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tlnlp").expanduser()
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
