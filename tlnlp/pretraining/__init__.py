"""Pretraining objectives: BERT's masked-language model and next-sentence pairs.

>>> from tlnlp.pretraining import mask_tokens, make_nsp_examples, BertPretrainingCollator
"""

from .collate import BertPretrainingCollator, PretrainingLoss, bert_pretraining_loss
from .masking import IGNORE_INDEX, MaskingError, SpecialTokenIds, mask_tokens
from .nsp import IS_NEXT, NOT_NEXT, NSPError, NSPExample, make_nsp_examples, truncate_pair

__all__ = [
    "IGNORE_INDEX",
    "IS_NEXT",
    "NOT_NEXT",
    "BertPretrainingCollator",
    "MaskingError",
    "NSPError",
    "NSPExample",
    "PretrainingLoss",
    "SpecialTokenIds",
    "bert_pretraining_loss",
    "make_nsp_examples",
    "mask_tokens",
    "truncate_pair",
]
