"""Chapter 1's transfer-pipeline diagram: it draws, the body's colour follows frozen/fine-tuned."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from tlnlp.diagrams.draw import PALETTE  # noqa: E402
from tlnlp.diagrams.transfer_pipeline import ALT_TEXT, transfer_pipeline  # noqa: E402


def _fills(fig):
    return {to_hex(p.get_facecolor()) for p in fig.axes[0].patches if hasattr(p, "get_boxstyle")}


def test_frozen_body_is_grey_and_fine_tuned_body_orange():
    frozen, tuned = transfer_pipeline(), transfer_pipeline(fine_tune=True)
    assert PALETTE["frozen"] in _fills(frozen) and PALETTE["frozen"] not in _fills(tuned)
    assert PALETTE["new"] in _fills(frozen) and PALETTE["new"] in _fills(tuned)
    frozen.canvas.draw()
    plt.close("all")


def test_alt_text_names_the_parts():
    for word in ("source", "body", "head", "frozen", "target"):
        assert word in ALT_TEXT
