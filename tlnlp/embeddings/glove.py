r"""GloVe (Pennington, Socher & Manning 2014): weighted least squares on log co-occurrences.

GloVe fits word vectors :math:`w_i`, context vectors :math:`\tilde w_j` and two biases so that
:math:`w_i^\top \tilde w_j + b_i + \tilde b_j \approx \log X_{ij}`, where :math:`X_{ij}` counts
(distance-weighted) how often word :math:`j` appears near word :math:`i`. The loss is

.. math:: J = \sum_{i,j:\,X_{ij}>0} f(X_{ij})\,\big(w_i^\top\tilde w_j + b_i + \tilde b_j - \log X_{ij}\big)^2,
   \qquad f(x) = \min\big(1, (x/x_{\max})^{\alpha}\big),

summed over the non-zero entries only (:math:`\log 0` is undefined and :math:`f(0)=0`). It is
*not* a factorisation :math:`X = WV^\top` and it does not maximise :math:`\sum X\log P`.
Training uses AdaGrad; the final vectors are :math:`W + \tilde W`.

>>> from tlnlp.text import build_vocab
>>> v = build_vocab([["a", "b", "c"]], min_count=1)
>>> cooccurrence_matrix(v.encode_corpus([["a", "b", "c"]]), len(v), window=2).toarray().tolist()
[[0.0, 1.0, 0.5], [1.0, 0.0, 1.0], [0.5, 1.0, 0.0]]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence, TypeVar

import numpy as np
import scipy.sparse as sp
import torch

from ..text.vocab import EncodedCorpus, Vocab, build_vocab
from .vectors import WordVectors

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class GloVeConfig:
    """Hyperparameters of :func:`train_glove`.

    Attributes:
        dim: vector size.
        window: symmetric context window; a context at distance ``d`` adds ``1/d`` to the count.
        x_max: where the weighting :math:`f` saturates. The paper uses 100; Stanford's text8
            demo script uses 10, which suits small corpora (few counts reach 100).
        alpha: exponent of :math:`f` (0.75 in the paper).
        epochs: passes over the non-zero entries.
        lr: AdaGrad learning rate (0.05 in the paper and the reference code).
        batch_size: non-zero entries per AdaGrad step (large: AdaGrad's per-coordinate
            step sizes keep large batches stable, and each step touches the whole table).
        min_count: drop rarer words.
        max_vocab: keep at most this many words (``None``: all).
        seed: seeds the initialisation and the shuffling.
        progress: show a tqdm bar.
    """

    dim: int = 100
    window: int = 10
    x_max: float = 100.0
    alpha: float = 0.75
    epochs: int = 25
    lr: float = 0.05
    batch_size: int = 65536
    min_count: int = 5
    max_vocab: int | None = None
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("dim", "window", "epochs", "batch_size", "min_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"GloVeConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("x_max", "lr", "alpha"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < float("inf")):
                raise ValueError(f"GloVeConfig.{name} must be a finite number > 0, got {value!r}")

    def key(self) -> dict:
        """The settings that change the result (for cache keys): everything but ``progress``."""
        d = asdict(self)
        d.pop("progress")
        return d


def cooccurrence_matrix(corpus: EncodedCorpus, vocab_size: int, window: int = 10) -> sp.csr_matrix:
    """Symmetric co-occurrence counts with ``1/distance`` weighting, inside sentences.

    ``X[i, j]`` sums ``1/d`` over every occurrence of word ``j`` at distance ``d <= window``
    (left or right) of an occurrence of word ``i``, so ``X`` is symmetric.

    Arguments:
        corpus: the encoded corpus (unknown words already removed).
        vocab_size: number of rows/columns.
        window: the largest distance counted.

    Returns:
        A ``float64`` CSR matrix of shape ``(vocab_size, vocab_size)``.

    Example:
        >>> c = EncodedCorpus(np.array([0, 1, 0]), np.array([0, 0, 0]))
        >>> cooccurrence_matrix(c, 2, window=2).toarray().tolist()   # 0-0 at distance 2: 0.5 each way
        [[1.0, 2.0], [2.0, 0.0]]
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    ids, sents = corpus.ids, corpus.sentence_ids
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"word ids must lie in [0, {vocab_size}); got ids up to {ids.max()}")
    x = sp.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    for d in range(1, min(window, max(len(ids) - 1, 0)) + 1):
        same = sents[:-d] == sents[d:]
        left, right = ids[:-d][same], ids[d:][same]
        weights = np.full(left.shape[0], 1.0 / d)
        half = sp.coo_matrix((weights, (left, right)), shape=(vocab_size, vocab_size)).tocsr()
        x = x + half + half.T
    x.sum_duplicates()
    return x.tocsr()


def glove_weight(x: ArrayT, x_max: float = 100.0, alpha: float = 0.75) -> ArrayT:
    r"""GloVe's weighting :math:`f(x) = \min(1, (x/x_{\max})^\alpha)` (NumPy or torch).

    Example:
        >>> glove_weight(np.array([1.0, 50.0, 100.0, 500.0]), x_max=100).round(3).tolist()
        [0.032, 0.595, 1.0, 1.0]
    """
    return ((x / x_max) ** alpha).clip(max=1.0)


def glove_gradients(
    w: torch.Tensor, wc: torch.Tensor, b: torch.Tensor, bc: torch.Tensor, log_x: torch.Tensor, weight: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The GloVe loss of a batch of non-zero entries and its gradients, by hand.

    With :math:`e = w^\top\tilde w + b + \tilde b - \log x`, the loss is :math:`\sum f\,e^2` and
    :math:`\partial/\partial w = 2fe\,\tilde w`, :math:`\partial/\partial\tilde w = 2fe\,w`,
    :math:`\partial/\partial b = \partial/\partial\tilde b = 2fe`.

    Arguments:
        w, wc: ``(B, d)`` word and context vectors of the entries.
        b, bc: ``(B,)`` their biases.
        log_x: ``(B,)`` log co-occurrence counts.
        weight: ``(B,)`` :math:`f(X_{ij})`.

    Returns:
        ``(loss, grad_w, grad_wc, grad_b, grad_bc)``.

    Example:
        >>> one = torch.ones(1, 2)
        >>> glove_gradients(one, one, torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.ones(1))[0].item()
        4.0
    """
    if w.shape != wc.shape or w.ndim != 2:
        raise ValueError(f"w and wc must both be (B, d), got {tuple(w.shape)} and {tuple(wc.shape)}")
    err = (w * wc).sum(1) + b + bc - log_x
    g = 2.0 * weight * err
    return (weight * err * err).sum(), g.unsqueeze(1) * wc, g.unsqueeze(1) * w, g, g


class _AdaGrad:
    """AdaGrad on a whole table: ``G += g**2; p -= lr * g / sqrt(G)``, with ``G`` starting at 1 (as in the reference code).

    ``step`` takes the gradients of the batch's rows; rows that occur several times have their
    gradients summed first, and rows not in the batch have ``g = 0`` and do not move, so this is
    exact AdaGrad on the batch's loss. Updating the whole table costs O(V d) per step, which
    large batches make negligible (and it vectorises far better than scattered row updates).
    """

    def __init__(self, param: torch.Tensor, lr: float) -> None:
        self.param, self.lr = param, lr
        self.accum = torch.ones_like(param)

    def step(self, rows: torch.Tensor, grads: torch.Tensor) -> None:
        g = torch.zeros_like(self.param).index_add_(0, rows, grads)
        self.accum.addcmul_(g, g)
        self.param.addcdiv_(g, self.accum.sqrt(), value=-self.lr)


def train_glove(
    sentences: Iterable[Sequence[str]],
    config: GloVeConfig = GloVeConfig(),
    vocab: Vocab | None = None,
    device: str | torch.device | None = None,
) -> WordVectors:
    """Count co-occurrences and fit GloVe with AdaGrad; return :math:`W + \\tilde W`.

    Arguments:
        sentences: tokenised sentences; iterated twice, so pass a list.
        config: hyperparameters (:class:`GloVeConfig`).
        vocab: a ready vocabulary; default: :func:`build_vocab` with ``min_count``/``max_vocab``.
        device: where the parameters live (default: CPU); counting runs on the CPU.

    Returns:
        :class:`WordVectors`, words sorted by frequency.

    Example:
        >>> wv = train_glove([["a", "b", "c"]] * 20, GloVeConfig(dim=4, min_count=1, epochs=2, progress=False))
        >>> wv.vectors.shape
        (3, 4)
    """
    from tqdm.auto import tqdm

    sentences = list(sentences)
    if vocab is None:
        vocab = build_vocab(sentences, min_count=config.min_count, max_size=config.max_vocab)
    x = cooccurrence_matrix(vocab.encode_corpus(sentences), len(vocab), config.window).tocoo()
    if x.nnz == 0:
        raise ValueError("no co-occurrences: every sentence has fewer than 2 in-vocabulary words")
    device = torch.device("cpu" if device is None else device)
    rows = torch.from_numpy(x.row.astype(np.int64)).to(device)
    cols = torch.from_numpy(x.col.astype(np.int64)).to(device)
    counts = torch.from_numpy(x.data).float().to(device)
    log_x, weight = counts.log(), glove_weight(counts, config.x_max, config.alpha)

    gen = torch.Generator().manual_seed(config.seed)
    V, d = len(vocab), config.dim
    # One table per side, the bias as the last column: [W | b] and [W~ | b~]. The reference
    # code's initialisation: uniform in [-0.5, 0.5] / d.
    words, contexts = (((torch.rand(V, d + 1, generator=gen) - 0.5) / d).to(device) for _ in range(2))
    opt_words, opt_contexts = _AdaGrad(words, config.lr), _AdaGrad(contexts, config.lr)

    bar = tqdm(total=x.nnz * config.epochs, unit="entry", unit_scale=True, disable=not config.progress, desc="GloVe")
    for _ in range(config.epochs):
        order = torch.randperm(x.nnz, generator=gen).to(device)
        loss_sum = 0.0
        for lo in range(0, x.nnz, config.batch_size):
            idx = order[lo : lo + config.batch_size]
            i, j = rows[idx], cols[idx]
            wi, cj = words[i], contexts[j]
            loss, gw, gc, gb, gbc = glove_gradients(wi[:, :d], cj[:, :d], wi[:, d], cj[:, d], log_x[idx], weight[idx])
            opt_words.step(i, torch.cat([gw, gb.unsqueeze(1)], dim=1))
            opt_contexts.step(j, torch.cat([gc, gbc.unsqueeze(1)], dim=1))
            loss_sum += float(loss)
            bar.update(idx.shape[0])
        bar.set_postfix(loss=f"{loss_sum / x.nnz:.4f}")
    bar.close()
    return WordVectors(vocab.words, (words[:, :d] + contexts[:, :d]).cpu().numpy())
