"""Smoke tests for chapters 4 and 5's concept diagrams: they draw, and the masks mean what they say."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from tlnlp.diagrams.attention_masks import ALT_TEXT as MASK_ALT, attention_masks_figure, causal_mask
from tlnlp.diagrams.bert_input import ALT_TEXT as BERT_ALT, MASK_RULE, bert_input_figure


def test_causal_mask_is_lower_triangle_and_refuses_empty():
    m = causal_mask(5)
    assert all(m[t, s] == (s <= t) for t in range(5) for s in range(5))
    with pytest.raises(ValueError):
        causal_mask(0)


def test_attention_masks_figure_draws_one_cell_per_pair():
    fig = attention_masks_figure(["a", "b", "c"])
    assert [len(ax.patches) for ax in fig.axes] == [9, 9]
    assert MASK_ALT


def test_bert_input_figure_and_rule():
    assert np.isclose(sum(MASK_RULE.values()), 1.0)
    fig = bert_input_figure(["[CLS]", "a", "[SEP]", "b", "[SEP]"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "E_A" in texts and "E_B" in texts and "E_4" in texts
    assert BERT_ALT
    with pytest.raises(ValueError):
        bert_input_figure([])
