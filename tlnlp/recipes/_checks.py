"""Checks the recipes run once on their inputs, so a mistake fails at the call, not deep in torch."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


def check_token_stream(data: Any, model: nn.Module, name: str, block_size: int | None = None) -> None:
    """Refuse a token stream the model cannot read: not a 1-D integer tensor, ids outside the
    model's vocabulary (an ``IndexError`` inside the embedding otherwise), or too short for one block.

    Example:
        >>> check_token_stream(torch.arange(10), nn.Embedding(8, 2), "train_data")
        Traceback (most recent call last):
        ...
        ValueError: train_data holds token id 9, but the model's embedding has 8 rows (ids 0..7): encode with the tokenizer the model was built for, or build the model with vocab_size >= 10
    """
    if not isinstance(data, Tensor):
        raise TypeError(f"{name} must be a 1-D torch tensor of token ids, got {type(data).__name__}: e.g. torch.tensor(vocab.pack(texts))")
    if data.dim() != 1 or data.dtype.is_floating_point or data.dtype == torch.bool:
        raise ValueError(f"{name} must be a 1-D integer tensor of token ids, got shape {tuple(data.shape)} and {data.dtype}")
    if block_size is not None and len(data) < block_size + 1:
        raise ValueError(
            f"{name} has {len(data)} tokens, fewer than one block of {block_size} plus its next-token target: "
            "give more text or a smaller block_size"
        )
    embedding = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
    if embedding is None or len(data) == 0:
        return
    low, high = int(data.min()), int(data.max())
    if low < 0:
        raise ValueError(f"{name} holds token id {low}: ids must be >= 0")
    if high >= embedding.num_embeddings:
        raise ValueError(
            f"{name} holds token id {high}, but the model's embedding has {embedding.num_embeddings} rows "
            f"(ids 0..{embedding.num_embeddings - 1}): encode with the tokenizer the model was built for, "
            f"or build the model with vocab_size >= {high + 1}"
        )
