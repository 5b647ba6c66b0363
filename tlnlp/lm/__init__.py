"""Causal language modelling for any LM in :mod:`tlnlp.models`: batching and measurement.

The counting baseline every neural LM must beat is :class:`NGramLM`. The tokenizers are in :mod:`tlnlp.text.tokenizers`, the training recipe in :mod:`tlnlp.recipes.gpt`.

>>> import torch
>>> from tlnlp.lm import get_batch
>>> x, y = get_batch(torch.arange(20), block_size=4, batch_size=2, generator=torch.Generator().manual_seed(0))
>>> x.shape
torch.Size([2, 4])
"""

from .batching import RandomBlocks, SequentialBlocks, get_batch, iter_blocks, split_train_val
from .ngram import NGramLM
from .metrics import NonFiniteLossError, block_losses, estimate_loss, evaluate_loss, perplexity, strided_perplexity

__all__ = [
    "NGramLM",
    "NonFiniteLossError",
    "RandomBlocks",
    "SequentialBlocks",
    "block_losses",
    "estimate_loss",
    "evaluate_loss",
    "get_batch",
    "iter_blocks",
    "perplexity",
    "split_train_val",
    "strided_perplexity",
]
