"""Batches for causal language modelling from one long 1-D tensor of token ids.

A causal LM learns to predict token ``t + 1`` from tokens ``0..t``. From a corpus packed into
one tensor, a training example is any contiguous block ``x = data[i : i + T]`` with targets
``y = data[i + 1 : i + T + 1]``: the same block shifted by one, so every position is a
prediction.

>>> data = torch.arange(10)
>>> x, y = get_batch(data, block_size=4, batch_size=2, generator=torch.Generator().manual_seed(0))
>>> bool((y[:, :-1] == x[:, 1:]).all())
True
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor


def split_train_val(data: Tensor, train_fraction: float = 0.9) -> tuple[Tensor, Tensor]:
    """The first ``train_fraction`` of ``data`` and the rest (nanoGPT's contiguous split).

    A contiguous split keeps validation text unseen: a random split of blocks would put
    neighbouring, overlapping text in both halves.

    Example:
        >>> [len(t) for t in split_train_val(torch.arange(10))]
        [9, 1]
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be strictly between 0 and 1, got {train_fraction}")
    n = int(train_fraction * len(data))
    return data[:n], data[n:]


def get_batch(
    data: Tensor,
    block_size: int,
    batch_size: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """``batch_size`` random blocks ``x`` of ``block_size`` tokens and their next tokens ``y``.

    Arguments:
        data: 1-D tensor of token ids.
        block_size: tokens per example (the model's context length).
        batch_size: examples per batch.
        generator: a seeded CPU :class:`torch.Generator` makes the batches reproducible.
        device: where to put ``x`` and ``y``.

    Returns:
        ``x`` and ``y``, both ``(batch_size, block_size)`` long tensors, with
        ``y[b, t] == data[i_b + t + 1]`` when ``x[b, t] == data[i_b + t]``.

    Example:
        >>> x, y = get_batch(torch.arange(100), 8, 4, torch.Generator().manual_seed(1))
        >>> bool((y == x + 1).all())
        True
    """
    if data.dim() != 1:
        raise ValueError(f"data must be a 1-D tensor of token ids, got shape {tuple(data.shape)}")
    if len(data) <= block_size:
        raise ValueError(
            f"data has {len(data)} tokens, too few for a block of {block_size} plus its next token; "
            "use a shorter block_size or more text"
        )
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[i : i + block_size] for i in starts.tolist()])
    y = torch.stack([data[i + 1 : i + 1 + block_size] for i in starts.tolist()])
    if device is not None:
        x, y = x.to(device), y.to(device)
    return x, y


def iter_blocks(data: Tensor, block_size: int, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Every non-overlapping block of ``data`` once, in order, as ``(x, y)`` batches.

    Used for an exact (noise-free) validation loss: each token except the first is predicted
    exactly once. The last batch may be smaller; a final partial block is dropped.

    Example:
        >>> [tuple(x.shape) for x, _ in iter_blocks(torch.arange(11), block_size=3, batch_size=2)]
        [(2, 3), (1, 3)]
    """
    n_blocks = (len(data) - 1) // block_size
    if n_blocks == 0:
        raise ValueError(f"data has {len(data)} tokens, fewer than one block of {block_size} + 1")
    x_all = data[: n_blocks * block_size].view(n_blocks, block_size)
    y_all = data[1 : n_blocks * block_size + 1].view(n_blocks, block_size)
    for start in range(0, n_blocks, batch_size):
        yield x_all[start : start + batch_size], y_all[start : start + batch_size]


class LMBatches:
    """Random blocks of a token stream as ``{"input_ids", "labels"}`` batches, ``n_batches`` per pass.

    ``labels`` is ``input_ids`` shifted by one token (:func:`get_batch`), so a language model
    that returns its loss (:class:`~tlnlp.models.LSTMLanguageModel`) trains on these batches
    with :func:`tlnlp.train.fit` directly. The blocks come from a generator seeded with
    ``seed``: two runs with the same seed see the same batches.

    Arguments:
        data: 1-D token ids (e.g. :meth:`tlnlp.text.Vocab.pack`).
        block_size: tokens per block (the truncated-BPTT length; 70 in ULMFiT).
        batch_size: blocks per batch.
        n_batches: batches per pass (``len()`` of the loader).
        seed: seeds the block positions.

    Example:
        >>> loader = LMBatches(torch.arange(100), block_size=8, batch_size=4, n_batches=3)
        >>> batch = next(iter(loader))
        >>> len(loader), tuple(batch["input_ids"].shape), bool((batch["labels"] == batch["input_ids"] + 1).all())
        (3, (4, 8), True)
    """

    def __init__(self, data: Tensor, block_size: int, batch_size: int, n_batches: int, seed: int = 0) -> None:
        if n_batches < 1:
            raise ValueError(f"n_batches must be >= 1, got {n_batches}")
        self.data, self.block_size, self.batch_size, self.n_batches = data, block_size, batch_size, n_batches
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        for _ in range(self.n_batches):
            x, y = get_batch(self.data, self.block_size, self.batch_size, self.generator)
            yield {"input_ids": x, "labels": y}
