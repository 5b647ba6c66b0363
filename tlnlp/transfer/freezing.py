"""Which parameters train: freeze and unfreeze by name, layer groups, gradual unfreezing.

Everything here works on any ``torch.nn.Module``; names are the dotted module and
parameter names of ``model.named_parameters()``. A name in :func:`freeze` /
:func:`unfreeze` is a module prefix (``"encoder.layer.0"``) or a glob
(``"*.layer.5"``, ``"*.attention.*"``):

>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
>>> _ = freeze(net)
>>> unfreeze(net, ["2"])
['2.weight', '2.bias']
>>> count_parameters(net, trainable_only=True)  # 4 * 2 weights + 2 biases
10

:func:`layer_groups` splits a Transformer (or any stack of repeated blocks, such as a
multi-layer LSTM) into ``embeddings``, ``layer.0`` ... ``layer.N-1`` and ``head``, the
units of gradual unfreezing and discriminative learning rates (ULMFiT, Howard & Ruder 2018).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Iterable, Sequence

import torch
from torch import nn

from ..models.encoders import count_parameters

__all__ = [
    "UnknownModuleError",
    "ParamGroup",
    "freeze",
    "unfreeze",
    "trainable_parameters",
    "count_parameters",
    "layer_groups",
    "GradualUnfreezer",
]

_MAX_LISTED = 40  # module names an error message lists at most


class UnknownModuleError(LookupError):
    """A name given to :func:`freeze` / :func:`unfreeze` matches no module or parameter."""


def _matches(param_name: str, pattern: str) -> bool:
    """True when ``param_name`` is ``pattern`` or lies under it (prefix or glob)."""
    return fnmatchcase(param_name, pattern) or fnmatchcase(param_name, pattern + ".*")


def _available_prefixes(model: nn.Module) -> list[str]:
    """Names of modules that hold parameters, as deep as fits in :data:`_MAX_LISTED` names."""
    names = [name for name, module in model.named_modules() if name and any(True for _ in module.parameters())]
    listed: list[str] = []
    for depth in range(1, max((n.count(".") + 1 for n in names), default=0) + 1):
        shallow = [n for n in names if n.count(".") < depth]
        if len(shallow) > _MAX_LISTED and listed:
            break
        listed = shallow
    return listed


def _set_requires_grad(model: nn.Module, names: str | Iterable[str] | None, flag: bool, caller: str) -> list[str]:
    if isinstance(names, str):
        names = [names]
    named = list(model.named_parameters())
    if names is None:
        chosen = [name for name, _ in named]
    else:
        patterns = list(names)
        odd = [p for p in patterns if not isinstance(p, str)]
        if odd:
            raise TypeError(f"{caller}(): names must be strings (module prefixes or globs), got {odd[0]!r}")
        chosen_set: set[str] = set()
        for pattern in patterns:
            hits = {name for name, _ in named if _matches(name, pattern)}
            if not hits:
                everything = [n for n, _ in model.named_modules() if n] + [n for n, _ in named]
                close = difflib.get_close_matches(pattern, everything, n=3, cutoff=0.6)
                hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
                raise UnknownModuleError(
                    f"{caller}(): no module or parameter of {type(model).__name__} matches {pattern!r}.{hint} "
                    f"Available prefixes: {', '.join(_available_prefixes(model))}. A name is a module "
                    f"prefix or a glob such as '*.layer.5'."
                )
            chosen_set |= hits
        chosen = [name for name, _ in named if name in chosen_set]
    lookup = dict(named)
    for name in chosen:
        lookup[name].requires_grad_(flag)
    return chosen


def freeze(module: nn.Module, names: str | Iterable[str] | None = None) -> list[str]:
    """Stop parameters from training (``requires_grad=False``).

    Arguments:
        module: any module.
        names: module prefixes or globs (see the module docstring); ``None`` freezes
            every parameter.

    Returns:
        The names of the parameters that matched, in ``named_parameters()`` order.

    Raises:
        UnknownModuleError: a name matches nothing; the message lists the available
            module prefixes and the closest names.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
        >>> freeze(net, "0")
        ['0.weight', '0.bias']
    """
    return _set_requires_grad(module, names, False, "freeze")


def unfreeze(module: nn.Module, names: str | Iterable[str] | None = None) -> list[str]:
    """Let parameters train again (``requires_grad=True``); the mirror of :func:`freeze`.

    Example:
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
        >>> _ = freeze(net); unfreeze(net, "1.bias")
        ['1.bias']
    """
    return _set_requires_grad(module, names, True, "unfreeze")


def trainable_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The parameters with ``requires_grad=True`` (what to hand to an optimizer).

    Example:
        >>> net = torch.nn.Linear(3, 1); _ = freeze(net, "bias")
        >>> [tuple(p.shape) for p in trainable_parameters(net)]
        [(1, 3)]
    """
    return [p for p in module.parameters() if p.requires_grad]


@dataclass
class ParamGroup:
    """A named set of parameters that train together (a layer, the embeddings, the head).

    Attributes:
        name: ``"embeddings"``, ``"layer.<i>"`` or ``"head"`` for :func:`layer_groups`.
        named_params: parameter name -> parameter, in the model's order.

    Example:
        >>> g = ParamGroup("head", dict(torch.nn.Linear(3, 2).named_parameters()))
        >>> g.numel, g.trainable
        (8, True)
    """

    name: str
    named_params: dict[str, nn.Parameter] = field(repr=False)

    @property
    def params(self) -> list[nn.Parameter]:
        """The parameters, in the model's order."""
        return list(self.named_params.values())

    @property
    def numel(self) -> int:
        """Number of scalar parameters in the group."""
        return sum(p.numel() for p in self.named_params.values())

    @property
    def trainable(self) -> bool:
        """True when every parameter of the group has ``requires_grad=True``."""
        return all(p.requires_grad for p in self.named_params.values())

    def requires_grad_(self, flag: bool = True) -> ParamGroup:
        """Freeze (``False``) or unfreeze (``True``) the whole group; returns it."""
        for p in self.named_params.values():
            p.requires_grad_(flag)
        return self

    def __repr__(self) -> str:
        state = "trainable" if self.trainable else "frozen"
        return f"ParamGroup({self.name!r}, {len(self.named_params)} tensors, {self.numel:,} parameters, {state})"


def _layer_stack(model: nn.Module) -> str:
    """The name of the ``ModuleList`` of repeated blocks holding the most parameters."""
    best_name, best_size = None, 0
    for name, module in model.named_modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        if len({type(block) for block in module}) != 1:
            continue
        size = count_parameters(module)
        if size > best_size:
            best_name, best_size = name, size
    if best_name is None:
        raise ValueError(
            f"layer_groups() found no nn.ModuleList of repeated blocks in {type(model).__name__}; "
            "build the ParamGroups yourself, e.g. ParamGroup('body', dict(model.body.named_parameters()))"
        )
    return best_name


def layer_groups(model: nn.Module) -> list[ParamGroup]:
    """Split a model into ``embeddings``, ``layer.0`` ... ``layer.N-1``, ``head``, bottom to top.

    The layers are the blocks of the largest ``nn.ModuleList`` of same-type modules
    (``encoder.layer`` in BERT, ``transformer.layer`` in DistilBERT, ``h`` in GPT-2, the
    LSTMs of a stacked RNN). Parameters registered before the first block form
    ``embeddings``, those after the last block form ``head`` (a classifier, a final layer
    norm, a LoRA-wrapped head...). Empty groups are left out.

    Arguments:
        model: a Hugging Face encoder, a model wrapping one (such as
            :class:`~tlnlp.models.Classifier`, also inside ``peft``), or any
            module with a stack of blocks.

    Returns:
        The groups, bottom (embeddings) first.

    Raises:
        ValueError: the model has no ``ModuleList`` of repeated blocks.

    Example:
        >>> from transformers import BertConfig, BertModel
        >>> bert = BertModel(BertConfig(hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
        ...                             intermediate_size=16, vocab_size=50))
        >>> [g.name for g in layer_groups(bert)]
        ['embeddings', 'layer.0', 'layer.1', 'head']
    """
    stack = _layer_stack(model)
    groups: dict[str, dict[str, nn.Parameter]] = {}
    seen_layer = False
    for name, param in model.named_parameters():
        if name.startswith(stack + "."):
            key = "layer." + name[len(stack) + 1 :].split(".", 1)[0]
            seen_layer = True
        else:
            key = "head" if seen_layer else "embeddings"
        groups.setdefault(key, {})[name] = param
    order = ["embeddings", *sorted((k for k in groups if k.startswith("layer.")), key=lambda k: int(k[6:])), "head"]
    return [ParamGroup(key, groups[key]) for key in order if key in groups]


class GradualUnfreezer:
    """Unfreeze a model one group at a time, from the top (ULMFiT's gradual unfreezing).

    At construction every group is frozen except the top ``start`` ones (by default the
    head alone). Each call of :meth:`step` counts one unit of training (an epoch, or an
    optimizer step); every ``every`` calls the next frozen group from the top is
    unfrozen, until everything trains. Build the optimizer on *all* parameters: frozen
    ones have no gradient and the optimizer skips them until they thaw.

    Because :meth:`step` has the signature of a learning-rate scheduler's, it can be
    passed to :func:`tlnlp.train.fit` (alone or with :class:`~tlnlp.transfer.StepTogether`)
    to unfreeze every ``every`` optimizer steps.

    Arguments:
        groups: bottom-to-top groups, e.g. ``layer_groups(model)``.
        every: calls of :meth:`step` between two unfreezings.
        start: how many top groups train from the beginning (at least 1).

    Example:
        >>> from transformers import BertConfig, BertModel
        >>> bert = BertModel(BertConfig(hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
        ...                             intermediate_size=16, vocab_size=50))
        >>> unfreezer = GradualUnfreezer(layer_groups(bert))
        >>> unfreezer.trainable_groups
        ['head']
        >>> unfreezer.step()
        'layer.1'
        >>> unfreezer.trainable_groups
        ['layer.1', 'head']
    """

    def __init__(self, groups: Sequence[ParamGroup], every: int = 1, start: int = 1) -> None:
        self.groups = list(groups)
        if not self.groups:
            raise ValueError("GradualUnfreezer needs at least one group")
        if every < 1:
            raise ValueError(f"every must be >= 1 (calls of step() between unfreezings), got {every}")
        if not 1 <= start <= len(self.groups):
            raise ValueError(f"start must lie in 1..{len(self.groups)} (the number of groups), got {start}")
        self.every = every
        self.n_trainable = start
        self.calls = 0
        for i, group in enumerate(self.groups):
            group.requires_grad_(i >= len(self.groups) - start)

    @property
    def trainable_groups(self) -> list[str]:
        """Names of the groups that train now, bottom to top."""
        return [g.name for g in self.groups[len(self.groups) - self.n_trainable :]]

    @property
    def done(self) -> bool:
        """True once every group trains."""
        return self.n_trainable == len(self.groups)

    def step(self) -> str | None:
        """Count one unit of training; return the name of the group it unfroze, if any."""
        self.calls += 1
        if self.done or self.calls % self.every:
            return None
        self.n_trainable += 1
        group = self.groups[len(self.groups) - self.n_trainable]
        group.requires_grad_(True)
        return group.name

    def __repr__(self) -> str:
        return f"GradualUnfreezer({self.n_trainable}/{len(self.groups)} groups trainable: {self.trainable_groups})"
