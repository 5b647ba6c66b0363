"""Sampling text from a language model, one token at a time: temperature, top-k, suppressed ids.

One loop serves every language model of the package (:meth:`tlnlp.models.gpt.GPT.generate`,
:meth:`tlnlp.models.lstm.LSTMLanguageModel.generate`); the model only says how to get the
next-token logits from the ids so far.

>>> logits = torch.tensor([[2.0, 1.0, 0.5, -1.0]])
>>> next_token(logits, top_k=1, generator=torch.Generator().manual_seed(0)).tolist()  # greedy
[[0]]
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["check_sampling", "next_token", "sample_tokens"]


def check_sampling(temperature: float, top_k: int | None) -> None:
    """Refuse settings that would sample nonsense or divide by zero (the message says the fix)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (use top_k=1 for greedy decoding), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1 or None, got {top_k}")


def next_token(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    suppress: tuple[int, ...] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """One sampled id per row of ``logits`` (``(B, V)`` -> ``(B, 1)``).

    The logits are divided by ``temperature``; the ids in ``suppress`` are never drawn; only the
    ``top_k`` highest-scoring ids are kept (all if None; ties with the k-th are kept); then one id
    is drawn from the softmax.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> draws = next_token(torch.zeros(1000, 5), top_k=None, suppress=(0, 4), generator=g)
        >>> sorted(set(draws.flatten().tolist()))
        [1, 2, 3]
    """
    check_sampling(temperature, top_k)
    logits = logits / temperature
    if suppress:
        logits[:, list(suppress)] = float("-inf")
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(F.softmax(logits, dim=-1), num_samples=1, generator=generator)


@torch.no_grad()
def sample_tokens(
    model: nn.Module,
    next_logits: Callable[[Tensor], Tensor],
    idx: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    suppress: tuple[int, ...] = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Extend ``idx`` (``(B, T)``) by ``max_new_tokens`` ids drawn with :func:`next_token`.

    Arguments:
        model: put in eval mode while sampling (no dropout) and restored afterwards.
        next_logits: maps the ids so far, ``(B, T')``, to the next token's logits ``(B, V)``.
        idx: the prompt, with at least one token per row.
        max_new_tokens, temperature, top_k, suppress, generator: see :func:`next_token`.

    Returns:
        ``(B, T + max_new_tokens)`` ids, the prompt first.

    Example:
        >>> emb = nn.Embedding(4, 4)
        >>> out = sample_tokens(emb, lambda ids: emb(ids)[:, -1, :], torch.tensor([[1]]), 3,
        ...                     generator=torch.Generator().manual_seed(0))
        >>> out.shape
        torch.Size([1, 4])
    """
    check_sampling(temperature, top_k)
    if idx.ndim != 2 or idx.size(1) < 1:
        raise ValueError(f"idx must be (batch, time) with at least one token, got shape {tuple(idx.shape)}")
    was_training = model.training
    model.eval()
    try:
        for _ in range(max_new_tokens):
            step = next_token(next_logits(idx), temperature, top_k, suppress, generator)
            idx = torch.cat([idx, step], dim=1)
    finally:
        model.train(was_training)
    return idx
