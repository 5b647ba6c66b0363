"""Pretraining objectives: BERT's masked-language model and next-sentence pairs.

>>> from tlnlp.pretraining import mask_tokens, make_nsp_examples, BertPretrainingCollator
"""

from .collate import BertPretrainingCollator, BertPretrainingObjective, PretrainingLoss, bert_pretraining_loss
from .masking import IGNORE_INDEX, MaskingError, SpecialTokenIds, mask_tokens
from .nsp import IS_NEXT, NOT_NEXT, NSPError, NSPExample, make_nsp_examples, tokenize_documents, truncate_pair
from .scores import HeldoutScores, fill_mask, heldout_scores

__all__ = [
    "IGNORE_INDEX",
    "IS_NEXT",
    "NOT_NEXT",
    "BertPretrainingCollator",
    "BertPretrainingObjective",
    "HeldoutScores",
    "MaskingError",
    "NSPError",
    "NSPExample",
    "PretrainingLoss",
    "SpecialTokenIds",
    "bert_pretraining_loss",
    "fill_mask",
    "heldout_scores",
    "make_nsp_examples",
    "mask_tokens",
    "tokenize_documents",
    "truncate_pair",
]
