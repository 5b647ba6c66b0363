"""tlnlp.lm.NGramLM against counts made independently with collections.Counter."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from tlnlp.lm import NGramLM


def counted_loss(train: list[int], test: list[int], n: int, V: int) -> float:
    """Add-one smoothed n-gram loss by plain dictionaries, one position at a time."""
    pairs = Counter(tuple(train[i : i + n]) for i in range(len(train) - n + 1))
    contexts = Counter(tuple(train[i : i + n - 1]) for i in range(len(train) - n + 1))
    logs = [math.log((pairs[tuple(test[i : i + n])] + 1) / (contexts[tuple(test[i : i + n - 1])] + V))
            for i in range(len(test) - n + 1)]
    return -sum(logs) / len(logs)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_the_loss_matches_counting_by_hand_on_seen_and_unseen_text(n: int) -> None:
    rng = np.random.default_rng(n)
    V = 7
    train = rng.integers(0, V, 400).tolist()
    test = rng.integers(0, V, 120).tolist()  # many of its 5-grams were never seen
    model = NGramLM(n, vocab_size=V).fit(torch.tensor(train))
    assert model.loss(test) == pytest.approx(counted_loss(train, test, n, V), rel=1e-12)
    assert model.loss(np.array(train)) == pytest.approx(counted_loss(train, train, n, V), rel=1e-12)


@pytest.mark.parametrize("context", [[2, 3], [6, 6]])
def test_each_context_gives_a_distribution_over_the_vocabulary(context: list[int]) -> None:
    model = NGramLM(3, vocab_size=7).fit([2, 3, 4, 2, 3, 5, 2, 3, 4, 1, 0])  # (6, 6) is never seen
    total = sum(model.probability(context, token) for token in range(7))
    assert total == pytest.approx(1.0, abs=1e-12)


def test_an_unseen_context_is_uniform_and_a_seen_pair_is_counted() -> None:
    model = NGramLM(2, vocab_size=4).fit([0, 1, 0, 1, 0, 2])
    assert model.probability([3], 0) == pytest.approx(1 / 4)
    assert model.probability([0], 1) == pytest.approx((2 + 1) / (3 + 4))


def test_more_context_fits_the_training_text_better() -> None:
    rng = np.random.default_rng(0)
    train = rng.integers(0, 5, 3000)
    losses = [NGramLM(n, 5).fit(train).loss(train) for n in (1, 2, 3, 4)]
    assert all(a > b for a, b in zip(losses, losses[1:]))


def test_bad_input_is_refused_with_what_to_do() -> None:
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        NGramLM(0, 5)
    with pytest.raises(ValueError, match="does not fit the int64 codes"):
        NGramLM(8, 300)
    with pytest.raises(RuntimeError, match=r"call \.fit\(train_ids\) first"):
        NGramLM(2, 5).loss([0, 1, 2])
    model = NGramLM(3, 5)
    with pytest.raises(ValueError, match="token id 9 is outside 0..4"):
        model.fit([0, 1, 9])
    with pytest.raises(ValueError, match="at least 3 tokens, got 2"):
        model.fit([0, 1])
    with pytest.raises(ValueError, match="1-D sequence of ints"):
        model.fit(np.array([[0, 1, 2]]))
    with pytest.raises(ValueError, match="needs a context of 2 ids, got 1"):
        model.fit([0, 1, 2, 3]).probability([1], 2)
