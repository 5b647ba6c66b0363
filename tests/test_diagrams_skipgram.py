"""Chapter 2's skip-gram diagram: window and negatives drawn as asked, bad input refused."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from tlnlp.diagrams.draw import PALETTE  # noqa: E402
from tlnlp.diagrams.skipgram import ALT_TEXT, skipgram_window  # noqa: E402


def test_window_and_negatives_counted_by_colour():
    words = ["the", "cast", "is", "superb", "and", "the", "script", "sharp"]
    fig = skipgram_window(words, centre=3, window=2, negatives=["x", "y", "z", "w"])
    fills = [to_hex(p.get_facecolor()) for p in fig.axes[0].patches if hasattr(p, "get_boxstyle")]
    assert fills.count(PALETTE["data"]) == 4  # two contexts on each side
    assert fills.count(PALETTE["trained"]) == 1  # the centre
    assert fills.count(PALETTE["loss"]) == 4  # K negatives
    assert fills.count(PALETTE["plain"]) == len(words) - 5
    fig.canvas.draw()
    plt.close("all")


def test_window_clipped_at_the_sentence_edge():
    fig = skipgram_window(["a", "b", "c"], centre=0, window=2, negatives=["x"])
    fills = [to_hex(p.get_facecolor()) for p in fig.axes[0].patches if hasattr(p, "get_boxstyle")]
    assert fills.count(PALETTE["data"]) == 2
    plt.close("all")


@pytest.mark.parametrize("centre, window", [(5, 2), (-1, 2), (1, 0)])
def test_bad_input_is_refused(centre, window):
    with pytest.raises(ValueError):
        skipgram_window(["a", "b", "c"], centre=centre, window=window)


def test_alt_text_names_the_parts():
    assert "window" in ALT_TEXT and "negative" in ALT_TEXT
