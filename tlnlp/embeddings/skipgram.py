r"""Skip-gram with negative sampling (word2vec, Mikolov et al. 2013), trained with plain SGD.

The pieces, each a function you can test on its own:

* :func:`keep_probabilities` — frequent-word subsampling. We use the formula of the
  word2vec C code (and gensim): a word of relative frequency :math:`f` is kept with
  probability :math:`\min\big(1, (\sqrt{f/t} + 1)\, t/f\big)`, where :math:`t` is ``sample``.
  (The paper writes the *discard* probability :math:`1-\sqrt{t/f}`; the code's variant keeps
  slightly more.)
* :func:`noise_distribution` — negatives are drawn from :math:`P_n(w) \propto c(w)^{0.75}`.
* :func:`skipgram_pairs` — the dynamic window: for each centre word a window size
  :math:`b` is drawn uniformly from :math:`1..W`, and every word within :math:`b` positions
  (inside the same sentence, after subsampling) is a context.
* :func:`sgns_gradients` — the loss :math:`-\log\sigma(u_o^\top v_c) - \sum_k \log\sigma(-u_{n_k}^\top v_c)`
  and its gradients, written by hand.
* :func:`train_skipgram` — the loop: each epoch subsamples, builds all pairs with numpy,
  shuffles them, and updates the two embedding tables in large batches with
  ``index_add_`` (sparse SGD), the learning rate decaying linearly to ``min_lr`` as in word2vec.

>>> sents = [["the", "cat", "sat", "on", "the", "mat"]] * 50
>>> wv = train_skipgram(sents, SkipGramConfig(dim=8, min_count=1, epochs=1, progress=False))
>>> wv.vectors.shape
(5, 8)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

import numpy as np
import torch

from ..text.vocab import EncodedCorpus, Vocab, build_vocab
from .vectors import WordVectors


@dataclass(frozen=True)
class SkipGramConfig:
    """Hyperparameters of :func:`train_skipgram`; the defaults are gensim's ``Word2Vec(sg=1)`` ones.

    Attributes:
        dim: vector size.
        window: maximum window :math:`W` (the actual one is drawn from ``1..W`` per centre word).
        negative: negatives per positive pair.
        sample: subsampling threshold :math:`t` (``0`` switches subsampling off).
        min_count: drop rarer words.
        max_vocab: keep at most this many words (``None``: all).
        epochs: passes over the corpus.
        lr: initial learning rate; decays linearly to ``min_lr``.
        min_lr: final learning rate.
        batch_size: positive pairs per SGD step. The gradients of a word that occurs several
            times in a batch are summed, like that many sequential SGD steps; keep the batch
            well below the vocabulary size (a tiny vocabulary needs a tiny batch).
        noise_power: exponent of the noise distribution.
        seed: seeds subsampling, windows, negatives and the initial vectors.
        progress: show a tqdm bar.
    """

    dim: int = 100
    window: int = 5
    negative: int = 5
    sample: float = 1e-3
    min_count: int = 5
    max_vocab: int | None = None
    epochs: int = 5
    lr: float = 0.025
    min_lr: float = 0.0001
    batch_size: int = 4096
    noise_power: float = 0.75
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("dim", "window", "negative", "epochs", "batch_size", "min_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"SkipGramConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.sample < 0:
            raise ValueError(f"SkipGramConfig.sample must be >= 0, got {self.sample}")
        if not 0 < self.min_lr <= self.lr:
            raise ValueError(f"need 0 < min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")

    def key(self) -> dict:
        """The settings that change the result (for cache keys): everything but ``progress``."""
        d = asdict(self)
        d.pop("progress")
        return d


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    r"""Probability of keeping each occurrence of each word: :math:`\min(1, (\sqrt{f/t}+1)\,t/f)`.

    :math:`f` is the word's share of all tokens and :math:`t` is ``sample``; ``sample=0``
    keeps everything. This is the word2vec C code's formula (gensim uses the same).

    Example:
        >>> keep_probabilities(np.array([1000, 10]), sample=1e-3).round(3).tolist()
        [0.033, 0.419]
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    f = counts / counts.sum()
    return np.minimum(1.0, (np.sqrt(f / sample) + 1.0) * sample / f)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    r"""The negative-sampling distribution :math:`P_n(w) = c(w)^{p} / \sum_v c(v)^{p}`.

    Example:
        >>> noise_distribution(np.array([16, 1]), power=0.75).round(3).tolist()
        [0.889, 0.111]
    """
    weights = np.asarray(counts, dtype=np.float64) ** power
    return weights / weights.sum()


def sample_noise(cdf: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw word ids from a distribution given by its cumulative sums (inverse-CDF sampling).

    Example:
        >>> cdf = np.cumsum(noise_distribution(np.array([16, 1])))
        >>> sample_noise(cdf, (3,), np.random.default_rng(0)).shape
        (3,)
    """
    ids = np.searchsorted(cdf, rng.random(shape) * cdf[-1], side="right")
    return np.minimum(ids, len(cdf) - 1)


def skipgram_pairs(
    ids: np.ndarray, sentence_ids: np.ndarray, window: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) pairs of a token stream with word2vec's dynamic window.

    Each position draws its window ``b`` uniformly from ``1..window``; the words at offsets
    ``±1..±b`` in the same sentence are its contexts. So a context at distance ``d`` is used
    with probability ``(window - d + 1) / window``: near words count more.

    Arguments:
        ids: word ids of the (already subsampled) corpus.
        sentence_ids: sentence index of each token; windows never cross sentences.
        window: the maximum window ``W``.
        rng: NumPy generator for the window sizes.

    Returns:
        ``(centre, context)`` id arrays of equal length.

    Example:
        >>> c, o = skipgram_pairs(np.array([7, 8, 9]), np.zeros(3, int), 1, np.random.default_rng(0))
        >>> sorted(zip(c.tolist(), o.tolist()))
        [(7, 8), (8, 7), (8, 9), (9, 8)]
    """
    ids = np.asarray(ids)
    sentence_ids = np.asarray(sentence_ids)
    if ids.shape != sentence_ids.shape:
        raise ValueError(f"ids {ids.shape} and sentence_ids {sentence_ids.shape} must have the same shape")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    n = ids.shape[0]
    spans = rng.integers(1, window + 1, size=n)
    centres, contexts = [], []
    for d in range(1, window + 1):
        if d >= n:
            break
        same = sentence_ids[:-d] == sentence_ids[d:]
        right = same & (spans[:-d] >= d)  # centre i, context i + d
        left = same & (spans[d:] >= d)  # centre i + d, context i
        centres += [ids[:-d][right], ids[d:][left]]
        contexts += [ids[d:][right], ids[:-d][left]]
    if not centres:
        return np.empty(0, dtype=ids.dtype), np.empty(0, dtype=ids.dtype)
    return np.concatenate(centres), np.concatenate(contexts)


def sgns_gradients(
    centre: torch.Tensor, outputs: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Loss and gradients of skip-gram with negative sampling for a batch.

    With :math:`v` the centre's input vector, :math:`u_0` the true context's output vector
    and :math:`u_1..u_K` the negatives', the loss of one pair is
    :math:`-\log\sigma(u_0^\top v) - \sum_{k\ge1}\log\sigma(-u_k^\top v)`. With
    :math:`g_k = \sigma(u_k^\top v) - [k=0]`, :math:`\partial/\partial v = \sum_k g_k u_k` and
    :math:`\partial/\partial u_k = g_k v`.

    Arguments:
        centre: ``(B, d)`` input vectors.
        outputs: ``(B, 1 + K, d)`` output vectors, the true context first.
        mask: optional ``(B, 1 + K)`` 0/1 weights (to drop negatives that hit the true context).

    Returns:
        ``(loss summed over the batch, grad of centre (B, d), grad of outputs (B, 1+K, d))``.

    Example:
        >>> loss, gv, gu = sgns_gradients(torch.zeros(2, 3), torch.zeros(2, 4, 3))
        >>> round(loss.item() / 2, 4)  # 4 log 2: one positive and three negatives at score 0
        2.7726
    """
    if centre.ndim != 2 or outputs.ndim != 3 or outputs.shape[0] != centre.shape[0] or outputs.shape[2] != centre.shape[1]:
        raise ValueError(f"expected centre (B, d) and outputs (B, 1+K, d), got {tuple(centre.shape)} and {tuple(outputs.shape)}")
    scores = torch.bmm(outputs, centre.unsqueeze(2)).squeeze(2)  # (B, 1+K)
    sign = torch.full_like(scores, -1.0)
    sign[:, 0] = 1.0
    loss_terms = -torch.nn.functional.logsigmoid(sign * scores)
    g = torch.sigmoid(scores)
    g[:, 0] -= 1.0
    if mask is not None:
        g = g * mask
        loss_terms = loss_terms * mask
    grad_centre = torch.bmm(g.unsqueeze(1), outputs).squeeze(1)
    grad_outputs = g.unsqueeze(2) * centre.unsqueeze(1)
    return loss_terms.sum(), grad_centre, grad_outputs


def _epoch_pairs(
    corpus: EncodedCorpus, keep: np.ndarray, window: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    kept = rng.random(len(corpus)) < keep[corpus.ids]
    centre, context = skipgram_pairs(corpus.ids[kept], corpus.sentence_ids[kept], window, rng)
    order = rng.permutation(centre.shape[0])
    return centre[order], context[order]


def train_skipgram(
    sentences: Iterable[Sequence[str]],
    config: SkipGramConfig = SkipGramConfig(),
    vocab: Vocab | None = None,
    device: str | torch.device | None = None,
) -> WordVectors:
    """Train skip-gram with negative sampling on tokenised sentences.

    Pairs and negatives are drawn with NumPy on the CPU; the two tables live on ``device``.

    Arguments:
        sentences: tokenised sentences (lists of strings); iterated twice, so pass a list.
        config: hyperparameters (:class:`SkipGramConfig`).
        vocab: a ready vocabulary; default: :func:`build_vocab` with ``min_count``/``max_vocab``.
        device: where the embedding tables live (default: CPU).

    Returns:
        :class:`WordVectors` of the input ("centre") embeddings, words sorted by frequency.

    Example:
        >>> wv = train_skipgram([["a", "b", "c"]] * 20, SkipGramConfig(dim=4, min_count=1, progress=False))
        >>> wv.words
        ['a', 'b', 'c']
    """
    from tqdm.auto import tqdm

    vocab, corpus, device, rng, keep, noise_cdf, w_in, w_out = prepare_training(sentences, config, vocab, device)
    V, d, K, B = len(vocab), config.dim, config.negative, config.batch_size

    # Expected pairs per epoch (mean window (W+1)/2 on both sides), for the progress bar.
    per_epoch = float(keep[corpus.ids].sum()) * (config.window + 1)
    bar = tqdm(total=int(per_epoch * config.epochs), unit="pair", unit_scale=True, disable=not config.progress, desc="skip-gram")
    for epoch in range(config.epochs):
        centre_all, context_all = _epoch_pairs(corpus, keep, config.window, rng)
        n_pairs = max(centre_all.shape[0], 1)
        loss_sum = 0.0
        for lo in range(0, centre_all.shape[0], B):
            lr = max(config.min_lr, config.lr * (1.0 - (epoch + lo / n_pairs) / config.epochs))
            c = torch.from_numpy(centre_all[lo : lo + B]).to(device)
            o = torch.from_numpy(context_all[lo : lo + B]).to(device)
            neg = torch.from_numpy(sample_noise(noise_cdf, (c.shape[0], K), rng)).to(device)
            targets = torch.cat([o.unsqueeze(1), neg], dim=1).reshape(-1)  # (b * (1+K),)
            mask = torch.ones(c.shape[0], K + 1, device=device)
            mask[:, 1:] = neg != o.unsqueeze(1)  # a negative equal to the true context is skipped
            outputs = torch.index_select(w_out, 0, targets).view(c.shape[0], K + 1, d)
            loss, g_c, g_o = sgns_gradients(torch.index_select(w_in, 0, c), outputs, mask)
            w_in.index_add_(0, c, g_c, alpha=-lr)  # duplicates add up, as sequential SGD steps would
            w_out.index_add_(0, targets, g_o.view(-1, d), alpha=-lr)
            loss_sum += float(loss)
            bar.update(c.shape[0])
        bar.set_postfix(loss=f"{loss_sum / n_pairs:.3f}")
    bar.close()
    return WordVectors(vocab.words, w_in.cpu().numpy())


def train_gensim_skipgram(
    sentences: Iterable[Sequence[str]], config: SkipGramConfig = SkipGramConfig(), workers: int = 2
) -> WordVectors:
    """The same model with gensim's ``Word2Vec(sg=1)``, every hyperparameter taken from ``config``.

    The reference implementation to compare :func:`train_skipgram` with: same window,
    negatives, subsampling, ``min_count``, epochs, learning-rate schedule and noise exponent
    (``batch_size`` has no gensim counterpart; gensim updates after every pair).

    Example:
        >>> wv = train_gensim_skipgram([["a", "b", "c"]] * 20, SkipGramConfig(dim=4, min_count=1))
        >>> sorted(wv.words)
        ['a', 'b', 'c']
    """
    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences=list(sentences),
        vector_size=config.dim,
        window=config.window,
        negative=config.negative,
        sample=config.sample,
        min_count=config.min_count,
        max_final_vocab=config.max_vocab,
        epochs=config.epochs,
        alpha=config.lr,
        min_alpha=config.min_lr,
        ns_exponent=config.noise_power,
        sg=1,
        hs=0,
        seed=config.seed,
        workers=workers,
    )
    return WordVectors.from_gensim(model.wv)


def prepare_training(
    sentences: Iterable[Sequence[str]], config: SkipGramConfig, vocab: Vocab | None = None, device=None
) -> tuple:
    """What skip-gram and CBOW both start from: vocabulary, encoded corpus, RNG, subsampling and noise
    tables, and word2vec's initial tables (input uniform in ±0.5/d, output zero).

    Returns:
        ``(vocab, corpus, device, rng, keep, noise_cdf, w_in, w_out)``.

    Example:
        >>> vocab, corpus, *_, w_in, w_out = prepare_training([["a", "b"]] * 3, SkipGramConfig(dim=2, min_count=1))
        >>> (len(vocab), tuple(w_in.shape), float(w_out.abs().sum()))
        (2, (2, 2), 0.0)
    """
    sentences = list(sentences)
    if vocab is None:
        vocab = build_vocab(sentences, min_count=config.min_count, max_size=config.max_vocab)
    corpus = vocab.encode_corpus(sentences)
    if len(corpus) < 2:
        raise ValueError("the corpus has fewer than 2 in-vocabulary tokens; give more text")
    device = torch.device("cpu" if device is None else device)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    keep = keep_probabilities(vocab.counts, config.sample)
    noise_cdf = np.cumsum(noise_distribution(vocab.counts, config.noise_power))
    V, d = len(vocab), config.dim
    w_in = ((torch.rand(V, d, generator=gen) - 0.5) / d).to(device)  # word2vec's initialisation
    w_out = torch.zeros(V, d, device=device)
    return vocab, corpus, device, rng, keep, noise_cdf, w_in, w_out
