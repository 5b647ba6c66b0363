"""Which number format a model runs in: bf16 autocast where it measurably pays, fp32 elsewhere.

Some CPUs run bf16 matrix products several times faster than fp32 (AMX on recent Xeons, the
AVX-512 bf16 instructions of recent EPYCs); others have no bf16 kernels at all. Whether a given
model gains depends on its shapes too: a small model can lose time to the casts that autocast
adds. So tlnlp neither assumes nor guesses. With ``amp="auto"`` (the default of
:func:`tlnlp.train.fit`, :func:`tlnlp.train.evaluate` and :meth:`tlnlp.models.Encoder.encode`) on
a CPU that has bf16 kernels, the first batch of a model is run a few times in fp32 and in bf16
on a throw-away copy of the model (:func:`probe_speedup`), and bf16 autocast is used when it is
at least :data:`MIN_SPEEDUP` times faster. The decision is made once per model shape and machine
and cached (in memory and in ``$TLNLP_CACHE/precision/decisions.json``), so that every later run
on the machine takes the same path. On CUDA, ``"auto"`` keeps what it always did: bf16 on Ampere
and newer, fp16 with a gradient scaler before.

``TLNLP_AMP`` says what ``"auto"`` means: ``auto`` (the default), ``off`` (fp32 everywhere,
exactly as tlnlp ran before it measured anything) or ``bf16`` (bf16 autocast wherever the
device can run it; an error where it cannot). An explicit ``amp=`` argument other than
``"auto"`` wins over the variable.

>>> import os
>>> os.environ[AMP_ENV] = "off"
>>> amp_setting()
'off'
>>> del os.environ[AMP_ENV]
>>> amp_setting()
'auto'
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import platform
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .config import cache_dir

__all__ = [
    "AMP_ENV",
    "AMP_SETTINGS",
    "MIN_SPEEDUP",
    "PrecisionError",
    "amp_setting",
    "cpu_bf16_kernels",
    "cpu_name",
    "requested_dtype",
    "decide",
    "probe_speedup",
    "shape_key",
    "describe",
    "decisions",
    "matmul_peak",
    "autocast",
    "PROBE",
]

AMP_ENV = "TLNLP_AMP"
AMP_SETTINGS: tuple[str, ...] = ("auto", "bf16", "off")
"""The values ``TLNLP_AMP`` takes."""

MIN_SPEEDUP = 1.25
"""bf16 is chosen when the probe measures it at least this many times faster than fp32: a
margin above timing noise, so that a model that merely breaks even stays in fp32."""

PROBE = "probe"
"""What :func:`requested_dtype` returns when the answer needs a probe on the model's first batch."""

_decisions: dict[str, dict[str, Any]] = {}
_log = logging.getLogger(__name__)
_lock = threading.Lock()


class PrecisionError(ValueError):
    """An unknown ``TLNLP_AMP`` or ``amp=`` value, or a precision this device cannot run."""


def amp_setting() -> str:
    """``$TLNLP_AMP``, checked: one of :data:`AMP_SETTINGS` (``"auto"`` when unset).

    Raises:
        PrecisionError: naming the variable and its valid values.
    """
    raw = os.environ.get(AMP_ENV, "").strip().lower()
    if not raw:
        return "auto"
    if raw not in AMP_SETTINGS:
        raise PrecisionError(
            f"unknown precision {os.environ[AMP_ENV]!r} in ${AMP_ENV}; valid values are "
            f"{', '.join(AMP_SETTINGS)} (auto: bf16 where a probe measures it faster; off: fp32; "
            f"bf16: always, where the device can run it), or unset ${AMP_ENV}"
        )
    return raw


def cpu_bf16_kernels() -> bool:
    """True when torch has native bf16 matrix kernels on this CPU (oneDNN's AVX-512 bf16 or AMX).

    Without them bf16 is emulated and always slower, so ``"auto"`` does not even probe.
    """
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # an older or unusual build: no claim of fast bf16
        return False


def cpu_name() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux), for cache keys and reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def requested_dtype(amp: Any, device: torch.device) -> torch.dtype | str | None:
    """The autocast dtype ``amp`` asks for on ``device``: a dtype, None (fp32) or :data:`PROBE`.

    ``amp`` is ``"auto"``/``True`` (follow ``$TLNLP_AMP``), ``"bf16"``, ``"fp16"`` (CUDA only) or
    ``"off"``/``False``/``None``.

    Example:
        >>> requested_dtype("off", torch.device("cpu")) is None
        True
        >>> requested_dtype("bf16", torch.device("cpu")) == torch.bfloat16 or not cpu_bf16_kernels()
        True
    """
    if amp is True:
        amp = "auto"
    if amp in (False, None, "off"):
        return None
    if amp not in ("auto", "bf16", "fp16"):
        raise PrecisionError(f"amp must be 'auto', 'bf16', 'fp16' or 'off', got {amp!r}")
    source = "amp='bf16'"
    if amp == "auto":
        setting = amp_setting()
        if setting == "off":
            return None
        if setting == "bf16":
            amp, source = "bf16", f"${AMP_ENV}=bf16"
    if device.type == "cuda":
        bf16_ok = torch.cuda.get_device_capability(device)[0] >= 8
        if amp == "fp16":
            return torch.float16
        if amp == "bf16":
            if not bf16_ok:
                raise PrecisionError(
                    f"{source} needs a GPU with bf16 (Ampere or newer), got {torch.cuda.get_device_name(device)}; "
                    f"use amp='fp16', amp='auto' or ${AMP_ENV}=auto|off"
                )
            return torch.bfloat16
        return torch.bfloat16 if bf16_ok else torch.float16
    if device.type != "cpu":
        if amp == "auto":
            return None  # mps and others: fp32, as before
        raise PrecisionError(f"{source} runs on CPU or CUDA, got {device}; use amp='auto' or 'off'")
    if amp == "fp16":
        raise PrecisionError(f"amp='fp16' needs a CUDA device, got {device}; use amp='auto', 'bf16' or 'off'")
    if not cpu_bf16_kernels():
        if amp == "auto":
            return None
        raise PrecisionError(
            f"{source}: this CPU ({cpu_name()}) has no native bf16 kernels, so bf16 would be emulated and slow; "
            f"use amp='auto' or 'off', or set ${AMP_ENV}=auto or off (valid values: {', '.join(AMP_SETTINGS)})"
        )
    return torch.bfloat16 if amp == "bf16" else PROBE


def autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    """``torch.autocast`` for ``dtype`` on ``device``; a no-op context for None (fp32)."""
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)


def shape_key(kind: str, model: torch.nn.Module) -> str:
    """What a decision is cached under: what is run (``kind``), the model's class and size, what trains.

    The batch size is deliberately not part of it: one model takes one precision for every
    batch and every seed (decided on the first batch it meets), so that runs over seeds stay
    comparable; the decision is cached for the next model of the same shape.

    Example:
        >>> shape_key("train", torch.nn.Linear(4, 2))
        'train|Linear|10 params|10 trainable'
    """
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return f"{kind}|{type(model).__name__}|{params} params|{trainable} trainable"


def probe_speedup(run: Callable[[torch.dtype | None], Any], min_seconds: float = 0.15, max_reps: int = 20) -> float:
    """fp32 time over bf16 time of ``run(dtype)``, each the best of interleaved repetitions.

    ``run(None)`` must do the work in fp32 and ``run(torch.bfloat16)`` under bf16 autocast. Each
    is run once to warm up, then in turns until each has ``min_seconds`` of timed work and at
    least 2 repetitions, or 1 when a run takes longer than ``min_seconds`` (at most
    ``max_reps``). The best time of each is kept (the least disturbed by other work on the
    machine).

    Example:
        >>> a = torch.randn(64, 64)
        >>> probe_speedup(lambda dtype: a @ a) > 0
        True
    """
    best = {None: math.inf, torch.bfloat16: math.inf}
    spent = {None: 0.0, torch.bfloat16: 0.0}
    warm = {}
    for dtype in best:
        start = time.perf_counter()
        run(dtype)
        warm[dtype] = time.perf_counter() - start
    min_reps = 1 if min(warm.values()) > min_seconds else 2  # a long step is timed well enough once
    reps = 0
    while reps < max_reps and (reps < min_reps or min(spent.values()) < min_seconds):
        for dtype in best:
            start = time.perf_counter()
            run(dtype)
            elapsed = time.perf_counter() - start
            best[dtype] = min(best[dtype], elapsed)
            spent[dtype] += elapsed
        reps += 1
    return best[None] / max(best[torch.bfloat16], 1e-9)


def decide(key: str, measure: Callable[[], float], what: str = "") -> torch.dtype | None:
    """bf16 or fp32 (None) for ``key`` on this machine: cached, else measured once with ``measure``.

    ``measure()`` returns the bf16 speed-up (see :func:`probe_speedup`). The decision, the
    speed-up and the machine are cached in memory and in ``$TLNLP_CACHE/precision/decisions.json``;
    a new decision is logged once (logger ``tlnlp.precision``, level INFO), with ``what`` naming
    the model; :func:`decisions` lists them.

    Example:
        >>> decide("doc|example", lambda: 0.8, what="") is None
        True
    """
    full_key = f"{_machine()}|{key}"
    with _lock:
        found = _decisions.get(full_key) or _read_disk().get(full_key)
    if found is None:
        speedup = float(measure())
        found = {"bf16": bool(speedup >= MIN_SPEEDUP), "speedup": round(speedup, 3)}
        with _lock:
            _decisions[full_key] = found
            _write_disk(full_key, found)
        if what:
            chosen = "bf16 autocast" if found["bf16"] else "fp32"
            _log.info("precision: %s for %s (bf16 measured %.2fx as fast as fp32 on this CPU)", chosen, what, speedup)
    else:
        _decisions[full_key] = found
    return torch.bfloat16 if found["bf16"] else None


def decisions() -> dict[str, dict[str, Any]]:
    """The decisions this process has made or read: ``{key: {"bf16": bool, "speedup": float}}``.

    Example:
        >>> isinstance(decisions(), dict)
        True
    """
    return dict(_decisions)


def describe(device: Any = None) -> str:
    """One line for a chapter's first cell: the precision policy and what this machine offers.

    Example:
        >>> "precision" in describe("cpu")
        True
    """
    device = torch.device("cpu" if device is None else device)
    setting = amp_setting()
    if device.type == "cuda":
        dtype = requested_dtype("auto", device)
        name = {None: "fp32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast"}[dtype]
        return f"precision: {name} (${AMP_ENV}={setting}; {torch.cuda.get_device_name(device)})"
    cpu = f"{cpu_name()}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}"
    kernels = cpu_bf16_kernels()
    if setting == "off":
        policy = "fp32 everywhere"
    elif not kernels:
        policy = "fp32 (this CPU has no native bf16 kernels)" + (" - bf16 requested, which will fail" if setting == "bf16" else "")
    elif setting == "bf16":
        policy = "bf16 autocast everywhere"
    else:
        policy = f"bf16 autocast for each model whose first batch runs >= {MIN_SPEEDUP}x faster in it, else fp32"
    return f"precision: {policy} (${AMP_ENV}={setting}; {cpu}; torch {torch.__version__})"


def matmul_peak(model: torch.nn.Module, rows: int, dtype: torch.dtype = torch.float32, repeats: int = 5) -> float:
    """This machine's best matrix-multiplication rate (GFLOP/s) in ``dtype`` at ``model``'s own shapes.

    For each distinct ``nn.Linear`` weight shape, ``torch.mm`` of ``rows`` token rows by the
    weight is timed (best of ``repeats``); the highest rate is returned: no training loop can run
    its matrix multiplications faster. Benchmarks report their work per second against it.

    Example:
        >>> matmul_peak(torch.nn.Linear(64, 64), rows=64, repeats=1) > 0
        True
    """
    shapes = {tuple(m.weight.shape) for m in model.modules() if isinstance(m, torch.nn.Linear)}
    if not shapes:
        raise ValueError(f"{type(model).__name__} has no nn.Linear layer to take the matmul shapes from")
    best = 0.0
    for out_features, in_features in shapes:
        a = torch.randn(rows, in_features, dtype=dtype)
        b = torch.randn(in_features, out_features, dtype=dtype)
        flop = 2 * rows * in_features * out_features
        reps = max(3, int(2e8 / flop))
        for _ in range(3):
            a @ b  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(reps):
                a @ b
            best = max(best, flop * reps / (time.perf_counter() - start) / 1e9)
    return best


@contextlib.contextmanager
def preserved_rng() -> Any:
    """Leave torch's, numpy's and Python's random states as they were (a probe must not shift them)."""
    states = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])


def throwaway_copy(*objects: Any) -> tuple[Any, ...]:
    """Deep copies of ``objects`` made together (a loss module that holds the model keeps holding its copy).

    The copies' forward and backward hooks are dropped, so that loggers of outputs (a user's, or
    a recipe's bookkeeping) do not see the probe's passes; forward pre-hooks stay only where
    torch itself put them (weight norm, pruning), since those change what the module computes.
    """
    copies = copy.deepcopy(objects)
    for obj in copies:
        if isinstance(obj, torch.nn.Module):
            for module in obj.modules():
                module._forward_hooks.clear()
                module._backward_hooks.clear()
                if hasattr(module, "_backward_pre_hooks"):
                    module._backward_pre_hooks.clear()
                for handle, hook in list(module._forward_pre_hooks.items()):
                    if str(getattr(hook, "__module__", "") or "").split(".")[0] != "torch":
                        del module._forward_pre_hooks[handle]
    return copies


def _machine() -> str:
    # The ISA and bf16 kernels are part of the key: VMs often report one generic model name
    # ("AMD EPYC") for CPUs of different generations.
    isa = f"{torch.backends.cpu.get_cpu_capability()}{' +bf16' if cpu_bf16_kernels() else ''}{' +amx' if _has_amx() else ''}"
    return f"{cpu_name()}|{isa}|torch {torch.__version__}|{torch.get_num_threads()} threads"


def _has_amx() -> bool:
    """Whether the CPU reports AMX tiles (``amx_bf16`` in ``/proc/cpuinfo``); False where unknown."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return any(line.startswith("flags") and "amx_bf16" in line.split() for line in f)
    except OSError:
        return False


def _disk_path() -> Any:
    return cache_dir("precision") / "decisions.json"


def _read_disk() -> dict[str, Any]:
    try:
        data = json.loads(_disk_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none yet, or unreadable: measure again (and rewrite it)
        return {}
    return data if isinstance(data, dict) else {}


def _write_disk(key: str, value: dict[str, Any]) -> None:
    from .cache import CacheError, atomic_path

    data = _read_disk()
    data[key] = value
    try:
        with atomic_path(_disk_path()) as tmp:
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    except (CacheError, OSError):  # a read-only cache: the in-memory decision still holds for this run
        pass
