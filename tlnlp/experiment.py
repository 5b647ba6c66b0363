"""Experiments over seeds: run a grid, summarise it, describe it, and compare two methods.

A chapter's claim ("pretrained beats scratch at 64 labels") is checked over several
seeds, with a margin taken from the spread of the results rather than typed by hand, and
stated in words by the same rule in every chapter:

>>> import numpy as np
>>> pretrained, scratch = np.array([0.81, 0.83, 0.82]), np.array([0.61, 0.66, 0.58])
>>> diff, margin = margin_from_spread(pretrained, scratch)
>>> assert diff > margin, f"pretrained beats scratch by {diff:.3f}, less than {margin:.3f}"
>>> describe(pretrained), compare(pretrained, scratch).text
('0.820 ± 0.010', '+20.3 points (better, beyond the noise; 2 s.e. = 4.8)')

Introduced in chapter 1; every chapter's results over seeds go through it.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Literal, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd


def summarize(df: pd.DataFrame, by: str | Sequence[str], value: str) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1) and count of ``value`` per group.

    Arguments:
        df: one row per run (e.g. from :func:`run_over_seeds`).
        by: the column(s) that define a group, e.g. ``["method", "n_labels"]``.
        value: the measured column, e.g. ``"accuracy"``.

    Returns:
        One row per group: the ``by`` columns, then ``mean``, ``sd`` and ``n`` (``sd`` is
        NaN for a group of one run). NaN values are left out of every statistic.

    Example:
        >>> df = pd.DataFrame({"method": ["a", "a", "b", "b"], "acc": [0.8, 0.9, 0.5, 0.7]})
        >>> summarize(df, "method", "acc").round(3).to_dict("records")
        [{'method': 'a', 'mean': 0.85, 'sd': 0.071, 'n': 2}, {'method': 'b', 'mean': 0.6, 'sd': 0.141, 'n': 2}]
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in [*by, value] if c not in df.columns]
    if missing:
        raise KeyError(f"summarize(): no column(s) {missing} in the DataFrame; it has {list(df.columns)}")
    if not pd.api.types.is_numeric_dtype(df[value]):
        raise TypeError(
            f"summarize(): the value column {value!r} holds {df[value].dtype} values, not numbers; "
            "did you swap by= and value=?"
        )
    grouped = df.groupby(by, sort=True)[value]
    return grouped.agg(mean="mean", sd=lambda v: v.std(ddof=1), n="count").reset_index()


def select(df: pd.DataFrame, value: str, **where: Any) -> np.ndarray:
    """The ``value`` column of the runs whose columns equal ``where`` (e.g. one method at one label count).

    Arguments:
        df: one row per run (e.g. from :func:`run_over_seeds`).
        value: the measured column, e.g. ``"accuracy"``.
        **where: column = value conditions, all of which must hold.

    Returns:
        The selected values, in row order (empty if no run matches).

    Example:
        >>> df = pd.DataFrame({"method": ["a", "a", "b"], "n_labels": [16, 64, 16], "acc": [0.8, 0.9, 0.5]})
        >>> select(df, "acc", method="a", n_labels=16).tolist()
        [0.8]
    """
    missing = [c for c in [value, *where] if c not in df.columns]
    if missing:
        raise KeyError(f"select(): no column(s) {missing} in the DataFrame; it has {list(df.columns)}")
    keep = np.ones(len(df), dtype=bool)
    for column, wanted in where.items():
        keep &= (df[column] == wanted).to_numpy()
    return df.loc[keep, value].to_numpy()


def format_mean_sd(mean: float, sd: float, digits: int = 3) -> str:
    """Format a result as ``mean ± sd``.

    Example:
        >>> format_mean_sd(0.81234, 0.0121)
        '0.812 ± 0.012'
    """
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def describe(values: Sequence[float] | np.ndarray, digits: int = 3) -> str:
    """The results of several seeds as ``mean ± sd`` (sample sd, ddof=1).

    A single value has no spread and is written alone. NaN values are left out, as in
    :func:`summarize`, with a warning that says how many.

    Arguments:
        values: one score per seed.
        digits: decimals of both numbers.

    Example:
        >>> describe([0.80, 0.82, 0.84]), describe([0.5]), describe([0.8123, 0.8321], digits=2)
        ('0.820 ± 0.020', '0.500', '0.82 ± 0.01')
    """
    if isinstance(values, (str, bytes)):
        raise TypeError(f"describe() takes per-seed scores, got the string {values!r}")
    array = np.asarray(values, dtype=float).ravel()
    missing = int(np.isnan(array).sum())
    if missing and missing < array.size:  # a failed run must not vanish unseen
        warnings.warn(f"describe(): {missing} of {array.size} values are NaN and left out", stacklevel=2)
    array = array[~np.isnan(array)]
    if np.isinf(array).any():
        raise ValueError(f"describe() got an infinite score ({array[np.isinf(array)][0]}): a run diverged; fix or drop it")
    if array.size == 0:
        raise ValueError("describe() got no values (or only NaN): select the runs first, e.g. with select()")
    if array.size == 1:
        return f"{array[0]:.{digits}f}"
    return format_mean_sd(float(array.mean()), float(array.std(ddof=1)), digits)


def run_over_seeds(
    fn: Callable[..., Mapping[str, Any]],
    seeds: int | Iterable[int],
    *,
    progress: bool = True,
    **grid: Any,
) -> pd.DataFrame:
    """Call ``fn(seed=..., **point)`` for every seed and every point of a grid.

    Keyword arguments whose value is a ``list`` are grid axes (their cartesian product
    is run); any other value is passed unchanged to every call. To pass a list itself
    as a fixed value, wrap it in another list: ``sizes=[[64, 64]]``.

    Arguments:
        fn: returns a dict of measurements, e.g. ``{"accuracy": 0.81}``.
        seeds: the seeds, or an int ``n`` for seeds ``0 .. n-1``.
        progress: show a tqdm bar over all calls (so ``fn`` cannot take a ``progress``
            argument from the grid; bind it with ``functools.partial``).
        grid: ``name=[values...]`` axes and ``name=value`` constants.

    Returns:
        One row per call: ``seed``, the grid-axis values, then ``fn``'s measurements.

    Example:
        >>> def fn(seed, n_labels, lr):
        ...     return {"accuracy": 0.5 + n_labels / 1000 + seed / 100}
        >>> df = run_over_seeds(fn, 3, n_labels=[16, 64], lr=0.1, progress=False)
        >>> df.shape, list(df.columns)
        ((6, 3), ['seed', 'n_labels', 'accuracy'])
    """
    from tqdm.auto import tqdm

    if isinstance(seeds, (str, bytes)) or seeds is None or isinstance(seeds, (bool, float)):
        raise TypeError(f"seeds must be an int n (seeds 0..n-1) or a list of ints, got {seeds!r}")
    seeds = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else list(seeds)
    if not seeds:
        raise ValueError("run_over_seeds() needs at least one seed (seeds=3, or seeds=[0, 1, 2])")
    if "seed" in grid:
        raise ValueError("run_over_seeds(): 'seed' is set by seeds=...; do not pass it as a grid argument")
    axes = {name: values for name, values in grid.items() if isinstance(values, list)}
    fixed = {name: value for name, value in grid.items() if name not in axes}
    empty = [name for name, values in axes.items() if not values]
    if empty:
        raise ValueError(f"grid axes {empty} are empty lists")
    points = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    rows = []
    with tqdm(total=len(points) * len(seeds), desc=getattr(fn, "__name__", "runs"), disable=not progress) as bar:
        for point in points:
            for seed in seeds:
                result = fn(seed=seed, **point, **fixed)
                if not isinstance(result, Mapping):
                    raise TypeError(
                        f"{getattr(fn, '__name__', 'fn')} must return a dict of measurements, "
                        f"got {type(result).__name__}; e.g. return {{'accuracy': acc}}"
                    )
                clash = sorted({"seed", *point} & set(result))
                if clash:
                    raise ValueError(
                        f"{getattr(fn, '__name__', 'fn')} returned {clash}, which would overwrite the seed or grid "
                        "column(s) of the same name; rename the measurement(s)"
                    )
                rows.append({"seed": seed, **point, **result})
                bar.update()
    return pd.DataFrame(rows)


def _scores(name: str, values: Any, caller: str) -> np.ndarray:
    """Per-seed scores as a float array, or an error naming the first missing or infinite one."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{caller}: {name} must be a list of per-seed scores, got the string {values!r}")
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{caller}: {name} must be a list of per-seed scores (numbers), got {values!r}") from None
    bad = np.flatnonzero(~np.isfinite(array.ravel()))
    if bad.size:
        raise ValueError(
            f"{caller}: {name}[{bad[0]}] is {array.ravel()[bad[0]]} ({bad.size} of {array.size} scores are NaN, "
            "missing or infinite): a run failed or diverged; fix it, or leave it out explicitly, "
            "e.g. scores[np.isfinite(scores)]"
        )
    return array


class Comparison(NamedTuple):
    """The result of :func:`margin_from_spread`; unpacks as ``diff, margin``."""

    diff: float
    """mean(a) - mean(b)."""
    margin: float
    """k standard errors of that difference."""


def margin_from_spread(a: Sequence[float], b: Sequence[float], k: float = 2.0) -> Comparison:
    """How much ``a`` beats ``b`` on average, and by how much it must to count.

    ``margin = k * sqrt(sd_a² / n_a + sd_b² / n_b)`` is ``k`` standard errors of the
    difference of the two means (sample sds, ddof=1; Welch's standard error). Chapters
    assert their claims with it, so a claim fails when the seeds do not support it::

        diff, margin = margin_from_spread(pretrained_scores, scratch_scores)
        assert diff > margin, f"pretrained wins by {diff:.3f}, within the noise ({margin:.3f})"

    With ``k = 2`` this is roughly a one-sided 2-sigma test; with few seeds (3–5) it is
    lenient, so prefer 5+ seeds for claims that matter.

    Arguments:
        a: per-seed scores of the method claimed better (higher is better).
        b: per-seed scores of the baseline.
        k: how many standard errors the difference must exceed.

    Returns:
        ``Comparison(diff, margin)``.

    Example:
        >>> diff, margin = margin_from_spread([0.80, 0.82, 0.84], [0.70, 0.71, 0.72])
        >>> round(diff, 3), round(margin, 4)
        (0.11, 0.0258)
    """
    a, b = _scores("a", a, "margin_from_spread()"), _scores("b", b, "margin_from_spread()")
    if a.ndim != 1 or b.ndim != 1 or len(a) < 2 or len(b) < 2:
        raise ValueError(
            f"margin_from_spread() needs two 1-D samples of at least 2 seeds each, got shapes {a.shape} and {b.shape}: "
            "one seed has no spread to compare against; run more seeds"
        )
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k < np.inf:
        raise ValueError(f"k (standard errors the difference must exceed) must be a finite number > 0, e.g. 2, got {k!r}")
    diff = float(a.mean() - b.mean())
    margin = float(k * np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
    return Comparison(diff, margin)


Outcome = Literal["better", "worse", "within"]

VERDICT_WORDS: dict[str, str] = {
    "better": "better, beyond the noise",
    "worse": "worse, beyond the noise",
    "within": "within the noise",
}
"""The default words of :func:`compare`'s outcomes."""


@dataclass(frozen=True)
class Verdict:
    """What :func:`compare` found: the difference, its margin, the outcome and the sentence.

    Attributes:
        diff: mean(a) - mean(b), unscaled.
        margin: ``k`` standard errors of that difference (:func:`margin_from_spread`), unscaled.
        outcome: ``"better"`` (diff > margin), ``"worse"`` (diff < -margin) or ``"within"``.
        word: the outcome in the words the caller chose.
        text: e.g. ``"+1.3 points (within the noise; 2 s.e. = 2.6)"``; also ``str(verdict)``.
    """

    diff: float
    margin: float
    outcome: Outcome
    word: str
    text: str

    @property
    def beyond_noise(self) -> bool:
        """True when the difference exceeds its margin, either way."""
        return self.outcome != "within"

    def __str__(self) -> str:
        return self.text


def compare(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    k: float = 2.0,
    scale: float = 100.0,
    unit: str = "points",
    digits: int = 1,
    words: Mapping[str, str] | None = None,
) -> Verdict:
    """Compare method ``a`` with baseline ``b`` over seeds, and say it in one phrase.

    The difference of the means counts only when it exceeds ``k`` standard errors
    (:func:`margin_from_spread`); the phrase gives the difference, the verdict and the margin,
    so a chapter's prose never states a gap without its noise.

    Arguments:
        a: per-seed scores of the method (higher is better).
        b: per-seed scores of the baseline.
        k: standard errors the difference must exceed.
        scale: the difference and margin are multiplied by it in the text (100: accuracy in
            points; 1: raw units).
        unit: the unit written after the difference (``""``: none).
        digits: decimals in the text.
        words: the word for each outcome (``"better"``, ``"worse"``, ``"within"``), e.g.
            ``{"better": "beats", "worse": "loses to", "within": "does not measurably beat"}``
            for a verb; missing keys take :data:`VERDICT_WORDS`.

    Returns:
        A :class:`Verdict`.

    Example:
        >>> v = compare([0.80, 0.82, 0.84], [0.70, 0.71, 0.72])
        >>> v.outcome, v.text
        ('better', '+11.0 points (better, beyond the noise; 2 s.e. = 2.6)')
        >>> compare([0.80, 0.82], [0.81, 0.80], words={"within": "no measurable gain"}).word
        'no measurable gain'
    """
    if words is not None and not isinstance(words, Mapping):
        raise TypeError(f"compare(): words must be a dict outcome -> word, e.g. {{'better': 'beats'}}, got {words!r}")
    unknown = set(words or {}) - set(VERDICT_WORDS)
    if unknown:
        raise ValueError(f"compare(): unknown outcome(s) {sorted(unknown)} in words; the outcomes are {list(VERDICT_WORDS)}")
    diff, margin = margin_from_spread(a, b, k=k)
    outcome: Outcome = "better" if diff > margin else "worse" if diff < -margin else "within"
    word = {**VERDICT_WORDS, **(words or {})}[outcome]
    unit = f" {unit}" if unit else ""
    text = f"{scale * diff:+.{digits}f}{unit} ({word}; {k:g} s.e. = {scale * margin:.{digits}f})"
    return Verdict(diff, margin, outcome, word, text)
