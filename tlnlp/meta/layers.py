"""MAML on the top Transformer layer(s) of a frozen encoder, made affordable by caching what lies below.

Meta-learning a whole encoder costs a forward and backward pass through every layer for every
inner step of every task. When only the top ``k`` layers adapt, the layers below compute the same
hidden states for a sentence in every episode, so they can be run *once*: :func:`hidden_below`
stores each sentence's hidden states at the input of the top ``k`` layers, and
:class:`TopLayers` (copies of those layers, mean pooling, a new linear head) is the network that
MAML adapts. Chapter 7 uses it for the case learn2learn's users reported failing with (MAML on
a pretrained Transformer, learn2learn issue 187).

>>> import torch
>>> from transformers import BertConfig, BertModel
>>> bert = BertModel(BertConfig(hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16)).eval()
>>> ids, mask = torch.tensor([[1, 5, 6, 0]]), torch.tensor([[1, 1, 1, 0]])
>>> hidden = bert(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-2]
>>> top = TopLayers(bert.encoder.layer[-1:], n_way=3).eval()
>>> top(hidden=hidden, mask=mask).shape
torch.Size([1, 3])
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["CachedInputs", "SD_FLOOR", "TopLayers", "hidden_below"]

SD_FLOOR = 0.01
"""The smallest standard deviation :class:`TopLayers` divides by, as a fraction of the median one."""


class TopLayers(nn.Module):
    """Copies of an encoder's top layers, then mean pooling over the real tokens, then a linear head.

    Arguments:
        layers: the Transformer layers to copy (e.g. ``encoder.model.encoder.layer[-1:]`` for a BERT);
            each is called as ``layer(hidden, additive_mask)``.
        n_way: outputs of the new head.
        scale: optional ``(mean, sd)`` of the pooled vectors; the head sees ``(pooled - mean) / sd``
            (the standardisation chapter 7 applies to its frozen features). An ``sd`` below
            :data:`SD_FLOOR` times its median is raised to that: a near-constant feature (MiniLM's
            top layer has one, sd ~1e-32) would otherwise multiply the gradients reaching the
            layers by up to ``1 / sd`` and turn the first inner step into NaN.

    Call :meth:`eval` to switch dropout off, as for any Transformer layer.
    """

    def __init__(self, layers: Sequence[nn.Module], n_way: int, scale: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        super().__init__()
        if len(layers) == 0:
            raise ValueError("layers is empty: pass at least one Transformer layer, e.g. encoder.model.encoder.layer[-1:]")
        self.layers = nn.ModuleList(copy.deepcopy(layer) for layer in layers)
        width = _width(self.layers[0])
        self.head = nn.Linear(width, n_way)
        mean, sd = scale if scale is not None else (torch.zeros(width), torch.ones(width))
        sd = torch.as_tensor(sd, dtype=torch.float32)
        if not bool(torch.isfinite(sd).all()) or bool((sd <= 0).all()):
            raise ValueError("scale's sd must be finite and not all zero: pass (pooled.mean(0), pooled.std(0))")
        sd = sd.clamp(min=SD_FLOOR * float(sd.median()))
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("sd", torch.as_tensor(sd, dtype=torch.float32))

    def pooled(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean over the real tokens of the top layers' output, standardised by ``scale``."""
        additive = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        for layer in self.layers:
            out = layer(hidden, additive)
            hidden = out[0] if isinstance(out, tuple) else out
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        return ((hidden * weights).sum(1) / weights.sum(1) - self.mean) / self.sd

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(hidden, mask))


def _width(layer: nn.Module) -> int:
    for module in reversed(list(layer.modules())):
        if isinstance(module, nn.LayerNorm):
            return int(module.normalized_shape[0])
    raise ValueError(f"cannot find the width of {type(layer).__name__}: it has no LayerNorm; pass BERT-style layers")


class CachedInputs:
    """Rows of cached hidden states and masks, indexed like a tensor of features: ``inputs[rows]`` is
    the dict ``{"hidden": ..., "mask": ...}`` that :class:`TopLayers` takes as keyword arguments, so
    :func:`~tlnlp.meta.episode_task` and :func:`~tlnlp.meta.episode_accuracies` accept it.

    Example:
        >>> rows = CachedInputs(torch.zeros(3, 4, 2), torch.ones(3, 4, dtype=torch.long))
        >>> len(rows), rows[[0, 2]]["hidden"].shape
        (3, torch.Size([2, 4, 2]))
    """

    def __init__(self, hidden: torch.Tensor, mask: torch.Tensor) -> None:
        if hidden.shape[:2] != mask.shape:
            raise ValueError(f"hidden {tuple(hidden.shape)} and mask {tuple(mask.shape)} disagree on (rows, tokens)")
        self.hidden, self.mask = hidden, mask

    def __len__(self) -> int:
        return len(self.hidden)

    def __getitem__(self, rows: Any) -> dict[str, torch.Tensor]:
        rows = torch.as_tensor(np.asarray(rows))
        mask = self.mask[rows]
        keep = int(mask.sum(1).max())  # trim the padding no row of this batch needs
        return {"hidden": self.hidden[rows, :keep].float(), "mask": mask[:, :keep]}


@torch.inference_mode()
def hidden_below(encoder: Any, texts: Sequence[str], top: int, *, batch_size: int = 64, max_length: int = 64) -> CachedInputs:
    """Each text's hidden states at the input of the encoder's top ``top`` layers (run once, frozen).

    Arguments:
        encoder: a :class:`~tlnlp.models.Encoder` (tokenizer + Hugging Face model).
        texts: the sentences.
        top: how many top layers will run on the cache (1 .. number of layers).
        batch_size, max_length: batching of the one forward pass.

    Returns:
        :class:`CachedInputs` padded to the longest text, in float32 (a bfloat16 cache's rounding,
        divided by the small standard deviations of some features, was large enough to matter).
    """
    n_layers = int(encoder.model.config.num_hidden_layers)
    if not 1 <= top <= n_layers:
        raise ValueError(f"top must be between 1 and the encoder's {n_layers} layers, got {top}")
    model = encoder.model.eval()
    device = next(model.parameters()).device
    chunks, masks = [], []
    for start in range(0, len(texts), batch_size):
        batch = encoder.tokenizer(list(texts[start:start + batch_size]), padding="max_length", truncation=True,
                                  max_length=max_length, return_tensors="pt").to(device)
        out = model(**batch, output_hidden_states=True)
        chunks.append(out.hidden_states[n_layers - top].float().cpu())
        masks.append(batch["attention_mask"].cpu())
    hidden, mask = torch.cat(chunks), torch.cat(masks)
    keep = int(mask.sum(1).max())
    return CachedInputs(hidden[:, :keep].contiguous(), mask[:, :keep].contiguous())
