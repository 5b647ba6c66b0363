"""ULMFiT (Howard & Ruder 2018): the LSTM language model's three stages, through :func:`tlnlp.train.fit`.

1. **pretrain** the language model on general text: :func:`train_language_model` with one
   learning rate;
2. **fine-tune it on the target text**: :func:`adapt_vocabulary` re-indexes it to the target's
   words, then :func:`train_language_model` with discriminative rates (``factor=2.6``);
3. **fine-tune a classifier** on its encoder: ``Classifier(lm.encoder, num_labels,
   pool="concat", hidden=50)`` trained with ``tlnlp.transfer.configure(clf, "gradual",
   betas=(0.9, 0.99), unfreeze_every=unfreeze_every(steps, n_groups))`` and ``fit``.

Language models are saved with their vocabulary and training history in one
:func:`tlnlp.cache.save_checkpoint` file (:func:`save_language_model`, :func:`load_language_model`).

Introduced in chapter 3.

>>> import torch
>>> from tlnlp.models import Classifier, LSTMConfig, LSTMLanguageModel
>>> from tlnlp.text import build_vocab
>>> general = build_vocab([["a", "good", "film"]], min_count=1, specials=("<pad>", "<unk>", "<eos>"), unknown="map")
>>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=len(general), emb_dim=8, hidden_dim=8))
>>> history = train_language_model(lm, general.pack([["a", "good", "film"]] * 20), steps=4, lr=1e-2,
...                                block_size=5, batch_size=2, device="cpu")
>>> target = build_vocab([["a", "dull", "film"]], min_count=1, specials=general.specials, unknown="map")
>>> round(adapt_vocabulary(lm, general, target), 2)  # "a" and "film" are known, "dull" is new
0.67
>>> clf = Classifier(lm.encoder, num_labels=2, pool="concat", hidden=50)
>>> clf(torch.tensor([target.encode(["a", "film"])])).logits.shape
torch.Size([1, 2])
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..cache import load_checkpoint, save_checkpoint
from ..lm.batching import RandomBlocks, iter_blocks
from ..models.lstm import LSTMConfig, LSTMLanguageModel
from ..text.vocab import Vocab
from ..train import History, fit
from ..transfer.freezing import ParamGroup
from ..transfer.schedules import discriminative_lr_groups, slanted_triangular
from ._checks import check_token_stream

__all__ = [
    "language_model_groups",
    "train_language_model",
    "adapt_vocabulary",
    "unfreeze_every",
    "SavedLanguageModel",
    "save_language_model",
    "load_language_model",
]


def _param_group(name: str, modules: list[tuple[str, nn.Module]]) -> ParamGroup:
    params: dict[str, nn.Parameter] = {}
    seen: set[int] = set()
    for prefix, module in modules:
        for pname, p in module.named_parameters():
            if id(p) not in seen:  # a tied weight belongs to the first module that holds it
                seen.add(id(p))
                params[f"{prefix}.{pname}"] = p
    return ParamGroup(name, params)


def language_model_groups(lm: LSTMLanguageModel) -> list[ParamGroup]:
    """Bottom-to-top groups for discriminative rates: ``lstm.0`` ... ``lstm.{n-1}``, then ``embedding``.

    The tied embedding is also the output layer, so it sits at the *top*, with the decoder's
    bias (the split fastai uses for ULMFiT's language-model fine-tuning).

    Example:
        >>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=10, emb_dim=4, hidden_dim=4))
        >>> [(g.name, len(g.named_params)) for g in language_model_groups(lm)]
        [('lstm.0', 4), ('lstm.1', 4), ('embedding', 2)]
    """
    encoder = lm.encoder
    groups = [_param_group(f"lstm.{i}", [(f"encoder.layers.{i}", layer)]) for i, layer in enumerate(encoder.layers)]
    groups.append(_param_group("embedding", [("encoder.embedding", encoder.embedding), ("decoder", lm.decoder)]))
    return groups


def train_language_model(
    lm: LSTMLanguageModel,
    data: Tensor,
    *,
    steps: int,
    lr: float,
    block_size: int = 70,
    batch_size: int = 32,
    factor: float = 1.0,
    heldout: Tensor | None = None,
    n_evals: int = 5,
    weight_decay: float = 0.01,
    grad_clip: float = 0.5,
    seed: int = 0,
    device: Any = None,
    progress: bool = False,
) -> History:
    """Pretrain or fine-tune a language model on random blocks of a token stream (stages 1 and 2).

    AdamW (betas 0.9, 0.99) with ULMFiT's slanted triangular learning rate over the groups of
    :func:`language_model_groups`: with ``factor=2.6`` each LSTM layer trains 2.6 times slower
    than the one above it (target-domain fine-tuning); with 1 every parameter gets ``lr``
    (pretraining). The batches are :class:`tlnlp.lm.RandomBlocks`; the model computes its loss.

    Arguments:
        lm: trained in place.
        data: 1-D token ids (:meth:`tlnlp.text.Vocab.pack`).
        steps: optimizer steps.
        lr: the peak learning rate (of the top group).
        block_size: tokens per block (the truncated-BPTT length).
        batch_size: blocks per step.
        factor: ratio of learning rates between neighbouring groups.
        heldout: token ids scored ``n_evals`` times during training (``eval_loss`` in the
            records; ``exp`` of it is the perplexity).
        n_evals: evaluations on ``heldout`` (evenly spaced, the last after the last step).
        weight_decay: AdamW's decoupled weight decay.
        grad_clip: clip the global gradient norm.
        seed: seeds the blocks and the dropout masks.
        device: default :func:`tlnlp.config.device`.
        progress: show a progress bar.

    Returns:
        The :class:`~tlnlp.train.History` (``step_losses`` and one record per evaluation).

    Example:
        >>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=20, emb_dim=8, hidden_dim=8))
        >>> h = train_language_model(lm, torch.arange(300) % 20, steps=4, lr=1e-2, block_size=10,
        ...                          heldout=torch.arange(100) % 20, n_evals=2, device="cpu")
        >>> [r["step"] for r in h.records]
        [2, 4]
    """
    check_token_stream(data, lm, "data", block_size)
    if heldout is not None:
        check_token_stream(heldout, lm, "heldout")
    optimizer = torch.optim.AdamW(
        discriminative_lr_groups(language_model_groups(lm), lr, factor=factor),
        betas=(0.9, 0.99),
        weight_decay=weight_decay,
    )
    eval_loader = None
    if heldout is not None:
        eval_loader = [{"input_ids": x, "labels": y} for x, y in iter_blocks(heldout, block_size, 64)]
    return fit(
        lm,
        RandomBlocks(data, block_size, batch_size, num_batches=steps, seed=seed),
        optimizer=optimizer,
        max_steps=steps,
        scheduler=slanted_triangular(optimizer, steps) if steps >= 2 else None,
        eval_loader=eval_loader,
        eval_every=max(1, steps // n_evals) if eval_loader is not None else None,
        grad_clip=grad_clip,
        device=device,
        progress=progress,
        seed=seed,
        restore_best=False,
    )


@torch.no_grad()
def adapt_vocabulary(lm: LSTMLanguageModel, old: Vocab, new: Vocab) -> float:
    """Re-index a language model's embedding (and tied output layer) from vocabulary ``old`` to ``new``, in place.

    A word of ``new`` that ``old`` knows keeps its embedding row and output bias; a new word
    starts from the mean row and mean bias of ``old``'s words (ULMFiT's rule), so it begins as
    an "average word" rather than noise. The encoder stays the same module (only its embedding
    is replaced), so a classifier holding it sees the change.

    Arguments:
        lm: a language model over ``old``.
        old: the vocabulary it was trained with.
        new: the target's vocabulary (with the same specials).

    Returns:
        The share of ``new``'s words (specials excluded) found in ``old``.

    Example:
        >>> specials = ("<pad>", "<unk>", "<eos>")
        >>> old = Vocab(specials + ("a", "b"), specials=specials, unknown="map")
        >>> new = Vocab(specials + ("b", "c"), specials=specials, unknown="map")
        >>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=len(old), emb_dim=4, hidden_dim=4))
        >>> row_b = lm.encoder.embedding.weight[old["b"]].clone()
        >>> adapt_vocabulary(lm, old, new)
        0.5
        >>> bool((lm.encoder.embedding.weight[new["b"]] == row_b).all())
        True
        >>> lm.decoder.weight is lm.encoder.embedding.weight  # still tied
        True
    """
    if len(old) != lm.config.vocab_size:
        raise ValueError(f"the model has {lm.config.vocab_size} embedding rows but old has {len(old)} words")
    if old.specials != new.specials:
        raise ValueError(f"the vocabularies have different specials ({old.specials} vs {new.specials}); "
                         "build both with the same specials")
    weight, bias = lm.encoder.embedding.weight, lm.decoder.bias
    words = slice(len(old.specials), None)
    new_weight = weight[words].mean(0).repeat(len(new), 1)
    new_bias = bias[words].mean().repeat(len(new))
    rows_new = torch.tensor([i for i, w in enumerate(new.words) if w in old], dtype=torch.long)
    rows_old = torch.tensor([old[new.words[i]] for i in rows_new.tolist()], dtype=torch.long)
    new_weight[rows_new] = weight[rows_old]
    new_bias[rows_new] = bias[rows_old]
    config = LSTMConfig(**{**asdict(lm.config), "vocab_size": len(new)})
    new_weight[config.pad_index] = 0.0
    lm.config = lm.encoder.config = config
    lm.encoder.embedding = nn.Embedding(len(new), config.emb_dim, padding_idx=config.pad_index)
    lm.encoder.embedding.weight = nn.Parameter(new_weight)
    lm.decoder = nn.Linear(config.emb_dim, len(new))
    lm.decoder.weight = lm.encoder.embedding.weight
    lm.decoder.bias = nn.Parameter(new_bias)
    lm.to(weight.device)
    known = new.words[len(new.specials) :]
    return sum(w in old for w in known) / max(1, len(known))


def unfreeze_every(total_steps: int, n_groups: int, within: float = 0.5) -> int:
    """ULMFiT's pace of gradual unfreezing: every group thawed by ``within`` of the run.

    Pass it to ``tlnlp.transfer.configure(..., "gradual", unfreeze_every=...)``, whose own
    default thaws the last group shortly before the end.

    Arguments:
        total_steps: optimizer steps of the run.
        n_groups: layer groups, the head included (``len(tlnlp.transfer.transfer_groups(clf))``).
        within: share of the steps by which every group trains.

    Example:
        >>> unfreeze_every(90, 4)  # groups thaw at steps 15, 30 and 45 of 90
        15
    """
    return max(1, int(total_steps * within) // max(1, n_groups - 1))


class SavedLanguageModel(NamedTuple):
    """What :func:`load_language_model` returns."""

    model: LSTMLanguageModel
    vocab: Vocab
    history: History | None


def save_language_model(lm: LSTMLanguageModel, vocab: Vocab, path: str | Path, history: History | None = None) -> None:
    """Write a language model, its vocabulary and (optionally) its training history to one checkpoint.

    The format is :func:`tlnlp.cache.save_checkpoint`'s: safetensors weights (the tied
    embedding stored once), the :class:`~tlnlp.models.LSTMConfig` and, as JSON, the rest.
    """
    if len(vocab) != lm.config.vocab_size:
        raise ValueError(f"the vocabulary has {len(vocab)} words but the model {lm.config.vocab_size} rows")
    extra: dict[str, Any] = {"words": list(vocab.words), "specials": list(vocab.specials), "unknown": vocab.unknown}
    if history is not None:
        extra["history"] = {"records": history.records, "step_losses": history.step_losses}
    save_checkpoint(lm, path, config=lm.config, extra=extra)


def load_language_model(path: str | Path, device: Any = "cpu") -> SavedLanguageModel:
    """Read what :func:`save_language_model` wrote (strictly: every weight must be there).

    Example:
        >>> import os, tempfile
        >>> v = Vocab(("<pad>", "<unk>", "a"), specials=("<pad>", "<unk>"), unknown="map")
        >>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=len(v), emb_dim=4, hidden_dim=4))
        >>> path = os.path.join(tempfile.mkdtemp(), "lm.safetensors"); save_language_model(lm, v, path)
        >>> lm2, v2, history = load_language_model(path)
        >>> v2 == v, lm2.decoder.weight is lm2.encoder.embedding.weight, history
        (True, True, None)
        >>> bool(torch.equal(lm2.encoder.layers[1].weight_hh_l0, lm.encoder.layers[1].weight_hh_l0))
        True
    """
    lm, _, extra = load_checkpoint(path, lambda config: LSTMLanguageModel(LSTMConfig(**config)), device=device)
    vocab = Vocab(tuple(extra["words"]), specials=tuple(extra["specials"]), unknown=extra["unknown"])
    saved = extra.get("history")
    history = None if saved is None else History(records=saved["records"], step_losses=saved["step_losses"])
    return SavedLanguageModel(lm, vocab, history)
