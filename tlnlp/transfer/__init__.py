"""Adapting a pretrained model to a new task: what trains, at which rate, and fast batches.

Model-agnostic pieces (any ``torch.nn.Module``, Transformer or recurrent):

- which parameters train: :func:`freeze`, :func:`unfreeze`, :func:`trainable_parameters`,
  :func:`count_parameters`;
- ULMFiT's recipe: :func:`layer_groups`, :class:`GradualUnfreezer`,
  :func:`discriminative_lr_groups`, :func:`slanted_triangular`, :class:`StepTogether`;
- the strategies in one call: :func:`configure` (``probe``, ``full``, ``top-k``, ``gradual``,
  ``lora``); LoRA itself: :func:`add_lora`;
- fast batches (:mod:`tlnlp.text.batching`, re-exported here): :func:`tokenize`,
  :class:`LengthBucketSampler`, :class:`PadCollator`, :func:`make_loader`.

>>> import torch
>>> from tlnlp.transfer import freeze, unfreeze, count_parameters
>>> net = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 2))
>>> _ = freeze(net); _ = unfreeze(net, "1")
>>> count_parameters(net, trainable_only=True), count_parameters(net)
(18, 90)
"""

from ..text.batching import LengthBucketSampler, PadCollator, TokenizedDataset, make_loader, tokenize
from .freezing import (
    GradualUnfreezer,
    ParamGroup,
    UnknownModuleError,
    count_parameters,
    freeze,
    layer_groups,
    trainable_parameters,
    unfreeze,
)
from .lora import add_lora
from .schedules import StepTogether, discriminative_lr_groups, slanted_triangular
from .strategies import STRATEGIES, TransferSetup, UnknownStrategyError, configure, transfer_groups

__all__ = [
    # which parameters train
    "freeze",
    "unfreeze",
    "trainable_parameters",
    "count_parameters",
    "UnknownModuleError",
    # ULMFiT
    "ParamGroup",
    "layer_groups",
    "GradualUnfreezer",
    "discriminative_lr_groups",
    "slanted_triangular",
    "StepTogether",
    # strategies
    "configure",
    "STRATEGIES",
    "TransferSetup",
    "UnknownStrategyError",
    "transfer_groups",
    "add_lora",
    # batching
    "TokenizedDataset",
    "tokenize",
    "LengthBucketSampler",
    "PadCollator",
    "make_loader",
]
