"""What a BERT learned in pretraining: held-out MLM and NSP scores, and fill-in-the-blank.

:func:`heldout_scores` measures a ``BertForPreTraining`` on NSP pairs cut from held-out
documents with fixed seeds, so two models (untrained and pretrained) see exactly the same pairs
and masks; :func:`fill_mask` shows its top guesses for ``[MASK]`` positions.

Introduced in chapter 5.

>>> scores = heldout_scores(model, heldout_ids, tokenizer, max_length=64)  # doctest: +SKIP
>>> scores.mlm_loss, scores.nsp_accuracy  # doctest: +SKIP
(6.65, 0.507)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from .collate import BertPretrainingCollator, bert_pretraining_loss
from .nsp import make_nsp_examples

__all__ = ["HeldoutScores", "fill_mask", "heldout_scores"]


@dataclass
class HeldoutScores:
    """Scores of a pretraining model on held-out pairs (see :func:`heldout_scores`).

    Attributes:
        mlm_loss: mean cross-entropy (nats) at the masked positions.
        mlm_accuracy: share of masked positions whose top guess is the original token.
        nsp_accuracy: share of pairs whose IsNext / NotNext guess is right.
        masked_tokens: number of masked positions scored.
        pairs: number of pairs scored.
        token_nll: ``(masked_tokens,)`` the loss at each masked position, in order.
        targets: ``(masked_tokens,)`` the original token there.
    """

    mlm_loss: float
    mlm_accuracy: float
    nsp_accuracy: float
    masked_tokens: int
    pairs: int
    token_nll: torch.Tensor
    targets: torch.Tensor


def _device(model: torch.nn.Module, device: Any) -> torch.device:
    return next(model.parameters()).device if device is None else torch.device(device)


def heldout_scores(
    model: Any,
    documents: Sequence[Sequence[Sequence[int]]],
    tokenizer: Any,
    max_length: int,
    *,
    seed: int = 123,
    batch_size: int = 64,
    device: Any = None,
) -> HeldoutScores:
    """MLM loss and accuracy and NSP accuracy of a ``BertForPreTraining`` on held-out documents.

    The pairs (:func:`~tlnlp.pretraining.make_nsp_examples`) and the masks
    (:class:`~tlnlp.pretraining.BertPretrainingCollator`) are drawn with ``seed``, so every model
    scored with the same arguments sees the same inputs and a paired comparison is possible.

    Arguments:
        model: a ``transformers.BertForPreTraining`` (scored in inference mode).
        documents: held-out documents as lists of segments of token ids
            (:func:`~tlnlp.pretraining.tokenize_documents`).
        tokenizer: the BERT tokenizer the ids come from.
        max_length: the pair budget, as in pretraining.
        seed: seeds the pairs and the masks.
        batch_size: pairs per forward pass.
        device: where to run (default: the model's device).

    Returns:
        A :class:`HeldoutScores`.

    Example:
        >>> scores = heldout_scores(model, heldout_ids, tokenizer, max_length=64)  # doctest: +SKIP
    """
    device = _device(model, device)
    pairs = make_nsp_examples(documents, tokenizer, max_length=max_length, seed=seed)
    loader = DataLoader(pairs, batch_size=batch_size, collate_fn=BertPretrainingCollator(tokenizer, seed=seed))
    token_nll, targets, mlm_hits, nsp_hits, n_pairs = [], [], 0, 0, 0
    with torch.inference_mode():
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            out = bert_pretraining_loss(model, batch)
            token_nll.append(F.cross_entropy(out.mlm_logits, out.mlm_labels, reduction="none").cpu())
            targets.append(out.mlm_labels.cpu())
            mlm_hits += int((out.mlm_logits.argmax(-1) == out.mlm_labels).sum())
            nsp_hits += int((out.nsp_logits.argmax(-1) == batch["next_sentence_label"]).sum())
            n_pairs += len(batch["next_sentence_label"])
    nll, labels = torch.cat(token_nll).double(), torch.cat(targets)
    return HeldoutScores(
        mlm_loss=float(nll.mean()),
        mlm_accuracy=mlm_hits / len(labels),
        nsp_accuracy=nsp_hits / n_pairs,
        masked_tokens=len(labels),
        pairs=n_pairs,
        token_nll=nll,
        targets=labels,
    )


def fill_mask(model: Any, tokenizer: Any, sentences: Sequence[str], k: int = 5, device: Any = None) -> list[str]:
    """The ``k`` tokens a masked language model ranks highest at the ``[MASK]`` of each sentence.

    Arguments:
        model: a ``transformers.BertForPreTraining`` (its ``prediction_logits`` are read).
        tokenizer: its tokenizer.
        sentences: each with exactly one ``[MASK]`` (the tokenizer's mask token).
        k: guesses per sentence.
        device: where to run (default: the model's device).

    Returns:
        One string per sentence: the ``k`` guesses, best first, separated by spaces.

    Example:
        >>> fill_mask(mini_bert, tokenizer, ["The film was released in [MASK]."])  # doctest: +SKIP
        ['the , . of and']
    """
    counts = [s.count(tokenizer.mask_token) for s in sentences]
    if any(c != 1 for c in counts):
        bad = [s for s, c in zip(sentences, counts) if c != 1]
        raise ValueError(f"each sentence needs exactly one {tokenizer.mask_token}: {bad}")
    enc = tokenizer(list(sentences), padding=True, return_tensors="pt").to(_device(model, device))
    with torch.inference_mode():
        logits = model(**enc).prediction_logits
    top = logits[enc["input_ids"] == tokenizer.mask_token_id].topk(k, dim=-1).indices.cpu()
    return [" ".join(tokenizer.convert_ids_to_tokens(row)) for row in top]
