"""Pad NSP pairs into a batch and mask them on the fly for ``BertForPreTraining``.

The collator pads ``input_ids`` with ``[PAD]``, ``token_type_ids`` with 0 and builds the
``attention_mask``; then :func:`~tlnlp.pretraining.masking.mask_tokens` corrupts the real
tokens (never padding or special tokens). Masking at collation time draws a fresh mask
every time a pair is seen ("dynamic masking", Liu et al. 2019) instead of BERT's fixed
masks duplicated ten times.

>>> import torch
>>> from tlnlp.pretraining.masking import SpecialTokenIds
>>> from tlnlp.pretraining.nsp import NSPExample
>>> ids = SpecialTokenIds(mask_id=3, vocab_size=40, special_ids=frozenset({0, 1, 2}), pad_id=0)
>>> pairs = [NSPExample((1, 10, 2, 11, 2), (0, 0, 0, 1, 1), 0), NSPExample((1, 12, 13, 2, 14, 2), (0, 0, 0, 0, 1, 1), 1)]
>>> batch = BertPretrainingCollator(ids, seed=0)(pairs)
>>> batch["input_ids"].shape, batch["attention_mask"][0].tolist(), batch["next_sentence_label"].tolist()
(torch.Size([2, 6]), [1, 1, 1, 1, 1, 0], [0, 1])
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..models.output import Output
from .masking import IGNORE_INDEX, MaskingError, SpecialTokenIds, _as_special_ids, mask_tokens
from .nsp import NSPExample


class BertPretrainingCollator:
    """Turn a list of :class:`~tlnlp.pretraining.nsp.NSPExample` (or dicts) into a batch.

    Arguments:
        tokenizer_or_special_ids: a Hugging Face tokenizer with mask and pad tokens, or a
            :class:`~tlnlp.pretraining.masking.SpecialTokenIds` with ``pad_id`` set.
        mlm_probability: share of real tokens chosen for the MLM loss (BERT: 0.15).
        seed: seeds the collator's own ``torch.Generator``, so a run of batches is
            reproducible; ``None`` uses torch's global generator.
        pad_to_multiple_of: round the padded length up to a multiple of this.

    Returns (when called):
        A dict of ``LongTensor`` s of shape ``(batch, length)``: ``input_ids`` (masked),
        ``token_type_ids``, ``attention_mask``, ``labels`` (MLM targets, -100 off the chosen
        positions) and, when every example has one, ``next_sentence_label`` of shape ``(batch,)``.
        These are exactly the keyword arguments of ``BertForPreTraining.forward``.

    Example:
        >>> from torch.utils.data import DataLoader  # doctest: +SKIP
        >>> loader = DataLoader(pairs, batch_size=32, shuffle=True, collate_fn=BertPretrainingCollator(tokenizer, seed=0))  # doctest: +SKIP
    """

    def __init__(
        self,
        tokenizer_or_special_ids: Any,
        *,
        mlm_probability: float = 0.15,
        seed: int | None = None,
        pad_to_multiple_of: int | None = None,
    ) -> None:
        self.special = _as_special_ids(tokenizer_or_special_ids)
        if self.special.pad_id is None:
            raise MaskingError("the vocabulary has no pad token: give the tokenizer a [PAD] token or set SpecialTokenIds.pad_id")
        if not 0.0 < mlm_probability < 1.0:
            raise MaskingError(f"mlm_probability must lie in the open interval (0, 1), got {mlm_probability!r}")
        if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
            raise MaskingError(f"pad_to_multiple_of must be a positive int, got {pad_to_multiple_of!r}")
        self.mlm_probability = mlm_probability
        self.pad_to_multiple_of = pad_to_multiple_of
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def __call__(self, examples: Sequence[NSPExample | Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not examples:
            raise MaskingError("cannot collate an empty list of examples")
        rows = [self._as_dict(e) for e in examples]
        length = max(len(r["input_ids"]) for r in rows)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        n = len(rows)
        input_ids = torch.full((n, length), self.special.pad_id, dtype=torch.long)
        token_type_ids = torch.zeros((n, length), dtype=torch.long)
        attention_mask = torch.zeros((n, length), dtype=torch.long)
        for k, row in enumerate(rows):
            m = len(row["input_ids"])
            input_ids[k, :m] = torch.as_tensor(row["input_ids"], dtype=torch.long)
            token_type_ids[k, :m] = torch.as_tensor(row["token_type_ids"], dtype=torch.long)
            attention_mask[k, :m] = 1
        masked, labels = mask_tokens(
            input_ids,
            self.special,
            mlm_probability=self.mlm_probability,
            generator=self.generator,
            attention_mask=attention_mask,
        )
        batch = {
            "input_ids": masked,
            "token_type_ids": token_type_ids,
            "attention_mask": attention_mask,
            "labels": labels,
        }
        nsp = [r.get("next_sentence_label") for r in rows]
        if all(label is not None for label in nsp):
            batch["next_sentence_label"] = torch.tensor(nsp, dtype=torch.long)
        return batch

    @staticmethod
    def _as_dict(example: NSPExample | Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(example, NSPExample):
            return {
                "input_ids": example.input_ids,
                "token_type_ids": example.token_type_ids,
                "next_sentence_label": example.next_sentence_label,
            }
        if "input_ids" not in example:
            raise MaskingError(f"an example must have input_ids, got keys {sorted(example)}")
        row = dict(example)
        row.setdefault("token_type_ids", [0] * len(row["input_ids"]))
        if len(row["token_type_ids"]) != len(row["input_ids"]):
            raise MaskingError(
                f"token_type_ids has {len(row['token_type_ids'])} entries but input_ids has {len(row['input_ids'])}"
            )
        return row


class PretrainingLoss(NamedTuple):
    """What :func:`bert_pretraining_loss` returns (all tensors)."""

    loss: torch.Tensor
    """``mlm_loss + nsp_loss`` (just ``mlm_loss`` for a batch without NSP labels)."""
    mlm_loss: torch.Tensor
    """Mean cross-entropy over the chosen positions."""
    nsp_loss: torch.Tensor | None
    """Mean cross-entropy of IsNext / NotNext, or ``None`` without ``next_sentence_label``."""
    mlm_logits: torch.Tensor
    """``(n_chosen, vocab_size)`` scores at the chosen positions, in row-major order."""
    mlm_labels: torch.Tensor
    """``(n_chosen,)`` the original ids there."""
    nsp_logits: torch.Tensor
    """``(batch, 2)`` scores of IsNext (column 0) and NotNext (column 1)."""


def bert_pretraining_loss(model: Any, batch: Mapping[str, torch.Tensor]) -> PretrainingLoss:
    """BERT's pretraining loss, projecting onto the vocabulary only where tokens were chosen.

    ``BertForPreTraining(**batch)`` scores all ``batch x length`` positions against the
    whole vocabulary and then ignores the 85 % labelled -100; with a 30k vocabulary that
    projection is most of the compute of a small model. This function runs the same model
    (``model.bert``, ``model.cls.predictions``, ``model.cls.seq_relationship``) but gathers
    the chosen positions first, as the original TensorFlow code does; the loss is the same.

    Arguments:
        model: a ``transformers.BertForPreTraining``.
        batch: a :class:`BertPretrainingCollator` batch (``input_ids``, ``token_type_ids``,
            ``attention_mask``, ``labels`` and optionally ``next_sentence_label``).

    Returns:
        A :class:`PretrainingLoss`; back-propagate ``.loss``.

    Example:
        >>> out = bert_pretraining_loss(model, batch)  # doctest: +SKIP
        >>> out.loss.backward()  # doctest: +SKIP
        >>> (out.mlm_logits.argmax(-1) == out.mlm_labels).float().mean()  # MLM accuracy  # doctest: +SKIP
    """
    missing = [k for k in ("input_ids", "attention_mask", "labels") if k not in batch]
    if missing:
        raise MaskingError(f"the batch lacks {missing}; build it with BertPretrainingCollator")
    encoded = model.bert(
        input_ids=batch["input_ids"],
        token_type_ids=batch.get("token_type_ids"),
        attention_mask=batch["attention_mask"],
    )
    chosen = batch["labels"] != IGNORE_INDEX
    mlm_logits = model.cls.predictions(encoded.last_hidden_state[chosen])
    mlm_labels = batch["labels"][chosen]
    if mlm_labels.numel():
        mlm_loss = F.cross_entropy(mlm_logits, mlm_labels)
    else:  # nothing chosen in this batch: a zero that still back-propagates
        mlm_loss = encoded.last_hidden_state.sum() * 0.0
    nsp_logits = model.cls.seq_relationship(encoded.pooler_output)
    nsp_loss = None
    loss = mlm_loss
    if "next_sentence_label" in batch:
        nsp_loss = F.cross_entropy(nsp_logits, batch["next_sentence_label"])
        loss = mlm_loss + nsp_loss
    return PretrainingLoss(loss, mlm_loss, nsp_loss, mlm_logits, mlm_labels, nsp_logits)


class BertPretrainingObjective(nn.Module):
    """A ``BertForPreTraining`` that returns :func:`bert_pretraining_loss` as an :class:`~tlnlp.models.Output`.

    Wrapped this way, :func:`tlnlp.train.fit` trains the model on :class:`BertPretrainingCollator`
    batches with the gathered (fast) loss instead of the model's own, which projects every
    position onto the vocabulary. The output holds ``loss`` (MLM + NSP), ``logits`` (the MLM
    scores at the chosen positions), ``mlm_loss``, ``nsp_loss``, ``mlm_labels`` and ``nsp_logits``.

    Arguments:
        model: a ``transformers.BertForPreTraining`` (kept as ``.model``; its weights are this
            module's weights).

    Introduced in chapter 5.

    Example:
        >>> from transformers import BertConfig, BertForPreTraining
        >>> from tlnlp.pretraining.masking import SpecialTokenIds
        >>> from tlnlp.pretraining.nsp import NSPExample
        >>> bert = BertForPreTraining(BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=1,
        ...                                      num_attention_heads=2, intermediate_size=16))
        >>> ids = SpecialTokenIds(mask_id=3, vocab_size=40, special_ids=frozenset({0, 1, 2}), pad_id=0)
        >>> batch = BertPretrainingCollator(ids, seed=0)([NSPExample((1, 10, 2, 11, 12, 2), (0, 0, 0, 1, 1, 1), 0)] * 8)
        >>> out = BertPretrainingObjective(bert)(**batch)
        >>> bool(torch.isclose(out.loss, out.mlm_loss + out.nsp_loss))
        True
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        next_sentence_label: torch.Tensor | None = None,
    ) -> Output:
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        if token_type_ids is not None:
            batch["token_type_ids"] = token_type_ids
        if next_sentence_label is not None:
            batch["next_sentence_label"] = next_sentence_label
        out = bert_pretraining_loss(self.model, batch)
        return Output(
            logits=out.mlm_logits,
            loss=out.loss,
            mlm_loss=out.mlm_loss,
            nsp_loss=out.nsp_loss,
            mlm_labels=out.mlm_labels,
            nsp_logits=out.nsp_logits,
        )
