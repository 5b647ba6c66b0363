"""Smoke tests of chapters 6 and 7's concept diagrams: they draw, and say what they should."""

import matplotlib

matplotlib.use("Agg")

import pytest

from tlnlp.diagrams.fine_tuning import STRATEGIES, strategies_diagram, trained_parts
from tlnlp.diagrams.maml import maml_diagram


def test_trained_parts_match_each_strategy() -> None:
    L, k = 6, 2
    parts = {s: trained_parts(s, L, k) for s in STRATEGIES}
    assert all(len(p) == L + 2 and p[-1] == "new" for p in parts.values())  # embeddings, L layers, head
    assert parts["probe"][:-1] == ["frozen"] * (L + 1)
    assert parts["full"][:-1] == ["trained"] * (L + 1)
    assert parts["top-k"].count("trained") == k and parts["top-k"][-1 - k:-1] == ["trained"] * k
    assert parts["LoRA"].count("lora") == L and parts["LoRA"][0] == "frozen"
    with pytest.raises(ValueError, match="unknown strategy"):
        trained_parts("bitfit", L)


def test_diagrams_draw_every_part() -> None:
    fig = strategies_diagram(n_layers=3, top_k=1)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("new head") == len(STRATEGIES) and texts.count("BA") == 3
    fig = maml_diagram(inner_steps=4, tasks=2)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "4 steps" in texts and "task 2" in texts and "task 3" not in texts
    with pytest.raises(ValueError):
        maml_diagram(tasks=9)
