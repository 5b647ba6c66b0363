"""Causal language modelling: tokenizers, batching, training and evaluation.

Used with :class:`tlnlp.models.gpt.GPT`:

>>> import torch
>>> from tlnlp.lm import CharTokenizer, get_batch
>>> tok = CharTokenizer.from_text("to be or not to be")
>>> data = torch.tensor(tok.encode("to be or not to be"))
>>> x, y = get_batch(data, block_size=4, batch_size=2, generator=torch.Generator().manual_seed(0))
>>> x.shape
torch.Size([2, 4])
"""

from .batching import LMBatches, get_batch, iter_blocks, split_train_val
from .tokenization import END_OF_TEXT, BPETokenizer, CharTokenizer, UnknownCharacterError, load_or_train_bpe
from .text import detokenize_wikitext, wikitext_articles
from .training import (
    LMTrainConfig,
    estimate_loss,
    evaluate_loss,
    load_or_train_gpt,
    lr_at,
    make_optimizer,
    strided_perplexity,
    train_lm,
)

__all__ = [
    "END_OF_TEXT",
    "BPETokenizer",
    "CharTokenizer",
    "LMBatches",
    "LMTrainConfig",
    "UnknownCharacterError",
    "detokenize_wikitext",
    "estimate_loss",
    "evaluate_loss",
    "get_batch",
    "iter_blocks",
    "load_or_train_bpe",
    "load_or_train_gpt",
    "lr_at",
    "make_optimizer",
    "split_train_val",
    "strided_perplexity",
    "train_lm",
    "wikitext_articles",
]
