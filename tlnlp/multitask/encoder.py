"""A Transformer body whose frozen lower layers run once per sentence: :class:`CachedBottomEncoder`.

When only the top ``k`` layers of an encoder train, everything below them is a fixed function
of the token ids: the same sentence always gives the same hidden states there (in eval mode, so
without dropout). :class:`CachedBottomEncoder` computes those states once per distinct sentence,
keeps them in memory, and runs only the trainable top layers at every step. The output is the
same as the whole encoder's (in eval mode); a training step costs the top layers' forward and
backward passes only. Several bodies built on one :class:`FrozenBottom` share its cache, so
every seed and every model of an experiment encodes each sentence once.

Introduced in chapter 8 (multi-task learning), where it makes dozens of fine-tuning runs fit
a CPU budget.

>>> from transformers import BertConfig, BertModel
>>> bert = BertModel(BertConfig(hidden_size=8, num_hidden_layers=3, num_attention_heads=2,
...                             intermediate_size=16, vocab_size=50)).eval()
>>> body = CachedBottomEncoder(FrozenBottom(bert, trainable_top=1), bert)
>>> ids = torch.tensor([[2, 5, 7, 0]]); mask = torch.tensor([[1, 1, 1, 0]])
>>> torch.allclose(body.eval()(ids, mask)[:, :3], bert(ids, attention_mask=mask).last_hidden_state[:, :3], atol=1e-5)
True
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["FrozenBottom", "CachedBottomEncoder"]


def _layers(model: nn.Module) -> nn.ModuleList:
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise TypeError(
            f"{type(model).__name__} has no encoder.layer stack: CachedBottomEncoder splits a Hugging Face "
            "BERT-style encoder (e.g. load_encoder('minilm').model)"
        )
    return layers


class FrozenBottom:
    """The embeddings and lower layers of an encoder, frozen, with a memo of their outputs.

    Not an ``nn.Module`` on purpose: it holds no trainable weights, and a ``copy.deepcopy`` of a
    body that uses it returns the same object, so the cache is shared by every copy.

    Arguments:
        model: a Hugging Face BERT-style encoder; it is copied, not changed.
        trainable_top: how many of its top layers stay out of the bottom (at least 1, fewer
            than the number of layers).

    Attributes:
        n_cached: the number of distinct sentences encoded so far.

    Example:
        >>> from transformers import BertConfig, BertModel
        >>> bert = BertModel(BertConfig(hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
        ...                             intermediate_size=16, vocab_size=50))
        >>> bottom = FrozenBottom(bert, trainable_top=1)
        >>> bottom(torch.tensor([[2, 5], [2, 0]]), torch.tensor([[1, 1], [1, 0]])).shape, bottom.n_cached
        (torch.Size([2, 2, 8]), 2)
    """

    def __init__(self, model: nn.Module, trainable_top: int = 1) -> None:
        n_layers = len(_layers(model))
        if isinstance(trainable_top, bool) or not isinstance(trainable_top, int) or not 1 <= trainable_top < n_layers:
            raise ValueError(
                f"trainable_top must be an int from 1 to {n_layers - 1} (the encoder has {n_layers} layers), "
                f"got {trainable_top!r}"
            )
        bottom = copy.deepcopy(model)
        bottom.encoder.layer = nn.ModuleList(list(_layers(bottom))[: n_layers - trainable_top])
        if getattr(bottom, "pooler", None) is not None:
            bottom.pooler = None
        bottom.eval().requires_grad_(False)
        self.model = bottom
        self.trainable_top = trainable_top
        self._memo: dict[tuple[int, ...], Tensor] = {}

    @property
    def n_cached(self) -> int:
        return len(self._memo)

    def __deepcopy__(self, memo: dict[int, Any]) -> "FrozenBottom":
        return self  # frozen and deterministic: every copy of a body shares it

    def __call__(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """The bottom's hidden states ``(batch, time, dim)`` of a padded batch (zeros on padding)."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        lengths = attention_mask.sum(dim=1).tolist()
        keys = [tuple(row[:n].tolist()) for row, n in zip(input_ids, lengths)]
        new = [key for key in dict.fromkeys(keys) if key not in self._memo]
        if new:
            self._encode(new)
        device = next(self.model.parameters()).device
        width = self._memo[keys[0]].shape[-1]
        with torch.no_grad():
            out = torch.zeros(len(keys), input_ids.shape[1], width, device=device)
            for row, key in enumerate(keys):
                out[row, : len(key)] = self._memo[key]
        return out.to(input_ids.device)

    def _encode(self, keys: list[tuple[int, ...]], batch_size: int = 128) -> None:
        # Normal tensors even when called under evaluate()'s inference_mode: training reads them later.
        with torch.inference_mode(False), torch.no_grad():
            self._encode_batches(keys, batch_size)

    def _encode_batches(self, keys: list[tuple[int, ...]], batch_size: int) -> None:
        device = next(self.model.parameters()).device
        order = sorted(range(len(keys)), key=lambda i: -len(keys[i]))  # little padding per batch
        for start in range(0, len(order), batch_size):
            chunk = [keys[i] for i in order[start : start + batch_size]]
            width = len(chunk[0])
            ids = torch.zeros(len(chunk), width, dtype=torch.long, device=device)
            mask = torch.zeros_like(ids)
            for row, key in enumerate(chunk):
                ids[row, : len(key)] = torch.tensor(key, device=device)
                mask[row, : len(key)] = 1
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
            for row, key in enumerate(chunk):
                self._memo[key] = hidden[row, : len(key)].clone()

    def warm(self, input_ids: list[list[int]]) -> None:
        """Encode these (unpadded) sentences now, e.g. a whole dataset before timing training.

        Example:
            >>> from transformers import BertConfig, BertModel
            >>> bert = BertModel(BertConfig(hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
            ...                             intermediate_size=16, vocab_size=50))
            >>> bottom = FrozenBottom(bert); bottom.warm([[2, 5, 3], [2, 3], [2, 5, 3]]); bottom.n_cached
            2
        """
        new = [key for key in dict.fromkeys(tuple(int(t) for t in ids) for ids in input_ids) if key not in self._memo]
        if new:
            self._encode(new)


class CachedBottomEncoder(nn.Module):
    """An encoder body whose bottom is a shared, memoised :class:`FrozenBottom` and whose top trains.

    Call it like a Hugging Face encoder: ``body(input_ids, attention_mask)`` returns the hidden
    states of the top layer, ``(batch, time, dim)``, so :class:`~tlnlp.models.Classifier` and
    :class:`~tlnlp.models.heads.TokenClassifier` take it as a body. Only the top layers are
    parameters of this module; dropout acts in them alone (the bottom always runs as in eval mode).

    Arguments:
        bottom: the frozen, memoised lower part, built on the same ``model``.
        model: the pretrained encoder whose top ``bottom.trainable_top`` layers are copied here.

    Attributes:
        layers: the trainable top layers (``nn.ModuleList``).
        config: the encoder's config (its ``hidden_size`` is the body's width).

    Example:
        >>> from transformers import BertConfig, BertModel
        >>> bert = BertModel(BertConfig(hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
        ...                             intermediate_size=16, vocab_size=50))
        >>> body = CachedBottomEncoder(FrozenBottom(bert), bert)
        >>> sum(p.numel() for p in body.parameters()) == sum(p.numel() for p in bert.encoder.layer[1].parameters())
        True
    """

    def __init__(self, bottom: FrozenBottom, model: nn.Module) -> None:
        super().__init__()
        if not isinstance(bottom, FrozenBottom):
            raise TypeError(f"bottom must be a FrozenBottom, got {type(bottom).__name__}")
        layers = list(_layers(model))
        if len(layers) - bottom.trainable_top != len(_layers(bottom.model)):
            raise ValueError(
                f"the bottom holds {len(_layers(bottom.model))} layers and keeps {bottom.trainable_top} on top, but "
                f"this model has {len(layers)}: build both from the same encoder"
            )
        self.bottom = bottom
        self.layers = nn.ModuleList(copy.deepcopy(layers[len(layers) - bottom.trainable_top :]))
        self.config = model.config

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.bottom(input_ids, attention_mask).to(next(self.layers.parameters()).device)
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=attention_mask)
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return hidden
