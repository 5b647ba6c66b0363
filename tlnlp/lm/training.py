"""Training and evaluating causal language models (nanoGPT's recipe, written for tlnlp).

:func:`train_lm` runs a fixed number of optimizer steps on random blocks of a token stream:
AdamW with weight decay on matrices only, a learning rate that warms up linearly and then
decays along a cosine to a floor, gradient clipping, and an evaluation every
``eval_interval`` steps that goes into a history DataFrame.

>>> cfg = LMTrainConfig(max_iters=2000, lr=1e-3, min_lr=1e-4, warmup_iters=100, lr_decay_iters=2000)
>>> [round(lr_at(s, cfg), 6) for s in (0, 99, 100, 1050, 2000, 5000)]
[1e-05, 0.00099, 0.001, 0.00055, 0.0001, 0.0001]
"""

from __future__ import annotations

import hashlib
import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from ..models.gpt import GPT, GPTConfig

from ..cache import load_or_compute
from ..config import device as default_device
from .batching import get_batch, iter_blocks


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
        eval_iters: random batches per split per evaluation (nanoGPT's noisy estimate).
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
        if not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"need 0 <= min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if self.warmup_iters >= self.lr_decay_iters:
            raise ValueError(
                f"warmup_iters={self.warmup_iters} must be smaller than lr_decay_iters={self.lr_decay_iters}"
            )


def lr_at(step: int, config: LMTrainConfig) -> float:
    """The learning rate at optimizer step ``step`` (0-based): linear warm-up, then cosine decay.

    ``lr * (step + 1) / (warmup_iters + 1)`` during the warm-up; then
    ``min_lr + (lr - min_lr) * (1 + cos(pi * r)) / 2`` with ``r`` going from 0 to 1 between
    ``warmup_iters`` and ``lr_decay_iters``; ``min_lr`` afterwards.
    """
    if step < config.warmup_iters:
        return config.lr * (step + 1) / (config.warmup_iters + 1)
    if step >= config.lr_decay_iters:
        return config.min_lr
    ratio = (step - config.warmup_iters) / (config.lr_decay_iters - config.warmup_iters)
    return config.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (config.lr - config.min_lr)


def make_optimizer(
    model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float] = (0.9, 0.99)
) -> torch.optim.AdamW:
    """AdamW with weight decay on parameters of 2 or more dimensions only.

    Matrices and embeddings are decayed; biases and LayerNorm parameters (1-D) are not,
    since shrinking a gain or an offset towards 0 is no regularisation. Tied parameters
    appear once.

    Example:
        >>> opt = make_optimizer(nn.Linear(3, 2), lr=1e-3, weight_decay=0.1)
        >>> [len(g["params"]) for g in opt.param_groups], [g["weight_decay"] for g in opt.param_groups]
        ([1, 1], [0.1, 0.0])
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = all(p.is_cuda for p in params)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=fused or None)


def _model_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    _, loss = model(x, targets=y)
    return loss


@torch.no_grad()
def estimate_loss(
    model: nn.Module,
    data: Tensor,
    block_size: int,
    batch_size: int,
    eval_iters: int,
    generator: torch.Generator | None = None,
) -> float:
    """Mean loss over ``eval_iters`` random batches (nanoGPT's ``estimate_loss`` for one split).

    Cheap but noisy: its standard error shrinks like ``1 / sqrt(eval_iters * batch_size)``.
    The model runs in eval mode and is restored afterwards.

    Example:
        >>> from tlnlp.models.gpt import GPT, GPTConfig
        >>> m = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
        >>> round(estimate_loss(m, torch.randint(7, (100,)), 8, 4, 3), 0)
        2.0
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    losses = [
        _model_loss(model, *get_batch(data, block_size, batch_size, generator, device)).item()
        for _ in range(eval_iters)
    ]
    model.train(was_training)
    return sum(losses) / len(losses)


@torch.no_grad()
def evaluate_loss(model: nn.Module, data: Tensor, block_size: int, batch_size: int = 32) -> float:
    """Exact mean next-token loss (nats per token) over every non-overlapping block of ``data``.

    Deterministic: the same model and data always give the same number, so differences
    between models are not blurred by evaluation noise. ``exp`` of it is the perplexity.
    Each block starts with an empty context, so the model is scored with contexts of
    0 to ``block_size - 1`` tokens (see :func:`strided_perplexity` for long contexts).

    Example:
        >>> from tlnlp.models.gpt import GPT, GPTConfig
        >>> m = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
        >>> evaluate_loss(m, torch.arange(50) % 7, 8) == evaluate_loss(m, torch.arange(50) % 7, 8)
        True
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for x, y in iter_blocks(data, block_size, batch_size):
        out = model(x.to(device))
        logits = out.logits if hasattr(out, "logits") else out[0]  # a tlnlp Output, or GPT's old (logits, loss)
        total += F.cross_entropy(logits.flatten(0, 1).float(), y.to(device).flatten(), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return total / count


@torch.no_grad()
def strided_perplexity(
    model: Callable[[Tensor], Any], ids: Tensor, context_length: int, stride: int, device: Any = None
) -> float:
    """Perplexity of a long text with a sliding window, each token scored exactly once.

    Each step scores the next ``stride`` tokens with a window of ``context_length`` tokens that
    ends at the last of them, so every scored token sees at least ``context_length - stride``
    tokens of context (all before it near the start). A small stride gives each token more
    context (lower perplexity) for more compute; ``stride = context_length - 1`` is the cheap
    evaluation with windows overlapping by one token.

    Arguments:
        model: maps ``(1, T)`` ids to logits ``(1, T, V)``; a tlnlp :class:`~tlnlp.models.gpt.GPT`
            (which returns ``(logits, loss)``) and a transformers model (``.logits``) both work.
        ids: the text as a 1-D tensor of token ids.
        context_length: window length (at most the model's context).
        stride: new tokens per window, ``1 <= stride < context_length`` (the window must also
            hold the token just before the first new one).
        device: where to run (default: the model's device if it has parameters, else CPU).

    Returns:
        ``exp`` of the mean negative log-likelihood of tokens ``1 .. len(ids) - 1``.

    Example:
        >>> from tlnlp.models.gpt import GPT, GPTConfig
        >>> m = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
        >>> 5 < strided_perplexity(m, torch.arange(40) % 7, context_length=8, stride=4) < 9
        True
    """
    if not 1 <= stride < context_length:
        raise ValueError(f"need 1 <= stride < context_length, got stride={stride}, context_length={context_length}")
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError(f"ids must be a 1-D tensor of at least 2 token ids, got shape {tuple(ids.shape)}")
    if device is None:
        params = list(model.parameters()) if isinstance(model, nn.Module) else []
        device = params[0].device if params else torch.device("cpu")
    total, count, scored_until = 0.0, 0, 1  # token 0 has no context, so it is never scored
    while scored_until < len(ids):
        end = min(scored_until + stride, len(ids))
        window = ids[max(0, end - context_length) : end].unsqueeze(0).to(device)
        out = model(window)
        logits = out[0] if isinstance(out, tuple) else getattr(out, "logits", out)
        nll = F.cross_entropy(logits[0, :-1].float(), window[0, 1:], reduction="none")  # scores window[1:]
        new = end - scored_until
        total += nll[-new:].sum().item()
        count += new
        scored_until = end
    return math.exp(total / count)


def train_lm(
    model: nn.Module,
    train_data: Tensor,
    val_data: Tensor,
    config: LMTrainConfig,
    progress: bool = True,
) -> pd.DataFrame:
    """Train a causal LM on random blocks of ``train_data`` for ``config.max_iters`` steps.

    Arguments:
        model: returns ``(logits, loss)`` from ``model(x, targets=y)`` (e.g. tlnlp's GPT);
            trained where its parameters are.
        train_data, val_data: 1-D token tensors.
        config: the recipe (see :class:`LMTrainConfig`).
        progress: show a tqdm bar.

    Returns:
        A DataFrame with one row per evaluation: ``step``, ``lr``, ``train_loss``, ``val_loss``.
        ``history.attrs`` holds ``ms_per_iter`` and ``tokens_per_s`` of the training steps
        (evaluation time excluded) and the ``config``.

    Example:
        >>> from tlnlp.models.gpt import GPT, GPTConfig
        >>> m = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
        >>> data = torch.arange(200) % 7
        >>> cfg = LMTrainConfig(max_iters=20, block_size=8, batch_size=4, warmup_iters=2, eval_interval=10)
        >>> h = train_lm(m, data, data, cfg, progress=False)
        >>> list(h["step"]), bool(h["val_loss"].iloc[-1] < h["val_loss"].iloc[0])
        ([0, 10, 20], True)
    """
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    optimizer = make_optimizer(model, config.lr, config.weight_decay, config.betas)
    batch_gen = torch.Generator().manual_seed(config.seed)
    eval_gen = torch.Generator().manual_seed(config.seed + 1_000_003)  # evaluation never shifts the batch order
    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else nullcontext()

    def evaluate(step: int) -> dict[str, float]:
        with autocast:
            train_loss = estimate_loss(model, train_data, config.block_size, config.batch_size, config.eval_iters, eval_gen)
            if config.exact_val:
                val_loss = evaluate_loss(model, val_data, config.block_size, max(config.batch_size, 32))
            else:
                val_loss = estimate_loss(model, val_data, config.block_size, config.batch_size, config.eval_iters, eval_gen)
        return {"step": step, "lr": lr_at(max(step - 1, 0), config), "train_loss": train_loss, "val_loss": val_loss}

    rows = [evaluate(0)]
    model.train()
    train_seconds = 0.0
    bar = tqdm(range(config.max_iters), disable=not progress, mininterval=2.0, desc="train_lm")
    for step in bar:
        start = time.perf_counter()
        lr = lr_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_data, config.block_size, config.batch_size, batch_gen, device)
        with autocast:
            _, loss = model(x, targets=y)
        loss.backward()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        train_seconds += time.perf_counter() - start
        done = step + 1
        if done % config.eval_interval == 0 or done == config.max_iters:
            rows.append(evaluate(done))
            bar.set_postfix(train=f"{rows[-1]['train_loss']:.3f}", val=f"{rows[-1]['val_loss']:.3f}")
    model.eval()
    history = pd.DataFrame(rows)
    history.attrs["ms_per_iter"] = 1000 * train_seconds / config.max_iters
    history.attrs["tokens_per_s"] = config.max_iters * config.batch_size * config.block_size / train_seconds
    history.attrs["config"] = asdict(config)
    return history


def _tensor_digest(data: Tensor) -> str:
    return hashlib.sha256(data.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def load_or_train_gpt(
    name: str,
    model_config: "GPTConfig",
    train_config: LMTrainConfig,
    train_data: Tensor,
    val_data: Tensor,
    init_seed: int = 0,
    device: Any = None,
    progress: bool = True,
) -> tuple["GPT", pd.DataFrame]:
    """A :class:`~tlnlp.models.gpt.GPT` trained with :func:`train_lm`, cached on disk.

    The cache key holds both configs, the initialisation seed and a hash of the data, so a
    change to any of them trains again. The file (written atomically) holds the state dict and
    the history and is read back with ``torch.load(weights_only=True)``.

    Arguments:
        name: a readable prefix for the cache file, e.g. ``"gpt-shakespeare-char"``.
        model_config: the model to build.
        train_config: the recipe.
        train_data, val_data: 1-D token tensors.
        init_seed: seeds the initialisation (``torch.manual_seed``) before the model is built.
        device: where to train (default :func:`tlnlp.config.device`).
        progress: show a tqdm bar while training.

    Returns:
        The model (in eval mode, on ``device``) and its history; ``history.attrs["cached"]`` says
        whether it came from the cache (then ``ms_per_iter`` is the one measured when it was trained).

    Example:
        >>> model, history = load_or_train_gpt("mini", GPTConfig(vocab_size=65), LMTrainConfig(), train, val)  # doctest: +SKIP
    """
    from ..models.gpt import GPT

    device = torch.device(default_device() if device is None else device)
    key = {
        "model": asdict(model_config),
        "train": asdict(train_config),
        "init_seed": init_seed,
        "train_data": _tensor_digest(train_data),
        "val_data": _tensor_digest(val_data),
    }

    def compute() -> tuple[GPT, pd.DataFrame]:
        torch.manual_seed(init_seed)
        model = GPT(model_config).to(device)
        history = train_lm(model, train_data, val_data, train_config, progress=progress)
        history.attrs["cached"] = False
        return model, history

    def save(result: tuple[GPT, pd.DataFrame], path: Any) -> None:
        model, history = result
        attrs = {k: v for k, v in history.attrs.items() if k in ("ms_per_iter", "tokens_per_s")}
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save({"model": state, "history": history.to_dict(orient="list"), "attrs": attrs}, path)

    def load(path: Any) -> tuple[GPT, pd.DataFrame]:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        model = GPT(model_config)
        model.load_state_dict(blob["model"])
        history = pd.DataFrame(blob["history"])
        history.attrs.update(blob["attrs"], cached=True, config=asdict(train_config))
        return model.to(device).eval(), history

    return load_or_compute(name, key, compute=compute, save=save, load=load, suffix=".pt")
