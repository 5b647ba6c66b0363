"""BERT's masked-language-model corruption: choose 15 %, then 80 / 10 / 10.

:func:`mask_tokens` picks each ordinary token (not ``[CLS]``, ``[SEP]``, ``[PAD]``, ...)
with probability ``mlm_probability``; of the picked tokens 80 % become ``[MASK]``, 10 %
a random ordinary token and 10 % stay as they are. The labels hold the original ids at
the picked positions and ``-100`` (ignored by PyTorch's cross-entropy) everywhere else:

>>> import torch
>>> ids = SpecialTokenIds(mask_id=4, vocab_size=100, special_ids=frozenset({0, 1, 2, 3, 4}))
>>> x = torch.tensor([[1, 10, 11, 12, 13, 14, 15, 16, 17, 2]])
>>> masked, labels = mask_tokens(x, ids, mlm_probability=0.5, generator=torch.Generator().manual_seed(0))
>>> bool(((labels == -100) | (labels == x)).all())  # a label is -100 or the original id
True
>>> int(labels[0, 0]), int(labels[0, -1])  # [CLS] and [SEP] are never chosen
(-100, -100)

References:
    Devlin et al. (2019), *BERT: Pre-training of Deep Bidirectional Transformers for
    Language Understanding*, section 3.1 and appendix C.2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

IGNORE_INDEX = -100
"""The label PyTorch's cross-entropy skips: every position that was not chosen."""


class MaskingError(ValueError):
    """Invalid input to :func:`mask_tokens` (probabilities, shapes, a vocabulary without ``[MASK]``)."""


@dataclass(frozen=True)
class SpecialTokenIds:
    """What :func:`mask_tokens` needs to know about a vocabulary.

    Attributes:
        mask_id: the id of ``[MASK]``.
        vocab_size: number of ids; random replacements are drawn from ``range(vocab_size)``.
        special_ids: ids never chosen for masking and never drawn as random replacements
            (``[CLS]``, ``[SEP]``, ``[PAD]``, ``[UNK]``, ``[MASK]`` ...).
        pad_id: the id of ``[PAD]`` (needed by the collator that pads batches), or ``None``.

    Example:
        >>> SpecialTokenIds(mask_id=103, vocab_size=30522, special_ids=frozenset({0, 100, 101, 102, 103})).mask_id
        103
    """

    mask_id: int
    vocab_size: int
    special_ids: frozenset[int]
    pad_id: int | None = None

    def __post_init__(self) -> None:
        for name in ("mask_id", "pad_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.vocab_size:
                raise MaskingError(f"{name} {value} is outside the vocabulary range(0, {self.vocab_size})")
        extra = {i for i in (self.mask_id, self.pad_id) if i is not None}
        object.__setattr__(self, "special_ids", frozenset(self.special_ids) | extra)
        if sum(1 for i in self.special_ids if 0 <= i < self.vocab_size) >= self.vocab_size:
            raise MaskingError("every id of the vocabulary is special: nothing is left to mask or to draw")

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> "SpecialTokenIds":
        """Read ``[MASK]``, the vocabulary size and the special ids from a Hugging Face tokenizer.

        Raises:
            MaskingError: if the tokenizer has no mask token (GPT-2's, for instance).

        Example:
            >>> from transformers import AutoTokenizer  # doctest: +SKIP
            >>> SpecialTokenIds.from_tokenizer(AutoTokenizer.from_pretrained("bert-base-uncased")).mask_id  # doctest: +SKIP
            103
        """
        mask_id = getattr(tokenizer, "mask_token_id", None)
        if mask_id is None:
            raise MaskingError(
                f"{type(tokenizer).__name__} has no mask token, so it cannot be used for masked-language "
                "modelling; use a BERT-style tokenizer or pass SpecialTokenIds(mask_id=..., ...) explicitly"
            )
        pad_id = getattr(tokenizer, "pad_token_id", None)
        return cls(
            mask_id=int(mask_id),
            vocab_size=len(tokenizer),
            special_ids=frozenset(tokenizer.all_special_ids),
            pad_id=None if pad_id is None else int(pad_id),
        )


def _as_special_ids(tokenizer_or_special_ids: Any) -> SpecialTokenIds:
    if isinstance(tokenizer_or_special_ids, SpecialTokenIds):
        return tokenizer_or_special_ids
    return SpecialTokenIds.from_tokenizer(tokenizer_or_special_ids)


def _check_probability(name: str, value: float, *, closed: bool) -> None:
    ok = 0.0 <= value <= 1.0 if closed else 0.0 < value < 1.0
    if not ok:
        interval = "[0, 1]" if closed else "the open interval (0, 1)"
        raise MaskingError(f"{name} must lie in {interval}, got {value!r}")


def _check_mask_shape(name: str, mask: Any, input_ids: torch.Tensor) -> torch.Tensor:
    mask = torch.as_tensor(mask, device=input_ids.device)
    if mask.shape != input_ids.shape:
        raise MaskingError(
            f"{name} has shape {tuple(mask.shape)} but input_ids has shape {tuple(input_ids.shape)}; "
            "they must match position for position"
        )
    return mask.bool()


def mask_tokens(
    input_ids: torch.Tensor,
    tokenizer_or_special_ids: Any,
    *,
    mlm_probability: float = 0.15,
    generator: torch.Generator | None = None,
    attention_mask: torch.Tensor | None = None,
    special_tokens_mask: torch.Tensor | None = None,
    mask_replace_prob: float = 0.8,
    random_replace_prob: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt a batch for masked-language modelling the way BERT does.

    Each position that is neither special nor padding is chosen independently with
    probability ``mlm_probability``. A chosen position becomes ``[MASK]`` with probability
    ``mask_replace_prob``, a uniformly drawn non-special token with probability
    ``random_replace_prob``, and keeps its token otherwise (80 / 10 / 10 by default).
    ``input_ids`` is not modified.

    Arguments:
        input_ids: integer ids of any shape, usually ``(batch, length)``.
        tokenizer_or_special_ids: a Hugging Face tokenizer with a mask token, or a
            :class:`SpecialTokenIds`.
        mlm_probability: the share of eligible positions to choose, in ``(0, 1)``.
        generator: a seeded ``torch.Generator`` for a reproducible mask (on the device of
            ``input_ids``); ``None`` uses torch's global generator.
        attention_mask: 1 for real tokens, 0 for padding; padding is never chosen.
        special_tokens_mask: 1 for positions that must never be chosen, in addition to the
            special ids of the vocabulary.
        mask_replace_prob: share of chosen positions replaced by ``[MASK]``.
        random_replace_prob: share of chosen positions replaced by a random token;
            the two must sum to at most 1 (the rest keep their token).

    Returns:
        ``(masked_input_ids, labels)``: a new tensor with the corruption applied, and the
        original ids at chosen positions with :data:`IGNORE_INDEX` (-100) elsewhere.

    Raises:
        MaskingError: for a probability out of range, a mask whose shape differs from
            ``input_ids``, non-integer ids, ids outside the vocabulary or a tokenizer
            without a mask token.

    Example:
        >>> ids = SpecialTokenIds(mask_id=1, vocab_size=50, special_ids=frozenset({0, 1}))
        >>> x = torch.arange(2, 50).reshape(4, 12)
        >>> masked, labels = mask_tokens(x, ids, generator=torch.Generator().manual_seed(0))
        >>> chosen = labels != IGNORE_INDEX
        >>> torch.equal(masked[~chosen], x[~chosen])  # positions not chosen are untouched
        True
    """
    special = _as_special_ids(tokenizer_or_special_ids)
    _check_probability("mlm_probability", mlm_probability, closed=False)
    _check_probability("mask_replace_prob", mask_replace_prob, closed=True)
    _check_probability("random_replace_prob", random_replace_prob, closed=True)
    if mask_replace_prob + random_replace_prob > 1.0 + 1e-12:
        raise MaskingError(
            f"mask_replace_prob + random_replace_prob must be at most 1, got "
            f"{mask_replace_prob} + {random_replace_prob} = {mask_replace_prob + random_replace_prob}"
        )
    input_ids = torch.as_tensor(input_ids)
    if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool or input_ids.is_complex():
        raise MaskingError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
    if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= special.vocab_size):
        raise MaskingError(
            f"input_ids must lie in range(0, {special.vocab_size}) (the vocabulary), "
            f"got values from {int(input_ids.min())} to {int(input_ids.max())}"
        )

    device = input_ids.device
    special_list = torch.tensor(sorted(special.special_ids), dtype=input_ids.dtype, device=device)
    eligible = ~torch.isin(input_ids, special_list)
    if attention_mask is not None:
        eligible &= _check_mask_shape("attention_mask", attention_mask, input_ids)
    if special_tokens_mask is not None:
        eligible &= ~_check_mask_shape("special_tokens_mask", special_tokens_mask, input_ids)

    chosen = (torch.rand(input_ids.shape, generator=generator, device=device) < mlm_probability) & eligible
    # One uniform per position splits the chosen ones into [MASK] / random / keep.
    split = torch.rand(input_ids.shape, generator=generator, device=device)
    to_mask = chosen & (split < mask_replace_prob)
    to_random = chosen & (split >= mask_replace_prob) & (split < mask_replace_prob + random_replace_prob)

    # Random replacements come from the ordinary (non-special) ids only.
    ordinary = torch.ones(special.vocab_size, dtype=torch.bool, device=device)
    ordinary[special_list[(special_list >= 0) & (special_list < special.vocab_size)]] = False
    ordinary_ids = torch.nonzero(ordinary).squeeze(1).to(input_ids.dtype)
    draws = torch.randint(len(ordinary_ids), input_ids.shape, generator=generator, device=device)

    masked = input_ids.clone()
    masked[to_mask] = special.mask_id
    masked[to_random] = ordinary_ids[draws[to_random]]
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[chosen] = input_ids[chosen]
    return masked, labels
