"""Transfer word vectors into a model: an ``nn.Embedding`` initialised from them.

A downstream model has its own vocabulary (the words of its task). Each of its words that
has a pretrained vector gets that vector; the others ("OOV") get either a random vector
with the same per-coordinate standard deviation as the pretrained ones (``oov="random"``)
or zeros (``oov="zero"``). The padding row, if any, is always zero. Matching is exact
(tlnlp's corpora and tasks are lowercased by the same tokeniser). Chapter 2's bag of
embeddings is the layer under the book's one head, ``tlnlp.models.Classifier(layer,
num_labels, pool="mean")``.

>>> import numpy as np
>>> from tlnlp.embeddings import WordVectors
>>> wv = WordVectors(["good", "bad"], np.array([[1.0, 2.0], [3.0, 4.0]]))
>>> emb = to_embedding_layer(wv, ["<pad>", "bad", "meh"], oov="zero", padding_idx=0)
>>> emb.weight.tolist()
[[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]]
>>> embedding_coverage(wv, ["<pad>", "bad", "meh"])
0.3333333333333333
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import torch
from torch import nn

from ..text.vocab import EmptyVocabularyError
from .vectors import DimensionMismatchError, WordVectors

OOVInit = Literal["random", "zero"]


def _check_vocab(vocab: object) -> None:
    if isinstance(vocab, str):
        raise TypeError(f"vocab must be a list of words (row i of the layer is word i), got the string {vocab!r}")


def embedding_coverage(vectors: WordVectors, vocab: Sequence[str]) -> float:
    """Share of the words of ``vocab`` that have a pretrained vector.

    Example:
        >>> embedding_coverage(WordVectors(["a"], np.ones((1, 2))), ["a", "b"])
        0.5
    """
    _check_vocab(vocab)
    if not len(vocab):
        raise EmptyVocabularyError("the vocabulary is empty")
    return sum(w in vectors for w in vocab) / len(vocab)


def init_embedding_(
    embedding: nn.Embedding,
    vectors: WordVectors,
    vocab: Sequence[str],
    oov: OOVInit = "random",
    padding_idx: int | None = None,
    seed: int = 0,
) -> nn.Embedding:
    """Overwrite ``embedding``'s rows in place: pretrained vectors where known, ``oov`` rule elsewhere.

    Arguments:
        embedding: a layer with ``len(vocab)`` rows of ``vectors.dim`` columns.
        vectors: the pretrained vectors.
        vocab: the model's words; row ``i`` is ``vocab[i]``.
        oov: ``"random"`` — normal with the pretrained vectors' standard deviation;
            ``"zero"`` — zeros.
        padding_idx: a row set to zero whatever its word (default: the layer's ``padding_idx``).
        seed: seeds the random OOV rows.

    Returns:
        ``embedding`` itself.

    Raises:
        DimensionMismatchError: the layer's shape does not match ``(len(vocab), vectors.dim)``.
        EmptyVocabularyError: ``vocab`` is empty.

    Example:
        >>> emb = nn.Embedding(2, 2)
        >>> _ = init_embedding_(emb, WordVectors(["x"], np.array([[5.0, 6.0]])), ["x", "y"], oov="zero")
        >>> emb.weight.tolist()
        [[5.0, 6.0], [0.0, 0.0]]
    """
    _check_vocab(vocab)
    if not len(vocab):
        raise EmptyVocabularyError("the model vocabulary is empty; give at least one word")
    if oov not in ("random", "zero"):
        raise ValueError(f"oov must be 'random' or 'zero', got {oov!r}")
    if embedding.embedding_dim != vectors.dim:
        raise DimensionMismatchError(
            f"the embedding layer has dimension {embedding.embedding_dim} but the vectors have {vectors.dim}; "
            f"build the layer with embedding_dim={vectors.dim}"
        )
    if embedding.num_embeddings != len(vocab):
        raise DimensionMismatchError(
            f"the embedding layer has {embedding.num_embeddings} rows but the vocabulary has {len(vocab)} words"
        )
    rows = np.array([vectors.index.get(w, -1) for w in vocab])
    known = rows >= 0
    weight = np.zeros((len(vocab), vectors.dim), dtype=np.float32)
    weight[known] = vectors.vectors[rows[known]]
    if oov == "random":
        rng = np.random.default_rng(seed)
        scale = float(vectors.vectors.std())
        weight[~known] = rng.normal(0.0, scale, size=(int((~known).sum()), vectors.dim))
    padding_idx = embedding.padding_idx if padding_idx is None else padding_idx
    if padding_idx is not None:
        weight[padding_idx] = 0.0
    with torch.no_grad():
        embedding.weight.copy_(torch.from_numpy(weight))
    return embedding


def to_embedding_layer(
    vectors: WordVectors,
    vocab: Sequence[str],
    freeze: bool = True,
    oov: OOVInit = "random",
    padding_idx: int | None = None,
    seed: int = 0,
) -> nn.Embedding:
    """A new ``nn.Embedding`` for ``vocab`` initialised from ``vectors`` (see :func:`init_embedding_`).

    Arguments:
        vectors: the pretrained vectors.
        vocab: the model's words; row ``i`` is ``vocab[i]``.
        freeze: keep the rows fixed during training (``requires_grad=False``), or fine-tune them.
        oov: ``"random"`` or ``"zero"`` rows for words without a vector.
        padding_idx: a zero row that receives no gradient (e.g. ``0`` for ``"<pad>"``).
        seed: seeds the random OOV rows.

    Returns:
        The layer; check how many rows came from ``vectors`` with :func:`embedding_coverage`.

    Example:
        >>> wv = WordVectors(["a", "b"], np.eye(2))
        >>> layer = to_embedding_layer(wv, ["b", "a"], freeze=False)
        >>> layer.weight.tolist(), layer.weight.requires_grad
        ([[0.0, 1.0], [1.0, 0.0]], True)
    """
    _check_vocab(vocab)
    if not len(vocab):
        raise EmptyVocabularyError("the model vocabulary is empty; give at least one word")
    layer = nn.Embedding(len(vocab), vectors.dim, padding_idx=padding_idx)
    init_embedding_(layer, vectors, vocab, oov=oov, padding_idx=padding_idx, seed=seed)
    layer.weight.requires_grad_(not freeze)
    return layer
