"""tlnlp.models.sampling: the one sampling step of every language model."""

from __future__ import annotations

import pytest
import torch

from tlnlp.models.sampling import next_token, sample_tokens


def test_top_k_draws_only_the_k_best_with_their_renormalised_probabilities() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    draws = next_token(logits.repeat(20_000, 1), top_k=2, generator=torch.Generator().manual_seed(0)).flatten()
    assert set(draws.tolist()) == {0, 1}
    assert abs((draws == 0).float().mean().item() - 0.5 / 0.8) < 0.015  # 0.625, renormalised over the top 2


def test_temperature_sharpens_as_the_softmax_of_scaled_logits_says() -> None:
    logits = torch.tensor([[1.0, 0.0]])
    draws = next_token(logits.repeat(20_000, 1), temperature=0.5, generator=torch.Generator().manual_seed(1))
    expected = torch.softmax(logits / 0.5, -1)[0, 0].item()  # e^2 / (e^2 + 1) = 0.881
    assert abs((draws == 0).float().mean().item() - expected) < 0.01


def test_suppressed_ids_are_never_drawn_even_when_most_likely() -> None:
    logits = torch.tensor([[10.0, 0.0, 0.0]]).repeat(500, 1)
    assert (next_token(logits, suppress=(0,), generator=torch.Generator().manual_seed(2)) != 0).all()


def test_sampling_restores_training_mode_and_refuses_bad_settings() -> None:
    emb = torch.nn.Embedding(4, 4).train()
    sample_tokens(emb, lambda ids: emb(ids)[:, -1, :], torch.tensor([[1]]), 2)
    assert emb.training
    with pytest.raises(ValueError, match="temperature must be > 0"):
        sample_tokens(emb, lambda ids: emb(ids)[:, -1, :], torch.tensor([[1]]), 2, temperature=0.0)
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        next_token(torch.zeros(1, 4), top_k=0)
    with pytest.raises(ValueError, match="at least one token"):
        sample_tokens(emb, lambda ids: emb(ids)[:, -1, :], torch.zeros(1, 0, dtype=torch.long), 2)
