"""One classification head for every body the book has: :class:`Classifier` and its poolings.

A *body* turns token ids into one vector per token, ``(batch, time, dim)``; a *pooling*
turns those into one vector per text; the *head* maps it to class scores. The same
:class:`Classifier` sits on

- a Hugging Face encoder (MiniLM, BERT, the book's mini-BERT): ``pool="mean"``, ``"cls"``
  or ``"pooler"`` (BERT's pretrained ``[CLS]`` layer, trained by next-sentence prediction);
- the book's LSTM encoder (chapter 3): ``pool="concat"`` (ULMFiT's ``[last, max, mean]``);
- the book's GPT (chapter 4): ``pool="last"``, the last real token, the only one that has
  seen the whole text under causal attention;
- a plain ``nn.Embedding`` (chapter 2's bag of embeddings): ``pool="mean"``.

How a body is called: a body with a ``forward_features(input_ids, attention_mask)`` method
(the book's GPT) is called through it; otherwise ``body(input_ids=..., attention_mask=...)``,
or ``body(input_ids)`` when its ``forward`` takes no mask (``nn.Embedding``). The body may
return the hidden states, or an object with ``last_hidden_state`` (Hugging Face).

Introduced in chapter 1 (frozen features) and chapter 6 (fine-tuning); every chapter's
classifier is one of these.

>>> import torch
>>> body = torch.nn.Embedding(10, 4, padding_idx=0)
>>> clf = Classifier(body, num_labels=3, pool="mean")
>>> out = clf(torch.tensor([[1, 2, 0]]), attention_mask=torch.tensor([[1, 1, 0]]), labels=torch.tensor([2]))
>>> out.logits.shape, out.loss.dim()
(torch.Size([1, 3]), 0)
"""

from __future__ import annotations

import inspect
import operator
from typing import Any, Callable, Literal

import torch
from torch import Tensor, nn

from .output import Output

__all__ = [
    "Classifier",
    "TokenClassifier",
    "POOLINGS",
    "PoolingError",
    "body_width",
    "mean_pool",
    "last_token_pool",
    "max_pool",
    "concat_pool",
]

Pooling = Literal["mean", "cls", "pooler", "last", "max", "concat"]
POOLINGS: tuple[str, ...] = ("mean", "cls", "pooler", "last", "max", "concat")
"""The poolings :class:`Classifier` knows."""


class PoolingError(ValueError):
    """The body cannot be pooled the way that was asked (or its width cannot be found)."""


def _mask_or_ones(hidden: Tensor, attention_mask: Tensor | None) -> Tensor:
    if hidden.shape[1] == 0:
        raise PoolingError(
            f"the hidden states have no tokens (shape {tuple(hidden.shape)}): every text needs at least one token; "
            "drop empty texts"
        )
    if attention_mask is None:
        return torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
    if attention_mask.shape != hidden.shape[:2]:
        raise PoolingError(
            f"attention_mask has shape {tuple(attention_mask.shape)} but the hidden states are "
            f"{tuple(hidden.shape[:2])} (batch, time): pass the mask of these very input_ids"
        )
    mask = attention_mask.to(hidden.device).bool()
    if not bool(mask.any(dim=1).all()):
        raise PoolingError("a text in the batch has no real token (an all-zero attention_mask row): drop empty texts")
    return mask


def mean_pool(hidden: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """Average of the hidden states of the real tokens (padding excluded).

    Arguments:
        hidden: ``(batch, time, dim)``.
        attention_mask: ``(batch, time)``, 1 on tokens and 0 on padding; ``None``: no padding.

    Returns:
        ``(batch, dim)``.

    Example:
        >>> mean_pool(torch.tensor([[[1.0], [3.0], [100.0]]]), torch.tensor([[1, 1, 0]]))
        tensor([[2.]])
    """
    mask = _mask_or_ones(hidden, attention_mask).unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1)


def last_token_pool(hidden: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """The hidden state of each text's last real token (right or left padding).

    Under causal attention (GPT) only the last token has seen the whole text.

    Example:
        >>> h = torch.tensor([[[1.0], [2.0], [9.0]], [[5.0], [6.0], [7.0]]])
        >>> last_token_pool(h, torch.tensor([[1, 1, 0], [0, 1, 1]])).flatten().tolist()
        [2.0, 7.0]
    """
    mask = _mask_or_ones(hidden, attention_mask)
    time = hidden.shape[1]
    last = time - 1 - mask.flip(1).int().argmax(dim=1)  # index of the last 1 in each row
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def max_pool(hidden: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """The elementwise maximum over the real tokens.

    Example:
        >>> max_pool(torch.tensor([[[1.0], [3.0], [100.0]]]), torch.tensor([[1, 1, 0]]))
        tensor([[3.]])
    """
    mask = _mask_or_ones(hidden, attention_mask).unsqueeze(-1)
    return hidden.masked_fill(~mask, float("-inf")).amax(dim=1)


def concat_pool(hidden: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """ULMFiT's concat pooling ``[last, max, mean]`` over the real tokens: ``(batch, 3 * dim)``.

    Introduced in chapter 3.

    Example:
        >>> h = torch.tensor([[[1.0], [3.0], [9.0]], [[2.0], [0.0], [0.0]]])
        >>> concat_pool(h, torch.tensor([[1, 1, 0], [1, 0, 0]])).tolist()
        [[3.0, 3.0, 2.0], [2.0, 2.0, 2.0]]
    """
    return torch.cat(
        [last_token_pool(hidden, attention_mask), max_pool(hidden, attention_mask), mean_pool(hidden, attention_mask)],
        dim=1,
    )


_POOL_FUNCTIONS: dict[str, Callable[[Tensor, Tensor | None], Tensor]] = {
    "mean": mean_pool,
    "last": last_token_pool,
    "max": max_pool,
    "concat": concat_pool,
    "cls": lambda hidden, mask: hidden[:, 0],
}


def body_width(body: nn.Module) -> int:
    """The size of the vectors a body returns per token.

    Read from ``config.hidden_size`` (Hugging Face), ``config.n_embd`` (the book's GPT),
    ``output_dim`` (the book's LSTM encoder) or ``embedding_dim`` (``nn.Embedding``).

    Example:
        >>> body_width(torch.nn.Embedding(10, 7))
        7
    """
    config = getattr(body, "config", None)
    for owner, name in ((config, "hidden_size"), (config, "n_embd"), (body, "output_dim"), (body, "embedding_dim")):
        value = getattr(owner, name, None) if owner is not None else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    raise PoolingError(
        f"Classifier cannot tell how wide the vectors of a {type(body).__name__} are (no config.hidden_size, "
        "config.n_embd, output_dim or embedding_dim): pass hidden_size=<its width>"
    )


def _int_at_least(name: str, value: Any, low: int, hint: str) -> int:
    """``value`` as an int >= ``low`` (numpy integers welcome; bools and floats refused)."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or number < low:
        raise ValueError(f"{name} must be an int >= {low} {hint}, got {value!r}")
    return number


def _takes_mask(body: nn.Module) -> bool:
    try:
        parameters = inspect.signature(body.forward).parameters
    except (TypeError, ValueError):
        return True
    return "attention_mask" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


class Classifier(nn.Module):
    """A pretrained (or random) body, a pooling and a new head: the book's one classifier.

    ``head`` is ``Dropout -> Linear(width, num_labels)``, or with ``hidden`` a two-layer MLP
    ``Dropout -> Linear(width, hidden) -> ReLU -> Dropout -> Linear(hidden, num_labels)``
    (ULMFiT's head, chapter 3). The forward returns an :class:`~tlnlp.models.output.Output`
    with ``logits`` and, when ``labels`` are given, the mean cross-entropy ``loss``, so
    :func:`tlnlp.train.fit` and Hugging Face's ``Trainer`` train it unchanged.

    The body is held, not copied: training the classifier changes the body. With any pooling
    but ``"pooler"`` a Hugging Face body's unused pooler is removed (``body.pooler = None``), so
    it neither runs nor counts as a trainable parameter.

    Arguments:
        body: the module that maps ``input_ids`` to per-token vectors (see the module docstring).
        num_labels: number of classes (at least 2).
        pool: ``"mean"``, ``"cls"``, ``"pooler"``, ``"last"``, ``"max"`` or ``"concat"``.
        hidden: width of a hidden layer in the head (``None``: a linear head).
        dropout: dropout before each linear layer of the head.
        hidden_size: the body's width, when :func:`body_width` cannot read it.

    Attributes:
        body: the body.
        head: the ``nn.Sequential`` head (named ``head`` so strategies and LoRA find it).

    Raises:
        PoolingError: unknown pooling, or ``"pooler"`` on a body that has no pooler.

    Example:
        >>> from transformers import BertConfig, BertModel
        >>> bert = BertModel(BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        ...                             intermediate_size=16, vocab_size=50))
        >>> clf = Classifier(bert, num_labels=3, pool="cls")
        >>> clf(input_ids=torch.tensor([[2, 5, 7]])).logits.shape
        torch.Size([1, 3])
    """

    def __init__(
        self,
        body: nn.Module,
        num_labels: int,
        pool: Pooling = "mean",
        hidden: int | None = None,
        dropout: float = 0.1,
        hidden_size: int | None = None,
    ) -> None:
        super().__init__()
        num_labels = _int_at_least("num_labels", num_labels, 2, "(2 for a binary task)")
        if hidden is not None:
            hidden = _int_at_least("hidden", hidden, 1, "(the width of the head's hidden layer, or None)")
        if hidden_size is not None:
            hidden_size = _int_at_least("hidden_size", hidden_size, 1, "(the width of the body's vectors)")
        if pool not in POOLINGS:
            raise PoolingError(f"unknown pool {pool!r}; choose one of {', '.join(POOLINGS)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1) (a probability; 0.1 is usual), got {dropout}")
        if not isinstance(body, nn.Module):
            raise TypeError(
                f"the body must be a torch.nn.Module, got {type(body).__name__}"
                + (": pass encoder.model, not the Encoder" if hasattr(body, "model") else "")
            )
        if pool == "pooler" and getattr(body, "pooler", None) is None:
            raise PoolingError(
                f"pool='pooler' needs a body with a pretrained pooler (BERT's [CLS] layer); "
                f"{type(body).__name__} has none: use pool='cls' or 'mean'"
            )
        if pool != "pooler" and getattr(body, "pooler", None) is not None:
            body.pooler = None
        width = hidden_size if hidden_size is not None else body_width(body)
        in_features = 3 * width if pool == "concat" else width
        self.body = body
        self.pool = pool
        self.num_labels = num_labels
        self._in_features = in_features
        if hidden is None:
            self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, num_labels))
        else:
            self.head = nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(in_features, hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, num_labels),
            )
        self._body_takes_mask = _takes_mask(body)
        self._vocab_rows = _embedding_rows(body)

    def features(self, input_ids: Tensor, attention_mask: Tensor | None = None, **body_kwargs: Any) -> Tensor:
        """The pooled vector of each text, ``(batch, width)`` (``3 * width`` for ``"concat"``)."""
        if not isinstance(input_ids, Tensor) or input_ids.dim() != 2:
            shape = tuple(input_ids.shape) if isinstance(input_ids, Tensor) else type(input_ids).__name__
            raise PoolingError(
                f"input_ids must be a (batch, time) tensor of token ids, got {shape}; "
                "for one text use input_ids.unsqueeze(0), for lists use a PadCollator batch"
            )
        _check_ids(input_ids, self._vocab_rows, type(self.body).__name__)
        out = _run_body(self.body, self._body_takes_mask, input_ids, attention_mask, body_kwargs)
        if self.pool == "pooler":
            pooled = getattr(out, "pooler_output", None)
            if pooled is None:
                raise PoolingError(f"pool='pooler': the {type(self.body).__name__} output has no pooler_output")
            return pooled
        hidden = out if isinstance(out, Tensor) else getattr(out, "last_hidden_state", None)
        if hidden is None and isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
            hidden = out[0]
        if not isinstance(hidden, Tensor) or hidden.dim() != 3:
            raise PoolingError(
                f"Classifier cannot pool the output of {type(self.body).__name__} ({type(out).__name__}): "
                "a body must return (batch, time, dim) hidden states or an object with last_hidden_state"
            )
        return _POOL_FUNCTIONS[self.pool](hidden, attention_mask)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        labels: Tensor | None = None,
        **body_kwargs: Any,
    ) -> Output:
        """Class scores of a batch, and the cross-entropy loss when ``labels`` are given.

        Arguments:
            input_ids: ``(batch, time)`` token ids.
            attention_mask: ``(batch, time)``, 0 on padding (``None``: nothing is padded).
            labels: ``(batch,)`` class indices.
            body_kwargs: passed to the body (e.g. ``token_type_ids``).
        """
        features = self.features(input_ids, attention_mask, **body_kwargs)
        expected = self._in_features
        if features.shape[-1] != expected:
            raise PoolingError(
                f"the {type(self.body).__name__} returns vectors of width "
                f"{features.shape[-1] // 3 if self.pool == 'concat' else features.shape[-1]}, but the head was built "
                f"for {expected // 3 if self.pool == 'concat' else expected}: pass hidden_size=<the body's real width>"
            )
        logits = self.head(features)
        if labels is None:
            return Output(logits=logits)
        try:
            loss = nn.functional.cross_entropy(logits, labels)
        except (IndexError, RuntimeError, TypeError, ValueError) as err:
            raise ValueError(_bad_labels(labels, logits, self.num_labels, err)) from err
        return Output(logits=logits, loss=loss)

    def extra_repr(self) -> str:
        return f"pool={self.pool!r}, num_labels={self.num_labels}"


def _bad_labels(labels: Any, logits: Tensor, num_labels: int, err: Exception) -> str:
    """Why cross-entropy refused ``labels`` (only computed after it failed: no cost on the good path)."""
    fix = f"labels must be a (batch,) long tensor of class indices 0..{num_labels - 1}"
    if not isinstance(labels, Tensor):
        return f"{fix}, got {type(labels).__name__}; pass torch.tensor(labels)"
    if labels.is_floating_point() or labels.dtype == torch.bool:
        return f"{fix}, got dtype {labels.dtype}; convert with labels.long()"
    if labels.shape != logits.shape[:1]:
        return f"{fix}, got shape {tuple(labels.shape)} for a batch of {logits.shape[0]} texts; give one label per text"
    bad = labels[(labels < 0) | (labels >= num_labels)]
    if bad.numel():
        return (
            f"{fix}, got label {int(bad[0])}: the classifier has num_labels={num_labels}; "
            "build it with num_labels = the number of classes, or map the labels to 0..num_labels-1"
        )
    return f"{fix} ({err})"


def _embedding_rows(body: nn.Module) -> int | None:
    """How many token ids the body's input embedding has rows for (None if it cannot be told)."""
    get = getattr(body, "get_input_embeddings", None)
    try:
        embedding = get() if callable(get) else None
    except NotImplementedError:
        embedding = None
    if not isinstance(embedding, nn.Embedding):
        embedding = next((m for m in body.modules() if isinstance(m, nn.Embedding)), None)
    return None if embedding is None else embedding.num_embeddings


def _check_ids(input_ids: Tensor, rows: int | None, body: str) -> None:
    """Name a bad batch here, not as an IndexError (or a CUDA device assert) inside the embedding."""
    if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool:
        raise TypeError(f"input_ids must be an integer tensor of token ids, got {input_ids.dtype}")
    if rows is not None and input_ids.numel():
        low, high = int(input_ids.min()), int(input_ids.max())  # one pass each: cheap next to the body
        if low < 0 or high >= rows:
            raise ValueError(
                f"input_ids holds token id {high if high >= rows else low}, but the {body}'s embedding has {rows} rows "
                f"(ids 0..{rows - 1}): tokenize with the tokenizer that belongs to this body"
            )


class TokenClassifier(nn.Module):
    """A body and a linear head on every token: tagging (NER), the token-level twin of :class:`Classifier`.

    The forward returns :class:`~tlnlp.models.output.Output` with ``logits`` ``(batch, time,
    num_labels)`` and, given ``labels`` ``(batch, time)``, the mean cross-entropy over the
    positions whose label is not ``-100`` (padding, special tokens and the word-pieces after a
    word's first, which carry no label of their own).

    Arguments:
        body: as for :class:`Classifier` (a Hugging Face encoder, or any module returning
            ``(batch, time, dim)`` hidden states).
        num_labels: number of tags (at least 2).
        dropout: dropout before the linear layer.
        hidden_size: the body's width, when :func:`body_width` cannot read it.

    Introduced in chapter 8 (CoNLL-2003 NER as one task of several).

    Example:
        >>> tagger = TokenClassifier(torch.nn.Embedding(10, 4), num_labels=3)
        >>> out = tagger(torch.tensor([[1, 2, 0]]), attention_mask=torch.tensor([[1, 1, 0]]),
        ...              labels=torch.tensor([[2, -100, -100]]))
        >>> out.logits.shape, out.loss.dim()
        (torch.Size([1, 3, 3]), 0)
    """

    def __init__(self, body: nn.Module, num_labels: int, dropout: float = 0.1, hidden_size: int | None = None) -> None:
        super().__init__()
        if isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 2:
            raise ValueError(f"num_labels must be an int >= 2 (the number of tags), got {num_labels!r}")
        if not isinstance(body, nn.Module):
            raise TypeError(f"the body must be a torch.nn.Module, got {type(body).__name__}")
        if getattr(body, "pooler", None) is not None:
            body.pooler = None
        width = hidden_size if hidden_size is not None else body_width(body)
        self.body = body
        self.num_labels = num_labels
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_labels))
        self._body_takes_mask = _takes_mask(body)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, labels: Tensor | None = None, **body_kwargs: Any
    ) -> Output:
        """Tag scores of every token, and the loss over the labelled tokens when ``labels`` are given."""
        out = _run_body(self.body, self._body_takes_mask, input_ids, attention_mask, body_kwargs)
        hidden = out if isinstance(out, Tensor) else getattr(out, "last_hidden_state", None)
        if not isinstance(hidden, Tensor) or hidden.dim() != 3:
            raise PoolingError(
                f"TokenClassifier needs (batch, time, dim) hidden states from {type(self.body).__name__}, "
                f"got {type(out).__name__}"
            )
        logits = self.head(hidden)
        loss = None
        if labels is not None:
            if labels.shape != logits.shape[:2]:
                raise ValueError(
                    f"labels have shape {tuple(labels.shape)} but the tokens are {tuple(logits.shape[:2])}: give one "
                    "tag id per token (-100 where there is none), e.g. from tlnlp.multitask.align_word_labels"
                )
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        return Output(logits=logits, loss=loss)

    def extra_repr(self) -> str:
        return f"num_labels={self.num_labels}"


def _run_body(body: nn.Module, takes_mask: bool, input_ids: Tensor, attention_mask: Tensor | None, kwargs: dict[str, Any]) -> Any:
    """Call a body the way it wants: ``forward_features`` (the GPT), keywords (HF), or positionally."""
    if callable(getattr(body, "forward_features", None)):
        return body.forward_features(input_ids, attention_mask=attention_mask, **kwargs)
    if takes_mask:
        return body(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
    return body(input_ids, **kwargs)
