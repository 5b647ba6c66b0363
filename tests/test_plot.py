"""Tests of tlnlp.plot: headless learning and sample-efficiency curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from tlnlp.plot import plot_history, plot_sample_efficiency  # noqa: E402
from tlnlp.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def efficiency_results() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        [
            {"method": m, "n_labels": n, "seed": s, "accuracy": base + 0.05 * np.log2(n) + rng.normal(0, 0.02)}
            for m, base in (("pretrained", 0.5), ("scratch", 0.3), ("tf-idf", 0.2))
            for n in (16, 64, 256, 1024)
            for s in range(3)
        ]
    )


def test_sample_efficiency_draws_a_mean_line_and_a_band_per_method() -> None:
    df = efficiency_results()
    ax = plot_sample_efficiency(df)
    assert len(ax.lines) == 3
    assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 3
    assert ax.get_xscale() == "log"
    assert list(ax.get_xticks()) == [16, 64, 256, 1024]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["pretrained", "scratch", "tf-idf"]
    expected = df[df.method == "scratch"].groupby("n_labels")["accuracy"].mean().to_numpy()
    np.testing.assert_allclose(ax.lines[1].get_ydata(), expected)
    band = ax.collections[1].get_paths()[0].vertices[:, 1]  # the band spans mean ± sd
    sd = df[df.method == "scratch"].groupby("n_labels")["accuracy"].std(ddof=1).to_numpy()
    assert band.min() == pytest.approx((expected - sd).min()) and band.max() == pytest.approx((expected + sd).max())
    assert "3 runs" in ax.get_ylabel()


def test_sample_efficiency_on_given_axes_linear_x_and_single_runs() -> None:
    fig, (left, right) = plt.subplots(1, 2)
    df = efficiency_results()
    assert plot_sample_efficiency(df, ax=right, logx=False) is right and right.get_xscale() == "linear"
    single = df[df.seed == 0]
    ax = plot_sample_efficiency(single, ax=left)
    assert len(ax.lines) == 3 and not ax.collections  # no spread, no band
    with pytest.raises(KeyError, match="n_examples"):
        plot_sample_efficiency(df, x="n_examples")


def history(losses: list[float], with_eval: bool = True) -> History:
    records = []
    for epoch, loss in enumerate(losses, start=1):
        record = {"epoch": epoch, "step": 10 * epoch, "train_loss": loss}
        if with_eval:
            record["eval_loss"] = loss + 0.1
        records.append(record)
    return History(records=records)


def test_plot_history_overlays_runs_and_skips_missing_metrics() -> None:
    runs = {"pretrained": history([0.6, 0.4, 0.3]), "scratch": history([0.7, 0.65, 0.6], with_eval=False)}
    ax = plot_history(runs)
    assert len(ax.lines) == 3  # scratch has no eval_loss
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["pretrained: train loss", "pretrained: eval loss", "scratch: train loss"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.7, 0.5, 0.4])
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    assert ax.lines[0].get_color() == ax.lines[1].get_color() != ax.lines[2].get_color()


def test_plot_history_uses_steps_when_epochs_repeat_and_checks_labels() -> None:
    h = History(records=[{"epoch": 1, "step": 5, "train_loss": 1.0}, {"epoch": 1, "step": 10, "train_loss": 0.8}])
    ax = plot_history(h)
    assert ax.get_xlabel() == "step" and list(ax.lines[0].get_xdata()) == [5, 10]
    assert len(plot_history([h, h], labels=["a", "b"]).lines) == 2
    with pytest.raises(ValueError, match="labels"):
        plot_history([h, h], labels=["only one"])
    with pytest.raises(KeyError, match="eval_accuracy"):
        plot_history(h, metrics=["eval_accuracy"])


def test_smooth_is_the_mean_of_each_full_window():
    from tlnlp.plot import smooth

    values = np.random.default_rng(0).normal(size=30)
    out = smooth(values, window=4)
    assert len(out) == 27
    np.testing.assert_allclose(out, [values[i : i + 4].mean() for i in range(27)])
    np.testing.assert_allclose(smooth(values, window=100), [values.mean()])  # clipped to the length
    import torch

    np.testing.assert_allclose(smooth(torch.tensor(values), 1), values)
