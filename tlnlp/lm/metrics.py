"""Measuring causal language models: exact and estimated next-token loss, perplexity.

Every function here works for any causal LM that follows the model contract: called as
``model(input_ids=x, labels=y)`` with ``y`` the next tokens of ``x``, it returns an object whose
``loss`` is the mean next-token cross-entropy (a :class:`tlnlp.models.Output`, as the book's GPT
and LSTM language models return, or a Hugging Face output). Losses are in nats per token;
perplexity is ``exp`` of the loss.

>>> from tlnlp.models.gpt import GPT, GPTConfig
>>> model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
>>> data = torch.arange(60) % 7
>>> math.isclose(perplexity(model, data, block_size=8), math.exp(evaluate_loss(model, data, block_size=8)))
True
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .batching import get_batch, iter_blocks

__all__ = ["NonFiniteLossError", "block_losses", "estimate_loss", "evaluate_loss", "perplexity", "strided_perplexity"]


class NonFiniteLossError(RuntimeError):
    """The model's loss is NaN: there is no loss or perplexity to report (the model diverged)."""


def _model_loss(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    out = model(input_ids=x, labels=y)
    loss = out.get("loss") if isinstance(out, dict) else getattr(out, "loss", None)
    if loss is None:
        raise TypeError(
            f"{type(model).__name__}(input_ids=..., labels=...) returned no loss: a language model measured by "
            "tlnlp.lm returns an object with .loss (tlnlp.models.Output) when it is given labels"
        )
    return loss


def _finite_loss(loss: float, caller: str) -> float:
    if math.isnan(loss):
        raise NonFiniteLossError(
            f"{caller}: the model's loss is NaN, so there is no loss or perplexity to report; the model has "
            "diverged (lower the learning rate, clip gradients) or its weights hold NaN"
        )
    return loss


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


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

    Introduced in chapter 4.

    Example:
        >>> from tlnlp.models.gpt import GPT, GPTConfig
        >>> m = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
        >>> round(estimate_loss(m, torch.randint(7, (100,)), 8, 4, 3), 0)
        2.0
    """
    if isinstance(eval_iters, bool) or not isinstance(eval_iters, int) or eval_iters < 1:
        raise ValueError(f"eval_iters must be an int >= 1 (random batches to average), got {eval_iters!r}")
    device = _device(model)
    was_training = model.training
    model.eval()
    try:
        losses = [
            _model_loss(model, *get_batch(data, block_size, batch_size, generator, device)).item()
            for _ in range(eval_iters)
        ]
    finally:
        model.train(was_training)
    return _finite_loss(sum(losses) / len(losses), "estimate_loss()")


@torch.no_grad()
def evaluate_loss(model: nn.Module, data: Tensor, block_size: int, batch_size: int = 32) -> float:
    """Exact mean next-token loss (nats per token) over every non-overlapping block of ``data``.

    Deterministic: the same model and data always give the same number, so differences
    between models are not blurred by evaluation noise. ``exp`` of it is the perplexity
    (:func:`perplexity`). Each block starts with an empty context, so the model is scored with
    contexts of 0 to ``block_size - 1`` tokens (see :func:`strided_perplexity` for long contexts).

    Introduced in chapter 4.

    Example:
        >>> from tlnlp.models.gpt import GPT, GPTConfig
        >>> m = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
        >>> evaluate_loss(m, torch.arange(50) % 7, 8) == evaluate_loss(m, torch.arange(50) % 7, 8)
        True
    """
    device = _device(model)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for x, y in iter_blocks(data, block_size, batch_size):
            # the loss is a mean over the block's tokens, all of them scored: weight it by their number
            total += _model_loss(model, x.to(device), y.to(device)).double().item() * y.numel()
            count += y.numel()
    finally:
        model.train(was_training)
    return _finite_loss(total / count, "evaluate_loss()")


@torch.no_grad()
def block_losses(model: nn.Module, data: Tensor, block_size: int, batch_size: int = 32) -> Tensor:
    """The mean next-token loss of each non-overlapping block of ``data`` (the blocks of :func:`evaluate_loss`).

    Their mean is :func:`evaluate_loss` (every block has ``block_size`` tokens). Two models scored
    on the same blocks give *paired* losses, whose per-block differences say whether one model is
    better beyond the variation between passages (chapter 3 measures forgetting this way).

    Returns:
        A float64 tensor of ``len(data) // block_size``-ish losses, one per block, in order.

    Example:
        >>> from tlnlp.models.gpt import GPT, GPTConfig
        >>> m = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
        >>> losses = block_losses(m, torch.arange(50) % 7, 8)
        >>> len(losses), math.isclose(losses.mean().item(), evaluate_loss(m, torch.arange(50) % 7, 8), rel_tol=1e-6)
        (6, True)
    """
    device = _device(model)
    was_training = model.training
    model.eval()
    out = []
    try:
        for x, y in iter_blocks(data, block_size, batch_size):
            logits = model(input_ids=x.to(device)).logits
            per_token = F.cross_entropy(logits.flatten(0, 1).float(), y.to(device).flatten(), reduction="none")
            out.append(per_token.view(y.shape).double().mean(dim=1).cpu())
    finally:
        model.train(was_training)
    losses = torch.cat(out)
    _finite_loss(float(losses.mean()), "block_losses()")
    return losses


def perplexity(model: nn.Module, data: Tensor, block_size: int, batch_size: int = 32) -> float:
    """``exp`` of :func:`evaluate_loss`: the number of equally likely next tokens the model hesitates between.

    Example:
        >>> from tlnlp.models.gpt import GPT, GPTConfig
        >>> m = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
        >>> 5 < perplexity(m, torch.arange(50) % 7, 8) < 9  # untrained: about the vocabulary size
        True
    """
    loss = evaluate_loss(model, data, block_size, batch_size)
    return math.exp(loss) if loss < 709 else math.inf  # exp overflows a float beyond ~709.78


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
        model: maps ``(1, T)`` ids to logits ``(1, T, V)``, or to an output with ``.logits``
            (tlnlp's :class:`~tlnlp.models.gpt.GPT`, a transformers model).
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
    if not isinstance(ids, Tensor):
        raise TypeError(f"ids must be a 1-D torch tensor of token ids, got {type(ids).__name__}; use torch.as_tensor(ids)")
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
        logits = out if isinstance(out, Tensor) else out.logits
        nll = F.cross_entropy(logits[0, :-1].float(), window[0, 1:], reduction="none")  # scores window[1:]
        new = end - scored_until
        total += nll[-new:].sum().item()
        count += new
        scored_until = end
    loss = _finite_loss(total / count, "strided_perplexity()")
    return math.exp(loss) if loss < 709 else math.inf
