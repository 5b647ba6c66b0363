"""Pretraining a mini-BERT with the masked language model and next-sentence prediction, through ``fit``.

:func:`pretrain_bert` cuts fresh NSP pairs from the documents every pass
(:func:`tlnlp.pretraining.make_nsp_examples`), masks every batch anew
(:class:`tlnlp.pretraining.BertPretrainingCollator`, dynamic masking) and trains a
``BertForPreTraining`` with :func:`tlnlp.train.fit` on the gathered MLM + NSP loss
(:class:`tlnlp.pretraining.BertPretrainingObjective`): AdamW, linear warm-up and decay, gradient
clipping. :func:`load_or_pretrain_bert` caches the result in tlnlp's one checkpoint format.

Introduced in chapter 5.

>>> from types import SimpleNamespace
>>> import torch
>>> from tlnlp.pretraining import SpecialTokenIds
>>> tok = SimpleNamespace(cls_token_id=1, sep_token_id=2, pad_token_id=0, mask_token_id=3)
>>> special = SpecialTokenIds(mask_id=3, vocab_size=40, special_ids=frozenset({0, 1, 2}), pad_id=0)
>>> docs = [[[5, 6, 7], [8, 9], [10, 11, 12]], [[20, 21], [22, 23, 24], [25]]] * 4
>>> cfg = BertPretrainConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
...                          max_length=12, batch_size=4, steps=6, warmup=1)
>>> run = pretrain_bert(docs, tok, cfg, vocab_size=40, special=special, device="cpu")
>>> len(run.mlm_loss) == len(run.nsp_loss) == len(run.history.step_losses) == 6
True
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterator, NamedTuple, Sequence

import torch
from torch.utils.data import DataLoader

from ..cache import load_checkpoint, load_or_compute, save_checkpoint
from ..config import device as default_device
from ..config import seed_everything
from ..pretraining import BertPretrainingCollator, BertPretrainingObjective, make_nsp_examples
from ..train import History, fit

__all__ = ["BertPretrainConfig", "BertPretraining", "load_or_pretrain_bert", "build_mini_bert", "pretrain_bert"]


@dataclass
class BertPretrainConfig:
    """The size of a mini-BERT and its pretraining recipe (the defaults: chapter 5's ``cpu`` preset).

    Attributes:
        hidden_size, num_hidden_layers, num_attention_heads, intermediate_size: the encoder
            (``transformers.BertConfig``).
        max_position_embeddings: the longest input the model can read.
        max_length: the budget of an NSP pair, special tokens included.
        batch_size: pairs per step.
        steps: optimizer steps.
        lr: AdamW's peak learning rate.
        warmup: steps of linear warm-up, followed by a linear decay to 0 at ``steps``.
        weight_decay: AdamW's weight decay (on every parameter, as chapter 5 first trained it).
        grad_clip: clip the gradients' global norm to this.
        mlm_probability: share of tokens chosen for the MLM (BERT: 0.15).
        seed: seeds the initialisation, the pairs, the batch order and the masks.
    """

    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 2
    intermediate_size: int = 512
    max_position_embeddings: int = 128
    max_length: int = 64
    batch_size: int = 32
    steps: int = 700
    lr: float = 2e-3
    warmup: int = 70
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    mlm_probability: float = 0.15
    seed: int = 0


class BertPretraining(NamedTuple):
    """What :func:`pretrain_bert` returns."""

    model: Any
    """The ``BertForPreTraining``, in eval mode."""
    history: History
    """fit's history: one record per pass over the documents, and the loss of every step."""
    mlm_loss: list[float]
    """The MLM part of the loss at every step."""
    nsp_loss: list[float]
    """The NSP part of the loss at every step."""
    seconds: float
    """Wall time of the training."""


def build_mini_bert(config: BertPretrainConfig, vocab_size: int, pad_token_id: int = 0) -> Any:
    """A randomly initialised ``BertForPreTraining`` of ``config``'s size (seed torch first).

    Arguments:
        config: the sizes.
        vocab_size: the tokenizer's vocabulary size (``len(tokenizer)``).
        pad_token_id: its padding id.

    Example:
        >>> build_mini_bert(BertPretrainConfig(hidden_size=8, num_attention_heads=2, intermediate_size=16),
        ...           vocab_size=50).config.num_hidden_layers
        4
    """
    from transformers import BertConfig, BertForPreTraining

    return BertForPreTraining(
        BertConfig(
            vocab_size=vocab_size,
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            max_position_embeddings=config.max_position_embeddings,
            pad_token_id=pad_token_id,
        )
    )


class _EpochBatches:
    """Each pass: new NSP pairs (seed + pass), shuffled by their own generator, masked by the collator."""

    def __init__(self, documents: Sequence[Any], tokenizer: Any, config: BertPretrainConfig, collate: Any) -> None:
        self.documents, self.tokenizer, self.config, self.collate = documents, tokenizer, config, collate
        self.epochs = 0

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        seed = self.config.seed + self.epochs
        self.epochs += 1
        pairs = make_nsp_examples(self.documents, self.tokenizer, max_length=self.config.max_length, seed=seed)
        loader = DataLoader(pairs, batch_size=self.config.batch_size, shuffle=True, collate_fn=self.collate,
                            generator=torch.Generator().manual_seed(seed))
        yield from loader


def pretrain_bert(
    documents: Sequence[Sequence[Sequence[int]]],
    tokenizer: Any,
    config: BertPretrainConfig,
    *,
    vocab_size: int | None = None,
    special: Any = None,
    output_bias: torch.Tensor | None = None,
    device: Any = None,
    progress: bool = False,
    amp: Any = "auto",
) -> BertPretraining:
    """Pretrain a new mini-BERT with MLM + NSP on ``documents`` for ``config.steps`` steps.

    Arguments:
        documents: lists of segments (sentences) of token ids, e.g. from
            :func:`tlnlp.pretraining.tokenize_documents`.
        tokenizer: a BERT tokenizer (its ``[CLS]``, ``[SEP]``, ``[MASK]`` and ``[PAD]`` ids are used).
        config: the model size and the recipe.
        vocab_size: the vocabulary size (default ``len(tokenizer)``).
        special: what the collator masks with (default: read from ``tokenizer``); a
            :class:`tlnlp.pretraining.SpecialTokenIds` for a tokenizer-free test.
        output_bias: start the MLM output layer's bias here instead of at 0, e.g. the log
            unigram frequencies of the training text, so training starts at the unigram loss.
        device: where to train (default :func:`tlnlp.config.device`).
        progress: show a progress bar.
        amp: the precision, as in :func:`tlnlp.train.fit` (``"auto"``: bf16 autocast where a
            probe measures it faster on this machine; ``"off"``: fp32).

    Returns:
        A :class:`BertPretraining`.

    Example:
        >>> run = pretrain_bert(train_ids, tokenizer, BertPretrainConfig(), output_bias=log_unigram)  # doctest: +SKIP
    """
    from transformers import get_linear_schedule_with_warmup

    device = torch.device(default_device() if device is None else device)
    vocab_size = len(tokenizer) if vocab_size is None else vocab_size
    _check_documents(documents, vocab_size)
    seed_everything(config.seed)
    model = build_mini_bert(config, vocab_size, pad_token_id=int(getattr(tokenizer, "pad_token_id", 0) or 0))
    if output_bias is not None:
        with torch.no_grad():  # the decoder's bias is this same parameter (tied)
            model.cls.predictions.bias.copy_(output_bias.float())
    objective = BertPretrainingObjective(model)
    parts: list[tuple[torch.Tensor, torch.Tensor]] = []

    def keep_parts(module: Any, args: Any, kwargs: Any, out: Any) -> None:
        if module.training:  # the two losses of each training step, read once at the end
            parts.append((out.mlm_loss.detach(), out.nsp_loss.detach()))

    hook = objective.register_forward_hook(keep_parts, with_kwargs=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup, config.steps)
    collate = BertPretrainingCollator(special if special is not None else tokenizer, seed=config.seed,
                                      mlm_probability=config.mlm_probability)
    start = time.perf_counter()
    try:
        history = fit(
            objective,
            _EpochBatches(documents, tokenizer, config, collate),
            optimizer=optimizer,
            scheduler=scheduler,
            max_steps=config.steps,
            grad_clip=config.grad_clip,
            device=device,
            amp=amp,
            progress=progress,
            restore_best=False,
        )
    finally:
        hook.remove()
    seconds = time.perf_counter() - start
    mlm, nsp = (torch.stack(p).float().cpu().tolist() for p in zip(*parts))
    return BertPretraining(model.eval(), history, mlm, nsp, seconds)


def _check_documents(documents: Sequence[Sequence[Sequence[int]]], vocab_size: int) -> None:
    """NSP needs documents of two segments or more; every id must have a row in the embedding."""
    if len(documents) < 2 or not any(len(doc) >= 2 for doc in documents):
        raise ValueError(
            f"pretrain_bert needs at least 2 documents and one with 2 or more segments (NSP pairs a segment "
            f"with its successor or with another document's), got {len(documents)} documents: give more text"
        )
    high = max((max(seg) for doc in documents for seg in doc if len(seg)), default=-1)
    if high >= vocab_size:
        raise ValueError(
            f"documents hold token id {high}, but vocab_size is {vocab_size}: tokenize with the tokenizer "
            "passed here, or pass vocab_size= to cover every id"
        )


def _ids_digest(documents: Sequence[Sequence[Sequence[int]]]) -> str:
    digest = hashlib.sha256()
    for doc in documents:
        for segment in doc:
            digest.update(torch.tensor(list(segment), dtype=torch.int64).numpy().tobytes())
            digest.update(b"|")
        digest.update(b"#")
    return digest.hexdigest()


def load_or_pretrain_bert(
    name: str,
    documents: Sequence[Sequence[Sequence[int]]],
    tokenizer: Any,
    config: BertPretrainConfig,
    *,
    output_bias: torch.Tensor | None = None,
    device: Any = None,
    progress: bool = False,
) -> BertPretraining:
    """:func:`pretrain_bert`, cached on disk with :func:`tlnlp.cache.save_checkpoint`.

    The cache key holds the config, the vocabulary size, a hash of the documents' ids and of
    ``output_bias``; the checkpoint holds the weights, the config and, as extras, the history and
    the per-step losses (``seconds`` is the time measured when it was trained).

    Introduced in chapter 5.

    Example:
        >>> run = load_or_pretrain_bert("mini-bert", train_ids, tokenizer, BertPretrainConfig())  # doctest: +SKIP
    """
    device = torch.device(default_device() if device is None else device)
    vocab_size = len(tokenizer)
    pad_id = int(tokenizer.pad_token_id)
    key = {
        "config": asdict(config),
        "vocab_size": vocab_size,
        "pad_token_id": pad_id,
        "documents": _ids_digest(documents),
        "output_bias": None if output_bias is None else hashlib.sha256(output_bias.float().numpy().tobytes()).hexdigest(),
        "recipe": "pretrain_bert-fit-v1",
    }

    def compute() -> BertPretraining:
        return pretrain_bert(documents, tokenizer, config, output_bias=output_bias, device=device, progress=progress)

    def save(run: BertPretraining, path: Any) -> None:
        extra = {"history": asdict(run.history), "mlm_loss": run.mlm_loss, "nsp_loss": run.nsp_loss, "seconds": run.seconds}
        save_checkpoint(run.model, path, config=asdict(config), extra=extra)

    def load(path: Any) -> BertPretraining:
        model, _, extra = load_checkpoint(path, lambda c: build_mini_bert(BertPretrainConfig(**c), vocab_size, pad_id), device=device)
        return BertPretraining(model.eval(), History(**extra["history"]), extra["mlm_loss"], extra["nsp_loss"], extra["seconds"])

    return load_or_compute(name, key, compute=compute, save=save, load=load, suffix=".safetensors")
