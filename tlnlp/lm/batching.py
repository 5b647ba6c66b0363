"""Batches for causal language modelling from one long 1-D tensor of token ids.

:func:`get_batch` and :func:`iter_blocks` give ``(x, y)`` tensors; :class:`RandomBlocks` and
:class:`SequentialBlocks` give the same blocks as the dict batches :func:`tlnlp.train.fit` reads.

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

import operator
from typing import Any, Iterator

import torch
from torch import Tensor


def _check_data(data: Any) -> None:
    if not isinstance(data, Tensor):
        raise TypeError(
            f"data must be a 1-D torch tensor of token ids, got {type(data).__name__}; "
            "convert it with torch.as_tensor(ids, dtype=torch.long) or build it with a tokenizer's pack()"
        )
    if data.dim() != 1:
        raise ValueError(f"data must be a 1-D tensor of token ids, got shape {tuple(data.shape)}; flatten it with data.view(-1)")
    if data.is_floating_point() or data.is_complex() or data.dtype == torch.bool:
        raise TypeError(f"data must hold integer token ids, got dtype {data.dtype}; convert it with data.long()")


def _check_sizes(**sizes: Any) -> None:
    for name, value in sizes.items():
        try:
            ok = not isinstance(value, bool) and operator.index(value) >= 1
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")


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
    if n == 0 or n == len(data):
        raise ValueError(
            f"split_train_val(): {len(data)} tokens split at train_fraction={train_fraction} leave "
            f"{n} for training and {len(data) - n} for validation; give more text or another fraction"
        )
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
    _check_data(data)
    _check_sizes(block_size=block_size, batch_size=batch_size)
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
    _check_data(data)
    _check_sizes(block_size=block_size, batch_size=batch_size)
    n_blocks = (len(data) - 1) // block_size
    if n_blocks == 0:
        raise ValueError(
            f"data has {len(data)} tokens, fewer than one block of {block_size} + 1; use a shorter block_size or more text"
        )
    x_all = data[: n_blocks * block_size].view(n_blocks, block_size)
    y_all = data[1 : n_blocks * block_size + 1].view(n_blocks, block_size)
    for start in range(0, n_blocks, batch_size):
        yield x_all[start : start + batch_size], y_all[start : start + batch_size]


class RandomBlocks:
    """nanoGPT's random blocks as dict batches ``{"input_ids", "labels"}`` for :func:`tlnlp.train.fit`.

    Each batch is :func:`get_batch`: ``batch_size`` blocks of ``block_size`` tokens from random
    positions of ``data``, labelled with the next tokens (the GPT's ``labels`` convention). The
    generator is seeded once, when the source is built, so iterating again continues the same
    stream of batches instead of repeating it: evaluating with the same source every few hundred
    steps draws new batches each time, as nanoGPT's ``estimate_loss`` does.

    Arguments:
        data: 1-D tensor of token ids.
        block_size: tokens per block.
        batch_size: blocks per batch.
        num_batches: batches per pass (then ``len()`` is defined); ``None`` (the training
            source) never ends: give ``fit`` a ``max_steps``.
        seed: seeds the batch order.

    Introduced in chapter 4.

    Example:
        >>> source = RandomBlocks(torch.arange(100), block_size=8, batch_size=4, num_batches=2, seed=0)
        >>> [tuple(b["input_ids"].shape) for b in source], len(source)
        ([(4, 8), (4, 8)], 2)
        >>> b = next(iter(source)); bool((b["labels"] == b["input_ids"] + 1).all())
        True
    """

    def __init__(
        self, data: Tensor, block_size: int, batch_size: int, num_batches: int | None = None, seed: int = 0
    ) -> None:
        _check_data(data)
        _check_sizes(block_size=block_size, batch_size=batch_size)
        if len(data) <= block_size:  # fail here, not at the first step
            get_batch(data, block_size, batch_size)
        if num_batches is not None and num_batches < 1:
            raise ValueError(f"num_batches must be >= 1 or None (endless), got {num_batches}")
        self.data, self.block_size, self.batch_size, self.num_batches = data, block_size, batch_size, num_batches
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        if self.num_batches is None:
            raise TypeError("an endless RandomBlocks (num_batches=None) has no length; fit() needs max_steps")
        return self.num_batches

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        count = 0
        while self.num_batches is None or count < self.num_batches:
            x, y = get_batch(self.data, self.block_size, self.batch_size, self.generator)
            yield {"input_ids": x, "labels": y}
            count += 1


class SequentialBlocks:
    """Every non-overlapping block of ``data`` once, in order, as dict batches ``{"input_ids", "labels"}``.

    :func:`iter_blocks` for :func:`tlnlp.train.fit` and :func:`tlnlp.train.evaluate`: as an
    ``eval_loader`` it gives the exact validation loss (each token except the first predicted
    once), the number :func:`tlnlp.lm.evaluate_loss` computes.

    Introduced in chapter 4.

    Example:
        >>> [b["input_ids"].shape[0] for b in SequentialBlocks(torch.arange(11), block_size=3, batch_size=2)]
        [2, 1]
    """

    def __init__(self, data: Tensor, block_size: int, batch_size: int = 32) -> None:
        _check_data(data)
        _check_sizes(block_size=block_size, batch_size=batch_size)
        self.data, self.block_size, self.batch_size = data, block_size, batch_size
        n_blocks = (len(data) - 1) // block_size
        if n_blocks == 0:
            raise ValueError(
                f"data has {len(data)} tokens, fewer than one block of {block_size} + 1; use a shorter block_size or more text"
            )
        self._len = -(-n_blocks // batch_size)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        for x, y in iter_blocks(self.data, self.block_size, self.batch_size):
            yield {"input_ids": x, "labels": y}
