"""A recurrent language model (AWD-LSTM without its weight drop) and its encoder: the architecture only.

- :class:`LSTMEncoder` is an embedding and a stack of one-layer LSTMs with (variational)
  dropout, as in AWD-LSTM (Merity et al. 2018): token ids to one vector per token;
- :class:`LSTMLanguageModel` is the encoder plus an output layer tied to the embedding; it
  returns a :class:`~tlnlp.models.Output` (next-token ``logits`` and, given ``labels``, the loss),
  so :func:`tlnlp.train.fit` trains it.

A classifier on the encoder is the book's one head, ``Classifier(lm.encoder, num_labels,
pool="concat", hidden=50)`` (ULMFiT's concat pooling and two-layer head). How ULMFiT trains
them, stage by stage, is :mod:`tlnlp.recipes.ulmfit`. Introduced in chapter 3.

>>> from tlnlp.models import Classifier
>>> _ = torch.manual_seed(0)
>>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=7, emb_dim=8, hidden_dim=16))
>>> clf = Classifier(lm.encoder, num_labels=2, pool="concat", hidden=50)
>>> clf.body is lm.encoder
True
>>> ids = torch.tensor([[3, 4, 5]])
>>> lm(ids).logits.shape, clf(ids).logits.shape
(torch.Size([1, 3, 7]), torch.Size([1, 2]))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .output import Output
from .sampling import sample_tokens

__all__ = ["LSTMConfig", "LockedDropout", "LSTMEncoder", "LSTMLanguageModel", "BiLSTMEncoder"]


@dataclass(frozen=True)
class LSTMConfig:
    """Sizes and dropouts of an :class:`LSTMEncoder` (and the models built on it).

    The last LSTM layer outputs ``emb_dim`` features so that the language model's output layer
    can share the embedding matrix (weight tying). The dropouts are AWD-LSTM's, all
    *variational* (one mask per sequence, the same at every time step) except ``embed_dropout``,
    which drops whole words from the vocabulary for a forward pass.

    Attributes:
        vocab_size: rows of the embedding.
        emb_dim: embedding size, and output size of the last LSTM layer.
        hidden_dim: output size of the other LSTM layers.
        n_layers: stacked one-layer LSTMs.
        embed_dropout: probability of dropping a word type (all its occurrences) in a batch.
        input_dropout: dropout on the embeddings fed to the first layer.
        hidden_dropout: dropout between LSTM layers.
        output_dropout: dropout on the last layer's outputs.
        pad_index: the padding id (its embedding row is zero and gets no gradient).
        embed_init_std: standard deviation of the embedding's normal initialisation. PyTorch's
            LSTM initialisation expects inputs of order 1 per coordinate; AWD-LSTM's much smaller
            uniform ±0.1 suits its SGD at learning rate 30, but with Adam and a few hundred steps it
            leaves a small model stuck at the unigram solution for a long time. Since the output
            layer is tied to the embedding, it must also stay small enough that the first
            predictions are near uniform (loss ≈ log V).

    Example:
        >>> LSTMConfig(vocab_size=100).n_layers
        2
    """

    vocab_size: int
    emb_dim: int = 200
    hidden_dim: int = 400
    n_layers: int = 2
    embed_dropout: float = 0.05
    input_dropout: float = 0.25
    hidden_dropout: float = 0.2
    output_dropout: float = 0.25
    pad_index: int = 0
    embed_init_std: float = 0.4

    def __post_init__(self) -> None:
        if min(self.vocab_size, self.emb_dim, self.hidden_dim, self.n_layers) < 1:
            raise ValueError(f"vocab_size, emb_dim, hidden_dim and n_layers must be >= 1, got {self}")
        dropouts = (self.embed_dropout, self.input_dropout, self.hidden_dropout, self.output_dropout)
        if not all(0.0 <= p < 1.0 for p in dropouts):
            raise ValueError(f"dropout probabilities must lie in [0, 1), got {dropouts}")
        if self.embed_init_std <= 0:
            raise ValueError(f"embed_init_std must be > 0, got {self.embed_init_std}")
        if not 0 <= self.pad_index < self.vocab_size:
            raise ValueError(f"pad_index {self.pad_index} is outside the vocabulary of {self.vocab_size}")

    def scaled_dropout(self, multiplier: float) -> LSTMConfig:
        """The same config with every dropout multiplied by ``multiplier`` (ULMFiT's ``drop_mult``).

        Example:
            >>> LSTMConfig(vocab_size=10, input_dropout=0.2).scaled_dropout(0.5).input_dropout
            0.1
        """
        fields = asdict(self)
        for name in ("embed_dropout", "input_dropout", "hidden_dropout", "output_dropout"):
            fields[name] = fields[name] * multiplier
        return LSTMConfig(**fields)


class LockedDropout(nn.Module):
    """Variational dropout for ``(batch, time, features)`` tensors: one mask per sequence.

    Ordinary dropout draws a new mask at every time step, which adds noise the recurrence
    keeps amplifying; Gal & Ghahramani's variational dropout drops the same units at every
    step. Identity in eval mode.

    Example:
        >>> drop = LockedDropout(0.5).train()
        >>> y = drop(torch.ones(2, 5, 4))
        >>> bool((y == y[:, :1]).all())  # the same mask at every time step
        True
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        mask = x.new_empty(x.size(0), 1, x.size(2)).bernoulli_(1 - self.p) / (1 - self.p)
        return x * mask


class LSTMEncoder(nn.Module):
    """Embedding + a stack of one-layer LSTMs: token ids to one feature vector per token.

    Each layer is its own ``nn.LSTM`` so that it can be frozen, unfrozen and given its own
    learning rate (the layer groups of ULMFiT). Padded batches are packed, so padding never
    enters the recurrence: a sentence gets the same outputs alone or padded in a batch.

    Arguments:
        config: sizes and dropouts.

    Example:
        >>> enc = LSTMEncoder(LSTMConfig(vocab_size=20, emb_dim=6, hidden_dim=10)).eval()
        >>> out = enc(torch.tensor([[5, 6, 7], [5, 0, 0]]), attention_mask=torch.tensor([[1, 1, 1], [1, 0, 0]]))
        >>> out.shape, bool(torch.allclose(out[1, 0], enc(torch.tensor([[5]]))[0, 0]))
        (torch.Size([2, 3, 6]), True)
    """

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.emb_dim, padding_idx=c.pad_index)
        sizes = [c.emb_dim] + [c.hidden_dim] * (c.n_layers - 1) + [c.emb_dim]
        self.layers = nn.ModuleList(nn.LSTM(sizes[i], sizes[i + 1], batch_first=True) for i in range(c.n_layers))
        self.input_dropout = LockedDropout(c.input_dropout)
        self.hidden_dropout = LockedDropout(c.hidden_dropout)
        self.output_dropout = LockedDropout(c.output_dropout)
        self.reset_parameters()

    @property
    def output_dim(self) -> int:
        """Features per token at the output (``emb_dim``)."""
        return self.config.emb_dim

    def set_dropout(self, config: LSTMConfig) -> None:
        """Take the dropouts of ``config`` (same sizes), e.g. to train a later stage with another ``drop_mult``.

        Example:
            >>> enc = LSTMEncoder(LSTMConfig(vocab_size=20, emb_dim=6, hidden_dim=10))
            >>> enc.set_dropout(enc.config.scaled_dropout(0.0)); enc.input_dropout.p, enc.config.embed_dropout
            (0.0, 0.0)
        """
        sizes = ("vocab_size", "emb_dim", "hidden_dim", "n_layers", "pad_index")
        if any(getattr(config, k) != getattr(self.config, k) for k in sizes):
            raise ValueError(f"set_dropout() changes dropouts only; {config} has other sizes than {self.config}")
        self.config = config
        self.input_dropout.p, self.hidden_dropout.p, self.output_dropout.p = (
            config.input_dropout, config.hidden_dropout, config.output_dropout)

    def reset_parameters(self) -> None:
        """Embedding normal with ``embed_init_std`` (zero padding row); LSTMs PyTorch's default."""
        nn.init.normal_(self.embedding.weight, 0.0, self.config.embed_init_std)
        with torch.no_grad():
            self.embedding.weight[self.config.pad_index].zero_()
        for layer in self.layers:
            layer.reset_parameters()

    def embed(self, input_ids: Tensor) -> Tensor:
        """Look up the embeddings, dropping whole word types with ``embed_dropout`` in training."""
        weight = self.embedding.weight
        p = self.config.embed_dropout
        if self.training and p > 0:
            keep = weight.new_empty(weight.size(0), 1).bernoulli_(1 - p) / (1 - p)
            weight = weight * keep
        return F.embedding(input_ids, weight, self.config.pad_index)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Features of every token.

        Arguments:
            input_ids: ``(batch, time)`` ids, padded on the right.
            attention_mask: ``(batch, time)``, 1 on real tokens and 0 on padding (as
                :class:`~tlnlp.text.PadCollator` makes); ``None``: nothing is padded (e.g.
                language-model blocks).

        Returns:
            ``(batch, time, emb_dim)`` outputs of the last layer; zero at padded positions.
        """
        lengths = None if attention_mask is None else attention_mask.sum(dim=1).long()
        if lengths is not None and bool((lengths < 1).any()):
            raise ValueError(
                "LSTMEncoder got a text with no real token (an all-zero attention_mask row); drop empty texts"
            )
        x = self.input_dropout(self.embed(input_ids))
        for i, layer in enumerate(self.layers):
            if lengths is None:
                x, _ = layer(x)
            else:
                packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
                x, _ = pad_packed_sequence(layer(packed)[0], batch_first=True, total_length=input_ids.size(1))
            x = (self.hidden_dropout if i < len(self.layers) - 1 else self.output_dropout)(x)
        return x


class LSTMLanguageModel(nn.Module):
    """An LSTM language model: :class:`LSTMEncoder` + an output layer tied to the embedding.

    Tying (Press & Wolf 2017; Inan et al. 2017) makes the output layer's weight *the same
    tensor* as the embedding: ``decoder.weight is encoder.embedding.weight``. It halves the
    parameters of a word-level model and lets every prediction train the input embeddings.

    Arguments:
        config: the encoder's config.

    Example:
        >>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=50, emb_dim=8, hidden_dim=16))
        >>> lm.decoder.weight is lm.encoder.embedding.weight
        True
        >>> import math
        >>> ids = torch.zeros(2, 5, dtype=torch.long)
        >>> out = lm(ids, labels=ids)
        >>> out.logits.shape, round(out.loss.item()) == round(math.log(50))  # a fresh model is near uniform
        (torch.Size([2, 5, 50]), True)
    """

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = LSTMEncoder(config)
        self.decoder = nn.Linear(config.emb_dim, config.vocab_size)
        self.decoder.weight = self.encoder.embedding.weight
        nn.init.zeros_(self.decoder.bias)

    def forward(self, input_ids: Tensor, labels: Tensor | None = None) -> Output:
        """Next-token ``logits`` ``(batch, time, vocab_size)`` and, given ``labels``, their mean cross-entropy.

        Arguments:
            input_ids: ``(batch, time)`` ids (a block of a token stream: no padding).
            labels: ``(batch, time)`` the next token of each position (``input_ids`` shifted by one,
                as :class:`tlnlp.lm.RandomBlocks` yields them).
        """
        logits = self.decoder(self.encoder(input_ids))
        loss = None if labels is None else F.cross_entropy(logits.flatten(0, 1), labels.flatten())
        return Output(logits=logits, loss=loss)

    @torch.no_grad()
    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        suppress: tuple[int, ...] = (),
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Extend ``idx`` (``(B, T)``) by sampling ``max_new_tokens`` tokens one at a time (chapter 3).

        As :meth:`tlnlp.models.gpt.GPT.generate`: the last position's logits divided by
        ``temperature``, the ``top_k`` most likely kept, a sample from the softmax; ``suppress``
        lists ids never to sample (e.g. ``<unk>`` and ``<pad>``). The whole sequence is re-read at
        each step (the recurrence has no length limit). Eval mode while generating, restored after.

        Returns:
            ``(B, T + max_new_tokens)`` token ids, the prompt first.

        Example:
            >>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=9, emb_dim=4, hidden_dim=8))
            >>> out = lm.generate(torch.tensor([[3]]), 5, suppress=(0, 1), generator=torch.Generator().manual_seed(0))
            >>> out.shape, bool((out[:, 1:] > 1).all())
            (torch.Size([1, 6]), True)
        """
        return sample_tokens(self, lambda ids: self(ids).logits[:, -1, :], idx, max_new_tokens, temperature, top_k,
                             suppress, generator)

    def set_dropout(self, config: LSTMConfig) -> None:
        """Take the dropouts of ``config`` (see :meth:`LSTMEncoder.set_dropout`); sizes must match.

        Example:
            >>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=20, emb_dim=6, hidden_dim=10))
            >>> lm.set_dropout(lm.config.scaled_dropout(0.5)); lm.encoder.output_dropout.p
            0.125
        """
        self.encoder.set_dropout(config)
        self.config = config


class BiLSTMEncoder(nn.Module):
    """Word embeddings and one bidirectional LSTM: the small student of Tang et al. (2019), chapter 9.

    Padded batches are packed, so a sentence gets the same outputs alone or padded in a batch;
    padded positions are 0. Put it under ``Classifier(body, num_labels, pool="max")``.

    Arguments:
        vocab_size: rows of the embedding.
        emb_dim: embedding size.
        hidden_dim: LSTM size per direction (the output has ``2 * hidden_dim`` features).
        pad_index: the padding id (zero row, no gradient).
        dropout: dropout on the embeddings.

    Example:
        >>> enc = BiLSTMEncoder(20, emb_dim=6, hidden_dim=5).eval()
        >>> out = enc(torch.tensor([[5, 6, 7], [5, 0, 0]]), attention_mask=torch.tensor([[1, 1, 1], [1, 0, 0]]))
        >>> out.shape, bool(torch.allclose(out[1, 0], enc(torch.tensor([[5]]))[0, 0], atol=1e-6))
        (torch.Size([2, 3, 10]), True)
    """

    def __init__(self, vocab_size: int, emb_dim: int = 100, hidden_dim: int = 150, pad_index: int = 0,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if min(vocab_size, emb_dim, hidden_dim) < 1 or not 0 <= pad_index < vocab_size:
            raise ValueError(
                f"BiLSTMEncoder needs sizes >= 1 and 0 <= pad_index < vocab_size, got vocab_size={vocab_size}, "
                f"emb_dim={emb_dim}, hidden_dim={hidden_dim}, pad_index={pad_index}")
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_index)
        self.dropout = nn.Dropout(dropout)
        # A list of one, like LSTMEncoder's layers: tlnlp.transfer finds the layer stack by it.
        self.layers = nn.ModuleList([nn.LSTM(emb_dim, hidden_dim, batch_first=True, bidirectional=True)])

    @property
    def output_dim(self) -> int:
        """Features per token (both directions)."""
        return 2 * self.layers[0].hidden_size

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """``(batch, time, 2 * hidden_dim)`` features of every token (0 on padding)."""
        x = self.dropout(self.embedding(input_ids))
        if attention_mask is None:
            return self.layers[0](x)[0]
        lengths = attention_mask.sum(dim=1).long()
        if bool((lengths < 1).any()):
            raise ValueError("BiLSTMEncoder got a text with no real token (an all-zero attention_mask row); drop empty texts")
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(self.layers[0](packed)[0], batch_first=True, total_length=input_ids.size(1))[0]
