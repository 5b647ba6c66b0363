"""A recurrent language model and a classifier that reuses its encoder (ULMFiT, Howard & Ruder 2018).

The pipeline of recurrent language-model transfer has three stages: pretrain a language model
on general text, fine-tune it on the target domain's unlabelled text, then put a classifier
head on its encoder and fine-tune on the labelled examples. This module holds the pieces:

- :class:`WordVocab` maps words to ids, with ``<pad>``, ``<unk>`` and ``<eos>``;
- :class:`LSTMEncoder` is an embedding and a stack of one-layer LSTMs with (variational)
  dropout, as in AWD-LSTM (Merity et al. 2018), without its weight drop;
- :class:`LSTMLanguageModel` is the encoder plus an output layer tied to the embedding;
- :class:`LSTMClassifier` puts a concat-pooling head on an encoder. By default it holds the
  **same** encoder module as the language model it came from (shared tensors, no copy);
- :func:`train_language_model` (pretraining and fine-tuning) and :func:`train_classifier`
  (gradual unfreezing, discriminative learning rates, slanted triangular schedule) are ULMFiT's
  recipes on top of :func:`tlnlp.train.fit`; :func:`perplexity` scores a language model.

>>> _ = torch.manual_seed(0)
>>> vocab = WordVocab.build([["a", "good", "film"], ["a", "dull", "film"]], min_count=1)
>>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=len(vocab), emb_dim=8, hidden_dim=16))
>>> clf = LSTMClassifier.from_language_model(lm, n_classes=2)
>>> clf.encoder is lm.encoder
True
>>> ids = torch.tensor([vocab.encode(["a", "good", "film"])])
>>> lm(ids).shape, clf(ids).shape
(torch.Size([1, 3, 7]), torch.Size([1, 2]))
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.data import DataLoader

from ..embeddings.vocab import build_vocab
from ..lm.batching import get_batch, iter_blocks
from ..train import History, fit
from ..transfer.batching import TokenizedDataset, make_loader
from ..transfer.freezing import GradualUnfreezer, ParamGroup
from ..transfer.schedules import StepTogether, discriminative_lr_groups, slanted_triangular

__all__ = [
    "SPECIALS",
    "WordVocab",
    "LSTMConfig",
    "LockedDropout",
    "LSTMEncoder",
    "LSTMLanguageModel",
    "LSTMClassifier",
    "concat_pool",
    "LMBatches",
    "lm_loss",
    "perplexity",
    "classification_loader",
    "train_language_model",
    "train_classifier",
    "SavedLanguageModel",
    "save_language_model",
    "load_language_model",
]

SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<eos>")
"""Special tokens of a :class:`WordVocab`, with ids 0, 1 and 2."""


@dataclass(frozen=True)
class WordVocab:
    """A word-level vocabulary: the specials of :data:`SPECIALS`, then words by frequency.

    Unknown words map to ``<unk>`` (a language model must predict *something* there, unlike
    word2vec, which drops them); ``<eos>`` ends each sentence in a token stream.

    Attributes:
        words: ``words[i]`` has id ``i``; the first three are ``<pad>``, ``<unk>``, ``<eos>``.

    Example:
        >>> v = WordVocab.build([["the", "cat"], ["the", "dog"]], min_count=1)
        >>> v.words
        ('<pad>', '<unk>', '<eos>', 'the', 'cat', 'dog')
        >>> v.encode(["the", "bird"]), v.decode([3, 5])
        ([3, 1], ['the', 'dog'])
    """

    words: tuple[str, ...]

    pad_index = 0
    unk_index = 1
    eos_index = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", tuple(self.words))
        if self.words[: len(SPECIALS)] != SPECIALS:
            raise ValueError(f"a WordVocab starts with {SPECIALS}; build one with WordVocab.build(sentences)")
        if len(set(self.words)) != len(self.words):
            raise ValueError("WordVocab words must be unique")
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.words)})

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], max_size: int | None = None, min_count: int = 2) -> WordVocab:
        """The ``max_size`` most frequent words seen at least ``min_count`` times, after the specials.

        Arguments:
            sentences: tokenised text (lists of words).
            max_size: the most words to keep, specials excluded (``None``: all).
            min_count: drop rarer words (they become ``<unk>``).
        """
        counted = build_vocab(sentences, min_count=min_count, max_size=max_size)
        return cls(SPECIALS + tuple(w for w in counted.words if w not in SPECIALS))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index  # type: ignore[attr-defined]

    def index(self, word: str) -> int:
        """The id of ``word`` (``unk_index`` when unknown)."""
        return self._index.get(word, self.unk_index)  # type: ignore[attr-defined]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of a list of words."""
        index = self._index  # type: ignore[attr-defined]
        return [index.get(w, self.unk_index) for w in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words of a sequence of ids."""
        return [self.words[int(i)] for i in ids]

    def encode_stream(self, sentences: Iterable[Sequence[str]]) -> Tensor:
        """All sentences as one 1-D ``long`` tensor, each followed by ``<eos>`` (language-model input).

        Example:
            >>> v = WordVocab.build([["a", "b"]], min_count=1)
            >>> v.encode_stream([["a"], ["b", "a"]]).tolist()
            [3, 2, 4, 3, 2]
        """
        ids: list[int] = []
        for sentence in sentences:
            ids.extend(self.encode(sentence))
            ids.append(self.eos_index)
        return torch.tensor(ids, dtype=torch.long)

    def unknown_rate(self, sentences: Iterable[Sequence[str]]) -> float:
        """Share of the tokens of ``sentences`` that are not in the vocabulary.

        Example:
            >>> WordVocab.build([["a", "b"]], min_count=1).unknown_rate([["a", "c"]])
            0.5
        """
        tokens = [w for sentence in sentences for w in sentence]
        if not tokens:
            raise ValueError("unknown_rate() got no tokens")
        return sum(w not in self for w in tokens) / len(tokens)


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
        >>> enc(torch.tensor([[5, 6, 7], [5, 0, 0]]), lengths=torch.tensor([3, 1])).shape
        torch.Size([2, 3, 6])
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

    def forward(self, input_ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Features of every token.

        Arguments:
            input_ids: ``(batch, time)`` ids, padded on the right.
            lengths: ``(batch,)`` true lengths (``None``: no padding, e.g. language-model blocks).

        Returns:
            ``(batch, time, emb_dim)`` outputs of the last layer; zero at padded positions.
        """
        x = self.input_dropout(self.embed(input_ids))
        for i, layer in enumerate(self.layers):
            if lengths is None:
                x, _ = layer(x)
            else:
                packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
                x, _ = pad_packed_sequence(layer(packed)[0], batch_first=True, total_length=input_ids.size(1))
            x = (self.hidden_dropout if i < len(self.layers) - 1 else self.output_dropout)(x)
        return x


def _param_group(name: str, modules: Sequence[tuple[str, nn.Module]]) -> ParamGroup:
    params: dict[str, nn.Parameter] = {}
    seen: set[int] = set()
    for prefix, module in modules:
        for pname, p in module.named_parameters():
            if id(p) not in seen:  # a tied weight belongs to the first module that holds it
                seen.add(id(p))
                params[f"{prefix}.{pname}"] = p
    return ParamGroup(name, params)


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
        >>> lm(torch.zeros(2, 5, dtype=torch.long)).shape
        torch.Size([2, 5, 50])
    """

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = LSTMEncoder(config)
        self.decoder = nn.Linear(config.emb_dim, config.vocab_size)
        self.decoder.weight = self.encoder.embedding.weight
        nn.init.zeros_(self.decoder.bias)

    def forward(self, input_ids: Tensor) -> Tensor:
        """Next-token logits ``(batch, time, vocab_size)`` for ``(batch, time)`` ids."""
        return self.decoder(self.encoder(input_ids))

    def set_dropout(self, config: LSTMConfig) -> None:
        """Take the dropouts of ``config`` (see :meth:`LSTMEncoder.set_dropout`); sizes must match.

        Example:
            >>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=20, emb_dim=6, hidden_dim=10))
            >>> lm.set_dropout(lm.config.scaled_dropout(0.5)); lm.encoder.output_dropout.p
            0.125
        """
        self.encoder.set_dropout(config)
        self.config = config

    def layer_groups(self) -> list[ParamGroup]:
        """Bottom-to-top groups for discriminative learning rates: ``lstm.0`` ... , then ``embedding``.

        The tied embedding is also the output layer, so it sits at the *top*, with the
        decoder's bias (the split fastai uses for ULMFiT's language-model fine-tuning).
        """
        groups = [_param_group(f"lstm.{i}", [(f"encoder.layers.{i}", layer)]) for i, layer in enumerate(self.encoder.layers)]
        groups.append(_param_group("embedding", [("encoder.embedding", self.encoder.embedding), ("decoder", self.decoder)]))
        return groups

    @torch.no_grad()
    def adapt_vocab_(self, old: WordVocab, new: WordVocab) -> float:
        """Re-index the embedding (and output layer) from vocabulary ``old`` to ``new``, in place.

        A word of ``new`` that ``old`` knows keeps its embedding row and output bias; a new
        word starts from the mean row and mean bias (ULMFiT's rule), so it begins as an
        "average word" rather than noise. The encoder stays the same module (only its
        embedding weight is replaced), so classifiers sharing it see the change.

        Returns:
            The share of ``new``'s words (specials excluded) found in ``old``.

        Example:
            >>> old = WordVocab.build([["a", "b"]], min_count=1); new = WordVocab.build([["b", "c"]], min_count=1)
            >>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=len(old), emb_dim=4, hidden_dim=4))
            >>> row_b = lm.encoder.embedding.weight[old.index("b")].clone()
            >>> lm.adapt_vocab_(old, new)
            0.5
            >>> bool((lm.encoder.embedding.weight[new.index("b")] == row_b).all())
            True
        """
        if len(old) != self.config.vocab_size:
            raise ValueError(f"the model has {self.config.vocab_size} embedding rows but old has {len(old)} words")
        weight, bias = self.encoder.embedding.weight, self.decoder.bias
        words = slice(len(SPECIALS), None)
        new_weight = weight[words].mean(0).repeat(len(new), 1)
        new_bias = bias[words].mean().repeat(len(new))
        rows_new = torch.tensor([i for i, w in enumerate(new.words) if w in old], dtype=torch.long)
        rows_old = torch.tensor([old.index(new.words[i]) for i in rows_new.tolist()], dtype=torch.long)
        new_weight[rows_new] = weight[rows_old]
        new_bias[rows_new] = bias[rows_old]
        new_weight[self.config.pad_index] = 0.0
        self.config = LSTMConfig(**{**asdict(self.config), "vocab_size": len(new)})
        self.encoder.config = self.config
        self.encoder.embedding = nn.Embedding(len(new), self.config.emb_dim, padding_idx=self.config.pad_index)
        self.encoder.embedding.weight = nn.Parameter(new_weight)
        self.decoder = nn.Linear(self.config.emb_dim, len(new))
        self.decoder.weight = self.encoder.embedding.weight
        self.decoder.bias = nn.Parameter(new_bias)
        self.to(weight.device)
        return sum(w in old for w in new.words[len(SPECIALS) :]) / max(1, len(new) - len(SPECIALS))


def concat_pool(outputs: Tensor, lengths: Tensor) -> Tensor:
    """ULMFiT's concat pooling: ``[last, max, mean]`` of each sequence's outputs over its true length.

    Arguments:
        outputs: ``(batch, time, d)`` features, padded on the right.
        lengths: ``(batch,)`` true lengths (at least 1).

    Returns:
        ``(batch, 3 * d)``: the output at the last real token, the elementwise max and the mean
        over real tokens. Padded positions never count.

    Example:
        >>> out = torch.tensor([[[1.0], [3.0], [9.0]], [[2.0], [0.0], [0.0]]])
        >>> concat_pool(out, torch.tensor([2, 1])).tolist()
        [[3.0, 3.0, 2.0], [2.0, 2.0, 2.0]]
    """
    if bool((lengths < 1).any()):
        raise ValueError("concat_pool() needs sequences of at least one token; drop empty texts first")
    lengths = lengths.to(outputs.device)
    batch, time = outputs.shape[:2]
    valid = (torch.arange(time, device=outputs.device)[None, :] < lengths[:, None]).unsqueeze(-1)
    last = outputs[torch.arange(batch, device=outputs.device), lengths - 1]
    maxed = outputs.masked_fill(~valid, float("-inf")).amax(dim=1)
    mean = (outputs * valid).sum(dim=1) / lengths[:, None].to(outputs.dtype)
    return torch.cat([last, maxed, mean], dim=1)


class LSTMClassifier(nn.Module):
    """A text classifier on an :class:`LSTMEncoder`: concat pooling and a two-layer head.

    Arguments:
        encoder: the encoder to classify with. By default the classifier holds this very
            module, so its parameters *are* the language model's: training the classifier
            changes the language model too. Pass ``copy_encoder=True`` to work on a copy.
        n_classes: number of labels.
        head_hidden: width of the head's hidden layer (50 in ULMFiT).
        head_dropout: dropout before each of the head's linear layers.
        copy_encoder: deep-copy ``encoder`` first.

    Example:
        >>> enc = LSTMEncoder(LSTMConfig(vocab_size=30, emb_dim=6, hidden_dim=8))
        >>> clf = LSTMClassifier(enc, n_classes=3)
        >>> [g.name for g in clf.layer_groups()]
        ['embedding', 'lstm.0', 'lstm.1', 'head']
        >>> LSTMClassifier(enc, 3, copy_encoder=True).encoder is enc
        False
    """

    def __init__(
        self,
        encoder: LSTMEncoder,
        n_classes: int,
        head_hidden: int = 50,
        head_dropout: float = 0.1,
        copy_encoder: bool = False,
    ) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"a classifier needs n_classes >= 2, got {n_classes}")
        self.encoder = copy.deepcopy(encoder) if copy_encoder else encoder
        d = self.encoder.output_dim
        self.head = nn.Sequential(
            nn.Dropout(head_dropout),
            nn.Linear(3 * d, head_hidden),
            nn.ReLU(),
            nn.Dropout(head_dropout),
            nn.Linear(head_hidden, n_classes),
        )

    @classmethod
    def from_language_model(cls, lm: LSTMLanguageModel, n_classes: int, **kwargs: object) -> LSTMClassifier:
        """A classifier on ``lm.encoder`` (shared unless ``copy_encoder=True``); other arguments as the class."""
        return cls(lm.encoder, n_classes, **kwargs)  # type: ignore[arg-type]

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Class logits ``(batch, n_classes)``.

        Arguments:
            input_ids: ``(batch, time)`` ids, padded on the right.
            attention_mask: ``(batch, time)``, 1 on real tokens (as :class:`~tlnlp.transfer.PadCollator`
                makes); ``None`` when nothing is padded.
        """
        if attention_mask is None:
            lengths = torch.full((input_ids.size(0),), input_ids.size(1), dtype=torch.long)
        else:
            lengths = attention_mask.sum(dim=1).long()
        outputs = self.encoder(input_ids, lengths=None if attention_mask is None else lengths)
        return self.head(concat_pool(outputs, lengths))

    def layer_groups(self) -> list[ParamGroup]:
        """Bottom-to-top groups: ``embedding``, ``lstm.0`` ... ``lstm.{n-1}``, ``head``.

        The units of gradual unfreezing (:class:`~tlnlp.transfer.GradualUnfreezer`) and
        discriminative learning rates (:func:`~tlnlp.transfer.discriminative_lr_groups`).
        """
        enc = self.encoder
        return [
            _param_group("embedding", [("encoder.embedding", enc.embedding)]),
            *(_param_group(f"lstm.{i}", [(f"encoder.layers.{i}", layer)]) for i, layer in enumerate(enc.layers)),
            _param_group("head", [("head", self.head)]),
        ]


class LMBatches:
    """Random ``(x, y)`` blocks of a token stream for :func:`tlnlp.train.fit`, ``n_batches`` per epoch.

    ``y`` is ``x`` shifted by one token. The blocks come from a generator seeded with
    ``seed``, so two runs with the same seed see the same batches.

    Arguments:
        data: 1-D token ids (e.g. :meth:`WordVocab.encode_stream`).
        block_size: tokens per block (the truncated-BPTT length; 70 in ULMFiT).
        batch_size: blocks per batch.
        n_batches: batches per pass (``len()`` of the loader).
        seed: seeds the block positions.

    Example:
        >>> loader = LMBatches(torch.arange(100), block_size=8, batch_size=4, n_batches=3)
        >>> len(loader), [tuple(x.shape) for x, y in loader]
        (3, [(4, 8), (4, 8), (4, 8)])
    """

    def __init__(self, data: Tensor, block_size: int, batch_size: int, n_batches: int, seed: int = 0) -> None:
        if n_batches < 1:
            raise ValueError(f"n_batches must be >= 1, got {n_batches}")
        self.data, self.block_size, self.batch_size, self.n_batches = data, block_size, batch_size, n_batches
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        for _ in range(self.n_batches):
            yield get_batch(self.data, self.block_size, self.batch_size, self.generator)


def lm_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """Mean next-token cross-entropy of ``(batch, time, vocab)`` logits against ``(batch, time)`` ids.

    Example:
        >>> round(lm_loss(torch.zeros(1, 2, 4), torch.tensor([[1, 3]])).item(), 4) == round(math.log(4), 4)
        True
    """
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


@torch.no_grad()
def perplexity(model: LSTMLanguageModel, data: Tensor, block_size: int = 70, batch_size: int = 64) -> float:
    """``exp`` of the mean next-token loss over every non-overlapping block of ``data``, in eval mode.

    Deterministic; each block starts from a zero state. Restores the model's mode afterwards.

    Example:
        >>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=40, emb_dim=8, hidden_dim=8))
        >>> 30 < perplexity(lm, torch.randint(40, (500,)), block_size=10) < 50  # about the vocabulary size
        True
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for x, y in iter_blocks(data, block_size, batch_size):
        logits = model(x.to(device))
        total += F.cross_entropy(logits.flatten(0, 1), y.to(device).flatten(), reduction="sum").item()
        count += y.numel()
    model.train(was_training)
    return math.exp(total / count)


def classification_loader(
    token_ids: Sequence[Sequence[int]],
    labels: Sequence[int],
    batch_size: int,
    shuffle: bool,
    seed: int | None = None,
) -> DataLoader:
    """Batches ``{"input_ids", "attention_mask", "labels"}`` of sentences of similar length.

    A thin wrapper of :func:`tlnlp.transfer.make_loader` for word ids (padding id 0); empty
    sentences are not allowed (a classifier needs at least one token to pool).

    Example:
        >>> batch = next(iter(classification_loader([[4, 5], [6]], [1, 0], batch_size=2, shuffle=False)))
        >>> batch["input_ids"].tolist(), batch["attention_mask"].sum(1).tolist()
        ([[4, 5], [6, 0]], [2, 1])
    """
    if any(len(ids) == 0 for ids in token_ids):
        raise ValueError("classification_loader() got an empty sentence; drop it or give it an <unk>")
    dataset = TokenizedDataset([list(ids) for ids in token_ids], list(labels))
    return make_loader(dataset, batch_size, shuffle=shuffle, pad_token_id=WordVocab.pad_index, seed=seed)


def train_language_model(
    lm: LSTMLanguageModel,
    data: Tensor,
    *,
    steps: int,
    lr: float,
    block_size: int = 70,
    batch_size: int = 32,
    discriminative_factor: float = 1.0,
    heldout: Tensor | None = None,
    n_evals: int = 5,
    weight_decay: float = 0.01,
    grad_clip: float = 0.5,
    seed: int = 0,
    device: Any = None,
    progress: bool = False,
) -> History:
    """Train (pretrain or fine-tune) a language model on random blocks of a token stream.

    AdamW with ULMFiT's slanted triangular learning rate (:func:`~tlnlp.transfer.slanted_triangular`),
    over the groups of :meth:`LSTMLanguageModel.layer_groups`: with ``discriminative_factor=2.6``
    each LSTM layer trains 2.6 times slower than the one above it (ULMFiT's target-domain
    fine-tuning); with 1 every parameter gets ``lr`` (pretraining).

    Arguments:
        lm: trained in place.
        data: 1-D token ids (:meth:`WordVocab.encode_stream`).
        steps: optimizer steps.
        lr: the peak learning rate (of the top group).
        block_size: tokens per block (the truncated-BPTT length).
        batch_size: blocks per step.
        discriminative_factor: ratio of learning rates between neighbouring groups.
        heldout: token ids to score ``n_evals`` times during training (``eval_loss`` in the
            records; ``exp`` of it is the perplexity).
        n_evals: evaluations on ``heldout`` (evenly spaced, the last after the last step).
        weight_decay: AdamW's decoupled weight decay.
        grad_clip: clip the global gradient norm.
        seed: seeds the blocks and the dropout masks.
        device: default :func:`tlnlp.config.device`.
        progress: show a progress bar.

    Returns:
        The :class:`~tlnlp.train.History` (``step_losses`` and one record per evaluation).

    Example:
        >>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=20, emb_dim=8, hidden_dim=8))
        >>> h = train_language_model(lm, torch.arange(300) % 20, steps=4, lr=1e-2, block_size=10,
        ...                          heldout=torch.arange(100) % 20, n_evals=2, device="cpu")
        >>> [r["step"] for r in h.records]
        [2, 4]
    """
    groups = lm.layer_groups()
    optimizer = torch.optim.AdamW(
        discriminative_lr_groups(groups, lr, factor=discriminative_factor), betas=(0.9, 0.99), weight_decay=weight_decay
    )
    eval_loader = None if heldout is None else list(iter_blocks(heldout, block_size, 64))
    return fit(
        lm,
        LMBatches(data, block_size, batch_size, steps, seed=seed),
        optimizer=optimizer,
        max_steps=steps,
        scheduler=slanted_triangular(optimizer, steps) if steps >= 2 else None,
        loss_fn=lm_loss,
        eval_loader=eval_loader,
        eval_every=max(1, steps // n_evals) if eval_loader is not None else None,
        grad_clip=grad_clip,
        device=device,
        progress=progress,
        seed=seed,
        restore_best=False,
    )


def train_classifier(
    clf: LSTMClassifier,
    token_ids: Sequence[Sequence[int]],
    labels: Sequence[int],
    *,
    steps: int,
    lr: float,
    batch_size: int = 32,
    discriminative_factor: float = 2.6,
    gradual_unfreezing: bool = True,
    unfreeze_within: float = 0.5,
    weight_decay: float = 0.01,
    grad_clip: float = 1.0,
    seed: int = 0,
    device: Any = None,
    progress: bool = False,
) -> History:
    """Fine-tune a classifier with ULMFiT's recipe (or, with its parts switched off, plainly).

    - **discriminative learning rates**: the head trains at ``lr``, each group below at the
      rate of the group above divided by ``discriminative_factor`` (2.6 in ULMFiT);
    - **slanted triangular** schedule: a short linear warm-up to the peak, a long linear decay;
    - **gradual unfreezing**: only the head trains at first; one more group thaws, from the top,
      at even intervals, so that everything trains after ``unfreeze_within`` of the steps.

    ``discriminative_factor=1`` and ``gradual_unfreezing=False`` is plain fine-tuning at one
    rate (and, for a randomly initialised encoder, training from scratch). Without gradual
    unfreezing, parameters you froze stay frozen: after ``tlnlp.transfer.freeze(clf, "encoder")``
    only the head trains, on fixed features. With it, the unfreezer decides, and every group
    is trainable again at the end.

    Arguments:
        clf: trained in place.
        token_ids: one list of word ids per example (non-empty).
        labels: one integer label per example.
        steps: optimizer steps (cycling through the examples as often as needed).
        lr: the peak learning rate of the head.
        batch_size: examples per step.
        discriminative_factor: ratio of learning rates between neighbouring groups.
        gradual_unfreezing: start with the head alone.
        unfreeze_within: share of the steps by which every group is unfrozen.
        weight_decay, grad_clip: AdamW's weight decay; the gradient-norm clip.
        seed: seeds the batch order and the dropout masks (seed the head's initialisation
            yourself, before building ``clf``).
        device: default :func:`tlnlp.config.device`.
        progress: show a progress bar.

    Returns:
        The :class:`~tlnlp.train.History` of the run.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> clf = LSTMClassifier(LSTMEncoder(LSTMConfig(vocab_size=9, emb_dim=4, hidden_dim=4)), 2)
        >>> h = train_classifier(clf, [[3, 4], [5, 6, 7], [8]], [1, 0, 1], steps=6, lr=1e-2, device="cpu")
        >>> len(h.step_losses), all(g.trainable for g in clf.layer_groups())
        (6, True)
    """
    if steps < 2:
        raise ValueError(f"steps must be >= 2 (the slanted triangle needs a rise and a fall), got {steps}")
    groups = clf.layer_groups()
    optimizer = torch.optim.AdamW(
        discriminative_lr_groups(groups, lr, factor=discriminative_factor), betas=(0.9, 0.99), weight_decay=weight_decay
    )
    scheduler: Any = slanted_triangular(optimizer, steps)
    if gradual_unfreezing:
        every = max(1, int(steps * unfreeze_within) // max(1, len(groups) - 1))
        scheduler = StepTogether(scheduler, GradualUnfreezer(groups, every=every))
    loader = classification_loader(token_ids, labels, batch_size, shuffle=True, seed=seed)
    history = fit(
        clf,
        loader,
        optimizer=optimizer,
        max_steps=steps,
        scheduler=scheduler,
        loss_fn=F.cross_entropy,
        grad_clip=grad_clip,
        device=device,
        progress=progress,
        seed=seed,
    )
    if gradual_unfreezing:  # short runs may end before the last group thaws
        for group in groups:
            group.requires_grad_(True)
    return history


class SavedLanguageModel(NamedTuple):
    """What :func:`load_language_model` returns."""

    model: LSTMLanguageModel
    vocab: WordVocab
    history: History | None


def save_language_model(lm: LSTMLanguageModel, vocab: WordVocab, path: str | Path, history: History | None = None) -> None:
    """Write a language model, its vocabulary and (optionally) its training history to one file."""
    if len(vocab) != lm.config.vocab_size:
        raise ValueError(f"the vocabulary has {len(vocab)} words but the model {lm.config.vocab_size} rows")
    state = {k: v for k, v in lm.state_dict().items() if k != "decoder.weight"}  # tied: stored once
    blob: dict[str, Any] = {"config": asdict(lm.config), "words": list(vocab.words), "state": state}
    if history is not None:
        blob["history"] = {"records": history.records, "step_losses": history.step_losses}
    torch.save(blob, path)


def load_language_model(path: str | Path, map_location: str | torch.device = "cpu") -> SavedLanguageModel:
    """Read what :func:`save_language_model` wrote (``torch.load(weights_only=True)``: no pickled code).

    Example:
        >>> import tempfile, os
        >>> v = WordVocab.build([["a"]], min_count=1)
        >>> lm = LSTMLanguageModel(LSTMConfig(vocab_size=len(v), emb_dim=4, hidden_dim=4))
        >>> path = os.path.join(tempfile.mkdtemp(), "lm.pt"); save_language_model(lm, v, path)
        >>> lm2, v2, history = load_language_model(path)
        >>> v2 == v, lm2.decoder.weight is lm2.encoder.embedding.weight, history
        (True, True, None)
    """
    blob = torch.load(path, map_location=map_location, weights_only=True)
    lm = LSTMLanguageModel(LSTMConfig(**blob["config"]))
    missing = set(lm.state_dict()) - set(blob["state"]) - {"decoder.weight"}
    if missing:
        raise ValueError(f"{path} lacks {sorted(missing)}; it was not written by save_language_model()")
    lm.load_state_dict(blob["state"], strict=False)
    saved = blob.get("history")
    history = None if saved is None else History(records=saved["records"], step_losses=saved["step_losses"])
    return SavedLanguageModel(lm, WordVocab(tuple(blob["words"])), history)
