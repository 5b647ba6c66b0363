"""Tests of tlnlp.experiment: summaries over seeds and the margin of a claim."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tlnlp.experiment import compare, describe, format_mean_sd, margin_from_spread, run_over_seeds, select, summarize


def results() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        {"method": method, "n_labels": n, "seed": seed, "accuracy": rng.uniform(0.5, 0.9)}
        for method in ("pretrained", "scratch")
        for n in (16, 64)
        for seed in range(4)
    ]
    return pd.DataFrame(rows)


def test_summarize_matches_numpy_mean_and_sample_sd() -> None:
    df = results()
    table = summarize(df, ["method", "n_labels"], "accuracy")
    assert list(table.columns) == ["method", "n_labels", "mean", "sd", "n"] and len(table) == 4
    for row in table.itertuples():
        values = df[(df.method == row.method) & (df.n_labels == row.n_labels)]["accuracy"].to_numpy()
        assert row.mean == pytest.approx(np.mean(values))
        assert row.sd == pytest.approx(np.std(values, ddof=1))
        assert row.n == len(values) == 4
    one = summarize(df, "method", "accuracy")
    assert one["n"].tolist() == [8, 8]
    with pytest.raises(KeyError, match="f1"):
        summarize(df, "method", "f1")


def test_select_keeps_the_rows_matching_every_condition() -> None:
    df = pd.DataFrame({"method": ["a", "b", "a", "a"], "n": [16, 16, 64, 16], "acc": [0.1, 0.2, 0.3, 0.4]})
    assert select(df, "acc", method="a", n=16).tolist() == [0.1, 0.4]
    assert select(df, "acc", n=64).tolist() == [0.3]
    assert select(df, "acc").tolist() == [0.1, 0.2, 0.3, 0.4]
    assert select(df, "acc", method="c").size == 0
    with pytest.raises(KeyError, match="seed"):
        select(df, "acc", seed=0)


def test_format_mean_sd() -> None:
    assert format_mean_sd(0.81234, 0.01198) == "0.812 ± 0.012"
    assert format_mean_sd(12.5, 0.25, digits=1) == "12.5 ± 0.2"  # round-half-even of 0.25


def test_margin_is_k_standard_errors_of_the_difference() -> None:
    a, b = [0.80, 0.82, 0.87, 0.85], [0.70, 0.75, 0.72]
    mean_a, mean_b = sum(a) / 4, sum(b) / 3
    var_a = sum((x - mean_a) ** 2 for x in a) / 3  # sample variances by hand
    var_b = sum((x - mean_b) ** 2 for x in b) / 2
    diff, margin = margin_from_spread(a, b, k=2.5)
    assert diff == pytest.approx(mean_a - mean_b)
    assert margin == pytest.approx(2.5 * math.sqrt(var_a / 4 + var_b / 3))
    assert diff > margin  # how a chapter asserts its claim
    close = margin_from_spread([0.80, 0.90], [0.84, 0.85])
    assert not close.diff > close.margin  # overlapping seeds do not support a claim
    with pytest.raises(ValueError, match="at least 2"):
        margin_from_spread([0.8], [0.7, 0.6])


def test_run_over_seeds_runs_the_cartesian_grid_for_every_seed() -> None:
    calls = []

    def experiment(seed: int, n_labels: int, method: str, lr: float, sizes: list[int]) -> dict[str, float]:
        calls.append((seed, n_labels, method, lr, tuple(sizes)))
        return {"accuracy": seed + n_labels / 1000, "seconds": 0.0}

    df = run_over_seeds(
        experiment, [3, 4, 5], n_labels=[16, 64], method=["a", "b"], lr=0.1, sizes=[[8, 8]], progress=False
    )
    assert len(df) == len(calls) == 3 * 2 * 2 * 1
    assert list(df.columns) == ["seed", "n_labels", "method", "sizes", "accuracy", "seconds"]
    assert set(calls) == {(s, n, m, 0.1, (8, 8)) for s in (3, 4, 5) for n in (16, 64) for m in "ab"}
    assert (df["accuracy"] == df["seed"] + df["n_labels"] / 1000).all()  # rows keep their own inputs
    assert run_over_seeds(experiment, 2, n_labels=16, method="a", lr=0.1, sizes=[[1]], progress=False)["seed"].tolist() == [0, 1]


def test_run_over_seeds_requires_dict_results() -> None:
    with pytest.raises(TypeError, match="dict"):
        run_over_seeds(lambda seed: 0.5, 2, progress=False)


def test_describe_is_mean_and_sample_sd_and_skips_nan() -> None:
    values = np.array([0.71, 0.75, 0.80, 0.62])
    expected = f"{values.mean():.3f} ± {np.std(values, ddof=1):.3f}"
    assert describe(values) == expected
    assert describe([*values, float("nan")]) == expected
    assert describe([0.4567], digits=2) == "0.46"
    with pytest.raises(ValueError, match="no values"):
        describe([])


@pytest.mark.parametrize(
    "a, b, outcome",
    [([0.80, 0.82, 0.84], [0.70, 0.71, 0.72], "better"), ([0.70, 0.71, 0.72], [0.80, 0.82, 0.84], "worse"),
     ([0.80, 0.90, 0.70], [0.81, 0.79, 0.80], "within")],
)
def test_compare_states_the_difference_against_its_margin(a, b, outcome) -> None:
    diff = np.mean(a) - np.mean(b)
    margin = 2 * math.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))  # Welch's 2 s.e.
    verdict = compare(a, b)
    assert verdict.diff == pytest.approx(diff) and verdict.margin == pytest.approx(margin)
    assert verdict.outcome == outcome and verdict.beyond_noise == (abs(diff) > margin)
    assert str(verdict) == verdict.text == f"{100 * diff:+.1f} points ({verdict.word}; 2 s.e. = {100 * margin:.1f})"


def test_compare_takes_the_callers_words_and_units() -> None:
    verbs = {"better": "beats", "worse": "loses to", "within": "does not measurably beat"}
    assert compare([0.9, 0.91], [0.5, 0.52], words=verbs).word == "beats"
    assert compare([0.5, 0.52], [0.9, 0.91], words=verbs).word == "loses to"
    raw = compare([1.0, 1.2], [0.1, 0.2], scale=1, unit="nats", digits=2, k=3)
    assert raw.text.startswith("+0.95 nats (") and "3 s.e. = " in raw.text
    assert compare([1.0, 1.2], [0.0, 0.2], scale=1, unit="").text.startswith("+1.0 (")
    with pytest.raises(ValueError, match="unknown outcome"):
        compare([0.9, 0.91], [0.5, 0.52], words={"beats": "x"})
