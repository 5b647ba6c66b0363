"""Chapter 3's ULMFiT diagram: three stages, one stack each, a new head only in stage 3."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from tlnlp.diagrams.draw import PALETTE  # noqa: E402
from tlnlp.diagrams.ulmfit import ALT_TEXT, ulmfit_stages  # noqa: E402


@pytest.mark.parametrize("n", [1, 2, 3])
def test_three_stacks_of_the_requested_depth(n):
    fig = ulmfit_stages(n_lstm_layers=n)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count(f"LSTM {n}") == 3 and texts.count("embedding") == 3
    fills = [to_hex(p.get_facecolor()) for p in fig.axes[0].patches if hasattr(p, "get_boxstyle")]
    assert fills.count(PALETTE["new"]) == 1  # the classifier head, stage 3 only
    assert fills.count(PALETTE["data"]) == 3
    fig.canvas.draw()
    plt.close("all")


def test_bad_depth_is_refused():
    with pytest.raises(ValueError):
        ulmfit_stages(0)


def test_alt_text_names_the_stages():
    for word in ("Stage 1", "Stage 2", "Stage 3", "unfrozen"):
        assert word in ALT_TEXT
