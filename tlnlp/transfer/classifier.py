"""A sequence classifier on top of any Hugging Face encoder: mean pooling, dropout, linear head.

>>> from tlnlp.models import load_encoder  # doctest: +SKIP
>>> enc = load_encoder("minilm")  # doctest: +SKIP
>>> model = SequenceClassifier(enc.model, num_labels=2)  # doctest: +SKIP
>>> model(**enc.tokenizer(["a fine film"], return_tensors="pt")).logits.shape  # doctest: +SKIP
torch.Size([1, 2])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["SequenceClassifier", "mean_pool"]


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Average the hidden states of the real tokens (padding excluded).

    Arguments:
        hidden: ``(batch, length, dim)`` hidden states.
        attention_mask: ``(batch, length)``, 1 for tokens and 0 for padding; ``None``
            averages every position.

    Returns:
        ``(batch, dim)``.

    Example:
        >>> h = torch.tensor([[[1.0], [3.0], [100.0]]])
        >>> mean_pool(h, torch.tensor([[1, 1, 0]]))
        tensor([[2.]])
    """
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class SequenceClassifier(nn.Module):
    """Encoder + mean pooling + dropout + linear head, returning Hugging Face-style outputs.

    Works with any encoder whose forward takes ``input_ids`` / ``attention_mask`` and
    returns ``last_hidden_state`` (every ``transformers.AutoModel``). Mean pooling
    matches how sentence encoders such as all-MiniLM-L6-v2 were trained and, unlike the
    ``[CLS]`` vector, needs no extra pretrained layer: an encoder's ``pooler`` is unused
    and is removed (``encoder.pooler = None``), so it neither runs nor counts as a
    trainable parameter.

    The forward returns a ``SequenceClassifierOutput`` with ``logits`` and, when
    ``labels`` are given, the cross-entropy ``loss``, so the model works with
    :func:`tlnlp.train.fit` and with Hugging Face's ``Trainer`` unchanged.

    Arguments:
        encoder: the pretrained (or randomly initialised) encoder; it is modified in place
            (its pooler is dropped).
        num_labels: number of classes.
        dropout: dropout on the pooled vector before the head.

    Attributes:
        encoder: the encoder.
        head: the ``nn.Linear(hidden_size, num_labels)`` classifier.

    Example:
        >>> from transformers import BertConfig, BertModel
        >>> bert = BertModel(BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        ...                             intermediate_size=16, vocab_size=50))
        >>> model = SequenceClassifier(bert, num_labels=3)
        >>> out = model(input_ids=torch.tensor([[2, 5, 7]]), labels=torch.tensor([1]))
        >>> out.logits.shape, out.loss.dim()
        (torch.Size([1, 3]), 0)
    """

    def __init__(self, encoder: nn.Module, num_labels: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        if num_labels < 2:
            raise ValueError(f"num_labels must be >= 2 (use 2 for binary tasks), got {num_labels}")
        hidden_size = getattr(getattr(encoder, "config", None), "hidden_size", None)
        if hidden_size is None:
            raise ValueError(
                f"SequenceClassifier needs an encoder with config.hidden_size (a transformers model); "
                f"{type(encoder).__name__} has none"
            )
        if getattr(encoder, "pooler", None) is not None:
            encoder.pooler = None
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(int(hidden_size), num_labels)
        self.num_labels = num_labels

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **encoder_kwargs: Any,
    ) -> Any:
        """Classify a batch.

        Arguments:
            input_ids: ``(batch, length)`` token ids.
            attention_mask: ``(batch, length)``, 0 on padding.
            labels: ``(batch,)`` class indices; adds the mean cross-entropy ``loss``.
            encoder_kwargs: passed to the encoder (e.g. ``token_type_ids``).

        Returns:
            A ``transformers`` ``SequenceClassifierOutput`` (``loss`` is ``None`` without labels).
        """
        from transformers.modeling_outputs import SequenceClassifierOutput

        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **encoder_kwargs)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        logits = self.head(self.dropout(mean_pool(hidden, attention_mask)))
        loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)
