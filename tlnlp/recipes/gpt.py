"""nanoGPT's recipe for training a causal language model, written as calls to tlnlp's one loop.

:func:`train_lm` is :func:`tlnlp.train.fit` fed with random blocks of a token stream
(:class:`tlnlp.lm.RandomBlocks`), AdamW with weight decay on matrices only
(:func:`tlnlp.optim.decay_groups`), a linear warm-up and cosine decay
(:func:`tlnlp.optim.cosine_with_warmup`) and gradient clipping, evaluated every
``eval_interval`` steps. :func:`load_or_train_gpt` caches the trained GPT in tlnlp's one
checkpoint format. Introduced in chapter 4, where the recipe reproduces nanoGPT on Shakespeare.

>>> import torch
>>> from tlnlp.models.gpt import GPT, GPTConfig
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
>>> data = torch.arange(300) % 7
>>> cfg = LMTrainConfig(max_iters=30, block_size=8, batch_size=4, warmup_iters=2, eval_interval=15, exact_val=True)
>>> history = train_lm(model, data, data, cfg, progress=False, device="cpu")
>>> [r["step"] for r in history.records], history.last["eval_loss"] < history.records[0]["eval_loss"]
([0, 15, 30], True)
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Iterator

import torch
from torch import Tensor, nn

from ..cache import load_checkpoint, load_or_compute, save_checkpoint
from ..config import device as default_device
from ..lm.batching import RandomBlocks, SequentialBlocks
from ..models.gpt import GPT, GPTConfig
from ..optim import cosine_with_warmup, decay_groups
from ..train import History, evaluate, fit
from ._checks import check_token_stream

__all__ = ["LMTrainConfig", "load_or_train_gpt", "train_lm"]


@dataclass
class LMTrainConfig:
    """Settings of :func:`train_lm`; the defaults are nanoGPT's CPU Shakespeare recipe.

    Attributes:
        max_iters: optimizer steps.
        batch_size: blocks per step.
        block_size: tokens per block (at most the model's ``block_size``).
        lr: peak learning rate, reached after the warm-up.
        min_lr: the floor the cosine decays to.
        warmup_iters: steps of linear warm-up from (almost) 0 to ``lr``.
        lr_decay_iters: the step at which the cosine reaches ``min_lr`` (usually ``max_iters``).
        weight_decay: AdamW's decoupled weight decay, applied to weight matrices and embeddings
            only (not to biases and LayerNorm gains).
        betas: AdamW's moment decay rates.
        grad_clip: clip the global gradient norm to this (0 turns clipping off).
        eval_interval: evaluate every this many steps (and before the first, after the last).
        eval_iters: random validation batches per evaluation (nanoGPT's noisy estimate).
        exact_val: evaluate the validation split exactly (every non-overlapping block once)
            instead of on ``eval_iters`` random batches: slower, but free of sampling noise.
        seed: seeds the batch order (model initialisation is the caller's).

    Example:
        >>> LMTrainConfig(max_iters=500).lr_decay_iters  # follows max_iters unless given
        500
    """

    max_iters: int = 2000
    batch_size: int = 12
    block_size: int = 64
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int | None = None
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20
    exact_val: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.lr_decay_iters is None:
            self.lr_decay_iters = self.max_iters
        if self.max_iters < 1 or self.eval_interval < 1 or self.eval_iters < 1:
            raise ValueError("max_iters, eval_interval and eval_iters must be >= 1")
        if not 0 <= self.min_lr <= self.lr or self.lr <= 0:
            raise ValueError(f"need 0 <= min_lr <= lr and lr > 0, got min_lr={self.min_lr}, lr={self.lr}")
        if self.warmup_iters >= self.lr_decay_iters:
            raise ValueError(
                f"warmup_iters={self.warmup_iters} must be smaller than lr_decay_iters={self.lr_decay_iters}"
            )


class _StepClock:
    """Times each training step, from drawing its batch to the scheduler step that ends it.

    :func:`fit` asks the batch source for a batch, trains on it and steps the scheduler; the
    time in between is the step. Evaluations, which run after the scheduler step, are left out.
    """

    def __init__(self, source: Iterable[Any], scheduler: Any, device: torch.device) -> None:
        self.source, self.scheduler, self.device = source, scheduler, device
        self.step_seconds: list[float] = []
        self._start = 0.0

    def __iter__(self) -> Iterator[Any]:
        batches = iter(self.source)
        while True:
            self._start = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            yield batch

    def step(self) -> None:  # fit calls scheduler.step() after every optimizer step
        self.scheduler.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.step_seconds.append(time.perf_counter() - self._start)


def train_lm(
    model: nn.Module,
    train_data: Tensor,
    val_data: Tensor | None,
    config: LMTrainConfig,
    progress: bool = True,
    device: Any = None,
    amp: Any = "auto",
) -> History:
    """Train a causal LM on random blocks of ``train_data`` for ``config.max_iters`` steps, with :func:`fit`.

    Arguments:
        model: any causal LM of the model contract (``model(input_ids=x, labels=y).loss``),
            e.g. tlnlp's :class:`~tlnlp.models.gpt.GPT`.
        train_data: 1-D token tensor to train on.
        val_data: 1-D token tensor to evaluate on before the first step, every
            ``config.eval_interval`` steps and after the last (exactly with ``config.exact_val``,
            else on ``config.eval_iters`` random batches); ``None``: no evaluation.
        config: the recipe (see :class:`LMTrainConfig`).
        progress: show a progress bar.
        device: where to train (default: where the model's parameters are).
        amp: the precision, as in :func:`tlnlp.train.fit` (``"auto"``: bf16 autocast where a probe
            measures it faster on this machine).

    Returns:
        The :class:`~tlnlp.train.History`: a record at step 0 (``eval_loss`` of the untrained
        model) and one per evaluation with ``train_loss`` (the mean loss of the steps since the
        previous record), ``eval_loss``, ``lr`` and ``ms_per_iter``, the mean time of a training
        step so far in milliseconds (batch, forward, backward, clipping, optimizer and schedule;
        evaluation excluded). The model is left in eval mode.

    Example:
        >>> from tlnlp.models.gpt import GPT, GPTConfig
        >>> m = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
        >>> h = train_lm(m, torch.arange(200) % 7, None, LMTrainConfig(max_iters=4, block_size=8, warmup_iters=1,
        ...              eval_interval=2), progress=False, device="cpu")
        >>> [r["step"] for r in h.records], h.last["ms_per_iter"] > 0
        ([2, 4], True)
    """
    check_token_stream(train_data, model, "train_data", config.block_size)
    if val_data is not None:
        check_token_stream(val_data, model, "val_data")
    model_block = getattr(getattr(model, "config", None), "block_size", None)
    if model_block is not None and config.block_size > model_block:
        raise ValueError(
            f"config.block_size={config.block_size} is longer than the model's block_size={model_block} "
            "(its learned positions): lower config.block_size, or build the model with a larger block_size"
        )
    device = torch.device(next(model.parameters()).device if device is None else device)
    model.to(device)
    optimizer = torch.optim.AdamW(
        decay_groups(model, config.weight_decay),
        lr=config.lr,
        betas=config.betas,
        fused=True if device.type == "cuda" else None,
    )
    decay_steps = int(config.lr_decay_iters or config.max_iters)  # __post_init__ set it
    scheduler = cosine_with_warmup(optimizer, config.warmup_iters, decay_steps, config.min_lr / config.lr)
    clock = _StepClock(RandomBlocks(train_data, config.block_size, config.batch_size, seed=config.seed), scheduler, device)
    eval_source: Iterable[Any] | None = None
    if val_data is not None:
        eval_source = (
            SequentialBlocks(val_data, config.block_size, max(config.batch_size, 32))
            if config.exact_val
            else RandomBlocks(val_data, config.block_size, config.batch_size, config.eval_iters, seed=config.seed + 1_000_003)
        )
        start = {"epoch": 0, "step": 0, "lr": optimizer.param_groups[0]["lr"]}
        start["eval_loss"] = evaluate(model, eval_source, device=device)["loss"]
    history = fit(
        model,
        clock,  # the random blocks; the clock starts as each batch is drawn ...
        optimizer=optimizer,
        scheduler=clock,  # ... and stops after the schedule's step, which ends the training step
        max_steps=config.max_iters,
        eval_loader=eval_source,
        eval_every=config.eval_interval,
        grad_clip=config.grad_clip or None,
        device=device,
        progress=progress,
        amp=amp,
        restore_best=False,  # the recipe keeps the last weights, as nanoGPT does
    )
    for record in history.records:
        steps = clock.step_seconds[: int(record["step"])]
        record["ms_per_iter"] = 1000 * sum(steps) / len(steps)
    if eval_source is not None:
        history.records.insert(0, start)
    model.eval()
    return history


def _tensor_digest(data: Tensor) -> str:
    return hashlib.sha256(data.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def load_or_train_gpt(
    name: str,
    model_config: GPTConfig,
    train_config: LMTrainConfig,
    train_data: Tensor,
    val_data: Tensor | None,
    init_seed: int = 0,
    device: Any = None,
    progress: bool = True,
) -> tuple[GPT, History]:
    """A :class:`~tlnlp.models.gpt.GPT` trained with :func:`train_lm`, cached on disk.

    The cache key holds both configs, the initialisation seed and a hash of the data, so a
    change to any of them trains again. The file is a :func:`tlnlp.cache.save_checkpoint`
    checkpoint: the weights, the model config, and the training history as an extra.

    Arguments:
        name: a readable prefix for the cache file, e.g. ``"gpt-shakespeare-char"``.
        model_config: the model to build.
        train_config: the recipe.
        train_data, val_data: 1-D token tensors.
        init_seed: seeds the initialisation (``torch.manual_seed``) before the model is built.
        device: where to train (default :func:`tlnlp.config.device`).
        progress: show a progress bar while training.

    Returns:
        The model (in eval mode, on ``device``) and its history (``ms_per_iter`` is the one
        measured when it was trained).

    Introduced in chapter 4.

    Example:
        >>> model, history = load_or_train_gpt("mini", GPTConfig(vocab_size=65), LMTrainConfig(), train, val)  # doctest: +SKIP
    """
    device = torch.device(default_device() if device is None else device)
    key = {
        "model": asdict(model_config),
        "train": asdict(train_config),
        "init_seed": init_seed,
        "train_data": _tensor_digest(train_data),
        "val_data": None if val_data is None else _tensor_digest(val_data),
        "recipe": "train_lm-fit-v1",
    }

    def compute() -> tuple[GPT, History]:
        torch.manual_seed(init_seed)
        model = GPT(model_config).to(device)
        return model, train_lm(model, train_data, val_data, train_config, progress=progress, device=device)

    def save(result: tuple[GPT, History], path: Any) -> None:
        model, history = result
        save_checkpoint(model, path, config=model_config, extra={"history": asdict(history)})

    def load(path: Any) -> tuple[GPT, History]:
        model, _, extra = load_checkpoint(path, lambda config: GPT(GPTConfig(**config)), device=device)
        return model.eval(), History(**extra["history"])

    return load_or_compute(name, key, compute=compute, save=save, load=load, suffix=".safetensors")
