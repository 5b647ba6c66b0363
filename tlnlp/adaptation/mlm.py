"""Masked-language-model continued pretraining ("domain-adaptive pretraining") for any encoder.

Gururangan et al. (2020) keep pretraining a pretrained encoder with its masked-LM objective
on *unlabelled text of the target domain* before fine-tuning it on the task. An encoder such as
the book's MiniLM ships without its MLM head (``AutoModel`` loads the body only), so
:func:`add_mlm_head` gives it a fresh one, BERT's shape: a dense layer, GELU and layer norm,
then an output layer whose weight matrix **is** the encoder's word-embedding matrix (tied, not
copied) plus a bias per word. :func:`continue_pretraining` trains body and head with
:func:`tlnlp.train.fit` on texts masked on the fly by BERT's 80/10/10 rule
(:func:`tlnlp.pretraining.masking.mask_tokens`); the encoder is updated in place and can be
fine-tuned or used for features afterwards like any other.

- :func:`add_mlm_head` ``(encoder) -> MaskedLanguageModel``;
- :class:`MaskedTextCollator`: texts -> padded, masked batches;
- :func:`continue_pretraining` ``(encoder, texts, steps=...) -> MLMRun``;
- :func:`masked_lm_loss`: the mean masked-token loss on held-out texts (a fixed mask).

Introduced in the chapter on domain adaptation; chapter 5 uses the head to let MiniLM fill masks.

>>> from tlnlp.models import load_encoder
>>> encoder = load_encoder("minilm")
>>> mlm = add_mlm_head(encoder)
>>> mlm.head.decoder_weight is encoder.model.get_input_embeddings().weight  # tied, not copied
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..models.output import Output
from ..pretraining.masking import IGNORE_INDEX, SpecialTokenIds, mask_tokens
from ..train import History, fit

__all__ = [
    "MLMHead",
    "MLMRun",
    "MaskedLanguageModel",
    "MaskedTextCollator",
    "add_mlm_head",
    "continue_pretraining",
    "masked_lm_loss",
]


class MLMHead(nn.Module):
    """BERT's masked-LM head on hidden states, its output layer tied to the word embeddings.

    ``logits = LayerNorm(GELU(hidden @ W + b)) @ E.T + bias`` where ``E`` is ``word_embeddings.weight``
    (shared with the encoder: training either one trains both).

    Arguments:
        word_embeddings: the encoder's input embedding (``(vocab, dim)``).
        hidden_size: width of the encoder's hidden states.
        layer_norm_eps: the layer norm's epsilon (BERT: 1e-12).

    Example:
        >>> emb = nn.Embedding(10, 4)
        >>> MLMHead(emb, hidden_size=6)(torch.zeros(2, 6)).shape
        torch.Size([2, 10])
    """

    def __init__(self, word_embeddings: nn.Embedding, hidden_size: int, layer_norm_eps: float = 1e-12) -> None:
        super().__init__()
        if not isinstance(word_embeddings, nn.Embedding):
            raise TypeError(f"word_embeddings must be a torch.nn.Embedding, got {type(word_embeddings).__name__}")
        vocab, dim = word_embeddings.weight.shape
        self.dense = nn.Linear(hidden_size, dim)
        self.norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.word_embeddings = [word_embeddings]  # a list, so the shared matrix is not registered twice
        self.bias = nn.Parameter(torch.zeros(vocab))

    @property
    def decoder_weight(self) -> nn.Parameter:
        """The output layer's weight: the encoder's word-embedding matrix itself."""
        return self.word_embeddings[0].weight

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        h = self.norm(nn.functional.gelu(self.dense(hidden)))
        return nn.functional.linear(h, self.decoder_weight, self.bias)


class MaskedLanguageModel(nn.Module):
    """An encoder (a Hugging Face base model) plus an :class:`MLMHead`, trainable by :func:`tlnlp.train.fit`.

    ``forward(input_ids, attention_mask, labels)`` returns an :class:`~tlnlp.models.Output`.
    Without ``labels``, ``logits`` scores every position: ``(batch, length, vocab)``. With
    ``labels`` (the original ids at masked positions, -100 elsewhere) only the masked positions
    are scored, to save the memory of a full ``(batch, length, vocab)`` tensor: ``logits`` is
    ``(masked positions, vocab)`` and ``loss`` their mean cross-entropy.

    Example:
        >>> from tlnlp.models import load_encoder
        >>> mlm = add_mlm_head(load_encoder("minilm"))
        >>> mlm(torch.tensor([[101, 103, 102]])).logits.shape
        torch.Size([1, 3, 30522])
    """

    def __init__(self, encoder_model: nn.Module, head: MLMHead) -> None:
        super().__init__()
        self.encoder = encoder_model
        self.head = head

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> Output:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        if labels is None:
            return Output(logits=self.head(hidden))
        chosen = labels != IGNORE_INDEX
        logits = self.head(hidden[chosen])
        if logits.shape[0] == 0:  # nothing masked in this batch: a zero loss that still has a graph
            return Output(logits=logits, loss=hidden.sum() * 0.0)
        return Output(logits=logits, loss=nn.functional.cross_entropy(logits.float(), labels[chosen]))


def _parts(encoder: Any) -> tuple[nn.Module, Any]:
    model, tokenizer = getattr(encoder, "model", None), getattr(encoder, "tokenizer", None)
    if not isinstance(model, nn.Module) or tokenizer is None:
        raise TypeError(
            f"expected a tlnlp.models.Encoder (with .model and .tokenizer), got {type(encoder).__name__}; "
            "load one with tlnlp.models.load_encoder(...)"
        )
    return model, tokenizer


def add_mlm_head(encoder: Any) -> MaskedLanguageModel:
    """A fresh masked-LM head on ``encoder`` (a :class:`tlnlp.models.Encoder`), tied to its word embeddings.

    The encoder's model is shared, not copied: training the result trains ``encoder.model``.

    Raises:
        tlnlp.pretraining.MaskingError: the tokenizer has no mask token (e.g. GPT-2's), so
            there is nothing to mask with.
        ValueError: the model has no word-embedding matrix to tie the output layer to, or it
            has fewer rows than the tokenizer has ids.

    Example:
        >>> from tlnlp.models import load_encoder
        >>> mlm = add_mlm_head(load_encoder("minilm"))
        >>> tuple(mlm.head.bias.shape)
        (30522,)
    """
    model, tokenizer = _parts(encoder)
    SpecialTokenIds.from_tokenizer(tokenizer)  # raises MaskingError for a tokenizer without [MASK]
    get = getattr(model, "get_input_embeddings", None)
    embeddings = get() if callable(get) else None
    if not isinstance(embeddings, nn.Embedding):
        raise ValueError(
            f"{type(model).__name__} has no word-embedding matrix (get_input_embeddings() gave "
            f"{type(embeddings).__name__}) to tie an MLM output layer to; use a Transformer encoder "
            "such as load_encoder('minilm') or 'bert-base-uncased'"
        )
    if embeddings.num_embeddings < len(tokenizer):
        raise ValueError(
            f"the word embeddings have {embeddings.num_embeddings} rows but the tokenizer has {len(tokenizer)} ids; "
            "the head could not score every word: load the tokenizer that belongs to the model"
        )
    hidden = int(getattr(model.config, "hidden_size", embeddings.embedding_dim))
    eps = float(getattr(model.config, "layer_norm_eps", 1e-12))
    head = MLMHead(embeddings, hidden, eps).to(embeddings.weight.device)
    return MaskedLanguageModel(model, head)


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, got a single string: wrap it in a list")
    texts = list(texts)
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts must all be strings; got {len(bad)} that are not (e.g. {bad[0]})")
    kept = [t for t in texts if t.strip()]
    if not kept:
        raise ValueError(
            f"no text to pretrain on: got {len(texts)} text(s), none with any non-space character; "
            "pass the unlabelled texts of the target domain"
        )
    return kept


class MaskedTextCollator:
    """Texts -> a padded batch masked by BERT's rule (``input_ids``, ``attention_mask``, ``labels``).

    Each call tokenizes the texts (truncated to ``max_length`` tokens with ``[CLS]``/``[SEP]``)
    and draws a fresh mask with :func:`~tlnlp.pretraining.masking.mask_tokens` ("dynamic
    masking"); padding and special tokens are never chosen.

    Arguments:
        tokenizer: a Hugging Face tokenizer with a mask token.
        max_length: the longest input, in tokens.
        mlm_probability: the share of real tokens chosen (BERT: 0.15).
        seed: seeds the collator's own generator (reproducible masks); ``None``: torch's global one.

    Example:
        >>> from tlnlp.models import load_encoder
        >>> collate = MaskedTextCollator(load_encoder("minilm").tokenizer, seed=0)
        >>> batch = collate(["a fine kettle", "it broke after a week of use"])
        >>> sorted(batch), batch["input_ids"].shape == batch["labels"].shape
        (['attention_mask', 'input_ids', 'labels'], True)
    """

    def __init__(self, tokenizer: Any, max_length: int = 128, mlm_probability: float = 0.15, seed: int | None = 0) -> None:
        self.tokenizer = tokenizer
        self.special = SpecialTokenIds.from_tokenizer(tokenizer)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 3:
            raise ValueError(f"max_length must be an int >= 3 ([CLS], a token, [SEP]), got {max_length!r}")
        self.max_length = max_length
        self.mlm_probability = mlm_probability
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def __call__(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, padding=True,
                                 return_tensors="pt", return_special_tokens_mask=True)
        masked, labels = mask_tokens(
            encoded["input_ids"], self.special, mlm_probability=self.mlm_probability, generator=self.generator,
            attention_mask=encoded["attention_mask"], special_tokens_mask=encoded["special_tokens_mask"],
        )
        return {"input_ids": masked, "attention_mask": encoded["attention_mask"], "labels": labels}


class MLMRun(NamedTuple):
    """What :func:`continue_pretraining` returns: the model with its head, and fit's history."""

    mlm: MaskedLanguageModel
    history: History


def continue_pretraining(
    encoder: Any,
    texts: Sequence[str],
    *,
    steps: int,
    batch_size: int = 16,
    max_length: int = 128,
    lr: float = 5e-5,
    head_lr: float = 1e-3,
    mlm_probability: float = 0.15,
    seed: int = 0,
    device: Any = None,
    mlm: MaskedLanguageModel | None = None,
    progress: bool = False,
) -> MLMRun:
    """Keep pretraining ``encoder`` with the masked-LM objective on ``texts`` (domain-adaptive pretraining).

    ``steps`` optimizer steps of AdamW through :func:`tlnlp.train.fit`, on batches of
    ``batch_size`` texts drawn in a shuffled order (reshuffled every pass) and masked afresh by
    :class:`MaskedTextCollator`. The fresh head's own layers start untrained, so they learn at
    ``head_lr`` while the pretrained encoder (its tied embeddings included) moves at ``lr``.
    ``encoder.model`` is updated in place.

    Arguments:
        encoder: a :class:`tlnlp.models.Encoder` whose tokenizer has a mask token.
        texts: unlabelled texts of the target domain (blank ones are skipped).
        steps: optimizer steps (>= 1).
        batch_size, max_length, mlm_probability: the batches.
        lr, head_lr: learning rates of the encoder and of the head's fresh layers.
        seed: seeds the order, the masks and fit.
        device: where to train (default :func:`tlnlp.config.device`).
        mlm: an :func:`add_mlm_head` result for this encoder, to continue training it; default a fresh head.

    Returns:
        :class:`MLMRun` ``(mlm, history)``.

    Raises:
        ValueError: no text, or ``steps`` < 1. Errors of :func:`add_mlm_head` for an encoder
            that cannot be trained as a masked LM.

    Example:
        >>> from tlnlp.models import load_encoder
        >>> encoder = load_encoder("minilm")
        >>> run = continue_pretraining(encoder, ["the blender is loud", "a sturdy pan"] * 4, steps=2, batch_size=4)
        >>> len(run.history.step_losses)
        2
    """
    texts = _check_texts(texts)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if mlm is None:
        mlm = add_mlm_head(encoder)
    elif not isinstance(mlm, MaskedLanguageModel) or mlm.encoder is not _parts(encoder)[0]:
        raise ValueError("mlm must be the add_mlm_head(...) result of this same encoder")
    collate = MaskedTextCollator(encoder.tokenizer, max_length, mlm_probability, seed=seed)
    loader = DataLoader(texts, batch_size=min(batch_size, len(texts)), shuffle=True, collate_fn=collate,
                        generator=torch.Generator().manual_seed(seed))
    head_params = [p for name, p in mlm.head.named_parameters()]
    head_ids = {id(p) for p in head_params}
    body_params = [p for p in mlm.parameters() if id(p) not in head_ids]
    optimizer = torch.optim.AdamW([{"params": body_params, "lr": lr}, {"params": head_params, "lr": head_lr}],
                                  weight_decay=0.01)
    history = fit(mlm, loader, optimizer=optimizer, max_steps=steps, device=device, progress=progress, seed=seed)
    mlm.eval()
    return MLMRun(mlm, history)


@torch.inference_mode()
def masked_lm_loss(
    mlm: MaskedLanguageModel,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 32,
    max_length: int = 128,
    mlm_probability: float = 0.15,
    seed: int = 0,
) -> float:
    """The mean cross-entropy (nats) of ``mlm`` over the masked tokens of ``texts``, with a fixed mask.

    The same ``seed`` masks the same positions the same way, so two models (or one model before
    and after continued pretraining) are scored on the same corrupted inputs. The mean is over
    masked tokens, not over batches; ``exp`` of it is the masked-token perplexity.

    Example:
        >>> from tlnlp.models import load_encoder
        >>> encoder = load_encoder("minilm")
        >>> loss = masked_lm_loss(add_mlm_head(encoder), encoder.tokenizer, ["a quiet fan", "the cord is short"])
        >>> bool(loss > 0)
        True
    """
    texts = _check_texts(texts)
    collate = MaskedTextCollator(tokenizer, max_length, mlm_probability, seed=seed)
    was_training = mlm.training
    mlm.eval()
    device = next(mlm.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(texts), batch_size):
        batch = {k: v.to(device) for k, v in collate(texts[start:start + batch_size]).items()}
        out = mlm(**batch)
        n = int((batch["labels"] != IGNORE_INDEX).sum())
        if n:
            total += float(out.loss) * n
            count += n
    mlm.train(was_training)
    if count == 0:
        raise ValueError("no token of these texts was masked; give longer or more texts")
    return total / count
