"""Fine-tuning strategies as one call: what trains, at which rate, on which schedule.

:func:`configure` takes a model (usually a :class:`~tlnlp.models.heads.Classifier` on any
body) and a strategy name, freezes what the strategy leaves frozen, and returns what
:func:`tlnlp.train.fit` needs: the (possibly wrapped) model, an optimizer and a scheduler.

========================  ==================================================================
strategy                  what trains
========================  ==================================================================
``"probe"``               the head only, on the body's fixed features
``"full"``                everything
``"top-k"``               the top ``top_k`` layers of the body and the head (``"top-2"`` = k 2)
``"gradual"``             ULMFiT: the head first, then one more layer group from the top every
                          ``unfreeze_every`` steps, with discriminative rates (factor 2.6)
``"lora"``                low-rank adapters on the attention projections, and the head
========================  ==================================================================

Every strategy uses AdamW and, by default, ULMFiT's slanted triangular schedule. ``factor``
gives discriminative learning rates (each layer group trains at the rate of the group above
divided by ``factor``) to ``"full"`` and ``"top-k"`` too.

Introduced in chapter 6; chapter 3 uses ``"gradual"`` for ULMFiT.

>>> import torch
>>> from tlnlp.models import Classifier
>>> from tlnlp.transfer import count_parameters
>>> body = torch.nn.Embedding(50, 8)
>>> setup = configure(Classifier(body, num_labels=2), "probe", lr=1e-3, total_steps=10)
>>> count_parameters(setup.model, trainable_only=True)  # the head: 8 x 2 weights + 2 biases
18
"""

from __future__ import annotations

import math
import operator
import re
from typing import Any, NamedTuple, Sequence

import torch
from torch import nn

from .freezing import GradualUnfreezer, ParamGroup, freeze, layer_groups, unfreeze
from .lora import add_lora
from .schedules import StepTogether, discriminative_lr_groups, slanted_triangular

__all__ = ["STRATEGIES", "TransferSetup", "UnknownStrategyError", "configure", "transfer_groups"]

STRATEGIES: tuple[str, ...] = ("probe", "full", "top-k", "gradual", "lora")
"""The strategy names :func:`configure` accepts (``"top-k"`` also as ``"top-2"``, ``"top-3"``...)."""

SCHEDULES: tuple[str, ...] = ("slanted_triangular", "constant")

_DEFAULT_LORA_TARGETS: tuple[tuple[str, ...], ...] = (("query", "value"), ("q_lin", "v_lin"), ("qkv",), ("c_attn",))


class UnknownStrategyError(ValueError):
    """:func:`configure` was given a strategy name it does not know."""


class TransferSetup(NamedTuple):
    """What :func:`configure` returns; unpack it as ``model, optimizer, scheduler``.

    Attributes:
        model: the model to train (for ``"lora"`` a ``peft`` wrapper around the one given).
        optimizer: AdamW over the parameters the strategy trains.
        scheduler: step it after every optimizer step (``fit(..., scheduler=...)`` does); for
            ``"gradual"`` it also unfreezes the next group on time. ``None`` with
            ``schedule="constant"`` and no unfreezing.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any


def _head_names(model: nn.Module, head: str) -> list[str]:
    names = [name for name, _ in model.named_parameters() if name == head or name.startswith(head + ".")]
    if not names:
        top = [name for name, _ in model.named_children()]
        raise ValueError(
            f"{type(model).__name__} has no module named {head!r} to serve as the head; its top-level modules "
            f"are {top}: pass head=<the name of the new, task-specific layer> (a tlnlp Classifier calls it 'head')"
        )
    return names


def _head_leaves(model: nn.Module, head: str) -> tuple[str, ...]:
    """Names of the head's modules that own parameters, for peft's ``modules_to_save``.

    peft matches those names as *suffixes* of every module name: ``"head"`` alone would also
    catch a GPT body's ``lm_head`` (tied to the token embeddings) and train a copy of it.
    """
    leaves = tuple(
        name
        for name, module in model.named_modules()
        if (name == head or name.startswith(head + ".")) and any(True for _ in module.parameters(recurse=False))
    )
    others = [n for n, _ in model.named_modules() if n and not (n == head or n.startswith(head + "."))]
    clash = [n for n in others for leaf in leaves if n.endswith(leaf)]
    if clash:
        raise ValueError(f"LoRA cannot tell the head {leaves} from {clash} (peft matches names by suffix): rename the head")
    return leaves


def transfer_groups(model: nn.Module, head: str = "head") -> list[ParamGroup]:
    """Bottom-to-top parameter groups of a body-plus-head model: the units strategies act on.

    The body is split with :func:`~tlnlp.transfer.layer_groups` (``embeddings``, ``layer.0``
    ... ``layer.N-1``); parameters of the body above its last layer (a final layer norm) join
    the top layer, and the head is the last group, ``head``. A body without a stack of
    repeated layers (an ``nn.Embedding``) is one group, ``body``.

    Arguments:
        model: e.g. a :class:`~tlnlp.models.heads.Classifier`.
        head: the name of the head module.

    Example:
        >>> from tlnlp.models import Classifier
        >>> [g.name for g in transfer_groups(Classifier(torch.nn.Embedding(9, 4), num_labels=2))]
        ['body', 'head']
    """
    head_names = set(_head_names(model, head))
    named = dict(model.named_parameters())
    head_group = ParamGroup("head", {n: p for n, p in named.items() if n in head_names})
    try:
        groups = layer_groups(model)
    except ValueError:  # no stack of repeated blocks: the whole body is one group
        body = {n: p for n, p in named.items() if n not in head_names}
        return [ParamGroup("body", body), head_group] if body else [head_group]
    body_groups = [g for g in groups if g.name != "head"]
    above = {n: p for g in groups if g.name == "head" for n, p in g.named_params.items() if n not in head_names}
    if above and body_groups:  # e.g. GPT's final layer norm: it belongs with the top layer
        top = body_groups[-1]
        body_groups[-1] = ParamGroup(top.name, {**top.named_params, **above})
    return [*body_groups, head_group]


def _parse_strategy(strategy: str, top_k: int | None) -> tuple[str, int | None]:
    if not isinstance(strategy, str):
        raise UnknownStrategyError(f"strategy must be a string, one of {', '.join(STRATEGIES)}; got {strategy!r}")
    name = strategy.strip().lower()
    match = re.fullmatch(r"top-(\d+)", name)
    if match:
        return "top-k", int(match.group(1))
    if name not in STRATEGIES:
        raise UnknownStrategyError(
            f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)} (or 'top-<n>', e.g. 'top-2')"
        )
    return name, top_k


def _lora_targets(model: nn.Module) -> tuple[str, ...]:
    linear = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    for targets in _DEFAULT_LORA_TARGETS:
        if set(targets) <= linear:
            return targets
    raise ValueError(
        f"strategy 'lora' found no attention projections to adapt in {type(model).__name__} "
        f"(its nn.Linear layers end in: {', '.join(sorted(linear)) or 'none'}); pass lora_targets=(...). "
        "LoRA adapts linear layers: a recurrent body has none to adapt, use 'gradual' or 'top-k' there"
    )


def configure(
    model: nn.Module,
    strategy: str,
    *,
    lr: float,
    total_steps: int,
    weight_decay: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.999),
    schedule: str = "slanted_triangular",
    factor: float | None = None,
    top_k: int | None = None,
    unfreeze_every: int | None = None,
    lora_r: int = 8,
    lora_alpha: float = 16,
    lora_targets: Sequence[str] | None = None,
    head: str = "head",
) -> TransferSetup:
    """Set a model up to train with a fine-tuning strategy.

    Arguments:
        model: the model, with its new head in a module named ``head`` (as in
            :class:`~tlnlp.models.heads.Classifier`); frozen or thawed in place.
        strategy: one of :data:`STRATEGIES` (see the module docstring).
        lr: the peak learning rate (of the head, with discriminative rates).
        total_steps: optimizer steps of the whole run (sets the schedule and, for
            ``"gradual"``, when groups thaw).
        weight_decay: AdamW's weight decay.
        betas: AdamW's betas (ULMFiT uses ``(0.9, 0.99)``).
        schedule: ``"slanted_triangular"`` or ``"constant"``.
        factor: discriminative learning-rate factor between neighbouring layer groups;
            default 2.6 for ``"gradual"``, 1 (one rate) otherwise.
        top_k: layers of the body that train for ``"top-k"`` (default 2).
        unfreeze_every: steps between two unfreezings for ``"gradual"``; default
            ``total_steps // number_of_groups``, so the bottom group thaws shortly before the end.
        lora_r, lora_alpha, lora_targets: LoRA's rank, scale and the names of the linear
            layers to adapt (default: the attention's query and value projections).
        head: the name of the head module.

    Returns:
        A :class:`TransferSetup` ``(model, optimizer, scheduler)``.

    Raises:
        UnknownStrategyError: ``strategy`` is not one of :data:`STRATEGIES`; the message lists them.
        ValueError: the model has no head, too few layers for ``"top-k"``, or nothing for LoRA to adapt.

    Example:
        >>> from transformers import BertConfig, BertModel
        >>> from tlnlp.models import Classifier
        >>> from tlnlp.transfer import count_parameters
        >>> bert = BertModel(BertConfig(hidden_size=8, num_hidden_layers=3, num_attention_heads=2,
        ...                             intermediate_size=16, vocab_size=40))
        >>> clf = Classifier(bert, num_labels=2)
        >>> model, optimizer, scheduler = configure(clf, "top-1", lr=1e-3, total_steps=20)
        >>> sorted({name.split(".")[3] for name, p in model.named_parameters() if p.requires_grad and "layer" in name})
        ['2']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"configure() takes the model (a torch.nn.Module with a 'head'), got {type(model).__name__}"
            + ("; pass encoder.model wrapped in a Classifier" if hasattr(model, "model") else "")
        )
    name, top_k = _parse_strategy(strategy, top_k)
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    steps = _index_or_none(total_steps)  # numpy ints welcome; floats and bools are not
    if steps is None or steps < 2:
        raise ValueError(f"total_steps must be an int >= 2 (the optimizer steps of the whole run), got {total_steps!r}")
    total_steps = steps
    lr = _positive_finite("lr", lr, "the peak learning rate, e.g. 1e-3")
    if factor is not None:
        factor = _positive_finite("factor", factor, "2.6 in ULMFiT; 1 for one rate everywhere")
    if top_k is not None and _index_or_none(top_k) is None:
        raise ValueError(f"top_k must be an int (layers that train), got {top_k!r}")
    if isinstance(lora_targets, str):
        raise TypeError(f"lora_targets must be a sequence of layer names, got the string {lora_targets!r}; pass ({lora_targets!r},)")
    factor = (2.6 if name == "gradual" else 1.0) if factor is None else factor

    if name == "lora":
        targets = tuple(lora_targets) if lora_targets is not None else _lora_targets(model)
        _head_names(model, head)  # a clear error before peft's
        model = add_lora(model, r=lora_r, alpha=lora_alpha, target_modules=targets, trainable_modules=_head_leaves(model, head))
        params: list[Any] = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=betas)
        return TransferSetup(model, optimizer, _schedule(optimizer, schedule, total_steps))

    groups = transfer_groups(model, head)
    unfreezer = None
    if name == "full":
        unfreeze(model)
    elif name == "probe":
        freeze(model)
        unfreeze(model, head)
    elif name == "top-k":
        k = 2 if top_k is None else top_k
        layers = [g for g in groups if g.name.startswith("layer.")]
        if not layers:
            raise ValueError(
                f"strategy 'top-k' needs a body with a stack of layers, but {type(model).__name__}'s body has none "
                f"(groups: {[g.name for g in groups]}); use 'probe', 'full' or 'gradual'"
            )
        if not 1 <= k <= len(layers):
            raise ValueError(
                f"strategy 'top-k' with top_k={k}, but the body has {len(layers)} layers "
                f"(groups: {[g.name for g in groups]}); choose 1 <= top_k <= {len(layers)}"
            )
        freeze(model)
        for group in [*layers[-k:], groups[-1]]:
            group.requires_grad_(True)
    else:  # gradual
        unfreeze(model)
        every = unfreeze_every if unfreeze_every is not None else max(1, total_steps // len(groups))
        unfreezer = GradualUnfreezer(groups, every=every)

    trainable_groups = groups if name == "gradual" else [g for g in groups if any(p.requires_grad for p in g.params)]
    if factor == 1:
        param_groups: Any = [{"params": [p for g in trainable_groups for p in g.params if name == "gradual" or p.requires_grad]}]
    else:
        if not factor > 0:
            raise ValueError(f"factor must be > 0 (2.6 in ULMFiT; 1 for one rate everywhere), got {factor}")
        param_groups = discriminative_lr_groups(trainable_groups, base_lr=lr, factor=factor)
    optimizer = torch.optim.AdamW(param_groups, lr=lr, weight_decay=weight_decay, betas=betas)
    scheduler = _schedule(optimizer, schedule, total_steps)
    if unfreezer is not None:
        scheduler = unfreezer if scheduler is None else StepTogether(scheduler, unfreezer)
    return TransferSetup(model, optimizer, scheduler)


def _index_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _positive_finite(name: str, value: Any, hint: str) -> float:
    """``value`` as a finite float > 0, or a ``ValueError`` naming it (None, strings, nan, inf refused)."""
    try:
        number = float(value) if not isinstance(value, (str, bytes, bool)) and value is not None else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0 ({hint}), got {value!r}")
    return number


def _schedule(optimizer: torch.optim.Optimizer, schedule: str, total_steps: int) -> Any:
    return slanted_triangular(optimizer, total_steps) if schedule == "slanted_triangular" else None
