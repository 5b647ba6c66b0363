"""Put computed numbers into a chapter's prose.

Inside a Jupyter Book build, :func:`glue` hands the value to myst-nb so the text can
cite it as ``{glue:text}`name```; anywhere else (Colab, a script) it just prints it.
Either way the number in the text is the number the code computed.

>>> glue("answer", 0.8123, fmt=".3f")
answer = 0.812
"""

from __future__ import annotations

import math
import warnings
from typing import Any


def glue(name: str, value: Any, fmt: str | None = None, display: bool = False) -> None:
    """Record ``value`` under ``name`` for the book and print it.

    Arguments:
        name: the key prose uses in ``{glue:text}`name```.
        value: a number, string, DataFrame or figure.
        fmt: a format spec applied to numbers (e.g. ``".3f"``, ``".1%"``). The glued
            value is the formatted string so prose and printout agree digit for digit.
        display: also show the value where the cell runs (myst-nb's ``display``).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"glue(): name must be a non-empty string (the key prose cites), got {name!r}")
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # a 0-d tensor or numpy scalar
        value = value.item()
    if isinstance(value, float) and math.isnan(value):  # shown as "nan", never silently: say where it came from
        warnings.warn(
            f"glue({name!r}): the value is NaN, so the prose will cite 'nan'; if that is not expected at this "
            "preset, the computation that produced it failed (a diverged run, an empty selection)",
            stacklevel=2,
        )
    try:
        shown = format(value, fmt) if fmt is not None else value
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"glue({name!r}): cannot format {value!r} ({type(value).__name__}) with fmt={fmt!r} ({err}); "
            "fmt is a format spec such as '.3f' or '.1%' (no '%' prefix, numbers only)"
        ) from None
    try:
        from myst_nb import glue as _myst_glue
    except ImportError:  # Colab / plain Python: nothing to glue into
        _myst_glue = None
    if _myst_glue is not None:
        _myst_glue(name, shown, display=display)
    if isinstance(shown, (str, int, float)):
        print(f"{name} = {shown}")
