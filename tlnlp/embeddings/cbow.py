r"""CBOW with negative sampling (word2vec's other architecture, gensim's default), trained with plain SGD.

Skip-gram predicts each context word from the centre word; *continuous bag of words* (CBOW,
Mikolov et al. 2013) does the reverse: the mean of the context words' input vectors,
:math:`h = \frac{1}{|C|}\sum_{j \in C} v_j`, predicts the centre word :math:`c` against
:math:`K` noise words,

.. math:: \ell = -\log\sigma(u_c^\top h) - \sum_k \log\sigma(-u_{n_k}^\top h).

One example per centre position (not one per pair), so an epoch costs about :math:`(W+1)` times
less than skip-gram's. Subsampling, the dynamic window, the noise distribution and the
learning-rate schedule are skip-gram's (:mod:`tlnlp.embeddings.skipgram`), and the settings are
a :class:`~tlnlp.embeddings.SkipGramConfig` (word2vec's settings are the same for both
architectures). Like word2vec.c and gensim (``cbow_mean=1``), every context word's input vector
receives the *whole* gradient with respect to :math:`h`, not its :math:`1/|C|` share.

>>> sents = [["the", "cat", "sat", "on", "the", "mat"]] * 50
>>> train_cbow(sents, SkipGramConfig(dim=8, min_count=1, epochs=1, batch_size=16, progress=False)).vectors.shape
(5, 8)
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch

from ..text.vocab import Vocab
from .skipgram import SkipGramConfig, prepare_training, sample_noise, sgns_gradients
from .vectors import WordVectors


def cbow_windows(
    ids: np.ndarray, sentence_ids: np.ndarray, window: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Every centre position with its contexts, word2vec's dynamic window drawn per position.

    Arguments:
        ids: word ids of the (already subsampled) corpus.
        sentence_ids: sentence index of each token; windows never cross sentences.
        window: the maximum window ``W``; each position draws ``b`` uniformly from ``1..W``.
        rng: NumPy generator for the window sizes.

    Returns:
        ``(centres (N,), contexts (N, 2W))``: context ids at offsets ``-W..-1, 1..W``, ``-1`` where
        there is none (beyond ``b``, or outside the sentence). Positions with no context are dropped.

    Example:
        >>> c, ctx = cbow_windows(np.array([7, 8, 9]), np.zeros(3, int), 1, np.random.default_rng(0))
        >>> c.tolist(), ctx.tolist()
        ([7, 8, 9], [[-1, 8], [7, 9], [8, -1]])
    """
    ids = np.asarray(ids)
    sentence_ids = np.asarray(sentence_ids)
    if ids.shape != sentence_ids.shape:
        raise ValueError(f"ids {ids.shape} and sentence_ids {sentence_ids.shape} must have the same shape")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    n = ids.shape[0]
    spans = rng.integers(1, window + 1, size=n)
    offsets = [d for d in range(-window, window + 1) if d]
    contexts = np.full((n, len(offsets)), -1, dtype=np.int64)
    pos = np.arange(n)
    for j, d in enumerate(offsets):
        other = pos + d
        ok = (other >= 0) & (other < n) & (abs(d) <= spans)
        ok[ok] &= sentence_ids[other[ok]] == sentence_ids[ok]
        contexts[ok, j] = ids[other[ok]]
    has = (contexts >= 0).any(axis=1)
    return ids[has].astype(np.int64), contexts[has]


def train_cbow(
    sentences: Iterable[Sequence[str]],
    config: SkipGramConfig = SkipGramConfig(),
    vocab: Vocab | None = None,
    device: str | torch.device | None = None,
) -> WordVectors:
    """Train CBOW with negative sampling on tokenised sentences (chapter 2, beside skip-gram).

    Arguments:
        sentences: tokenised sentences (lists of strings); iterated twice, so pass a list.
        config: word2vec's settings (:class:`SkipGramConfig`); ``batch_size`` counts centre positions.
        vocab: a ready vocabulary; default: :func:`build_vocab` with ``min_count``/``max_vocab``.
        device: where the embedding tables live (default: CPU).

    Returns:
        :class:`WordVectors` of the input (context) embeddings, words sorted by frequency.

    Example:
        >>> wv = train_cbow([["a", "b", "c"]] * 20, SkipGramConfig(dim=4, min_count=1, batch_size=8, progress=False))
        >>> wv.words
        ['a', 'b', 'c']
    """
    from tqdm.auto import tqdm

    vocab, corpus, device, rng, keep, noise_cdf, w_in, w_out = prepare_training(sentences, config, vocab, device)
    V, d, K, B = len(vocab), config.dim, config.negative, config.batch_size

    per_epoch = float(keep[corpus.ids].sum())
    bar = tqdm(total=int(per_epoch * config.epochs), unit="word", unit_scale=True, disable=not config.progress, desc="CBOW")
    for epoch in range(config.epochs):
        kept = rng.random(len(corpus)) < keep[corpus.ids]
        centres, contexts = cbow_windows(corpus.ids[kept], corpus.sentence_ids[kept], config.window, rng)
        order = rng.permutation(centres.shape[0])
        centres, contexts = centres[order], contexts[order]
        n = max(centres.shape[0], 1)
        loss_sum = 0.0
        for lo in range(0, centres.shape[0], B):
            lr = max(config.min_lr, config.lr * (1.0 - (epoch + lo / n) / config.epochs))
            c = torch.from_numpy(centres[lo : lo + B]).to(device)
            ctx = torch.from_numpy(contexts[lo : lo + B]).to(device)
            present = ctx >= 0
            rows = ctx.clamp(min=0)
            counts = present.sum(1, keepdim=True).to(w_in.dtype)
            h = (w_in[rows] * present.unsqueeze(2)).sum(1) / counts  # (b, d): the mean context vector
            neg = torch.from_numpy(sample_noise(noise_cdf, (c.shape[0], K), rng)).to(device)
            targets = torch.cat([c.unsqueeze(1), neg], dim=1).reshape(-1)
            mask = torch.ones(c.shape[0], K + 1, device=device)
            mask[:, 1:] = neg != c.unsqueeze(1)  # a negative equal to the centre is skipped
            outputs = torch.index_select(w_out, 0, targets).view(c.shape[0], K + 1, d)
            loss, g_h, g_o = sgns_gradients(h, outputs, mask)
            w_out.index_add_(0, targets, g_o.view(-1, d), alpha=-lr)
            # each present context word gets the whole gradient of h (word2vec.c and gensim do the same)
            flat = present.reshape(-1)
            w_in.index_add_(0, rows.reshape(-1)[flat], g_h.repeat_interleave(present.shape[1], 0)[flat], alpha=-lr)
            loss_sum += float(loss)
            bar.update(c.shape[0])
        bar.set_postfix(loss=f"{loss_sum / n:.3f}")
    bar.close()
    return WordVectors(vocab.words, w_in.cpu().numpy())


def train_gensim_cbow(
    sentences: Iterable[Sequence[str]], config: SkipGramConfig = SkipGramConfig(), workers: int = 2
) -> WordVectors:
    """The same model with gensim's ``Word2Vec(sg=0, cbow_mean=1)`` (its default), settings from ``config``.

    Example:
        >>> wv = train_gensim_cbow([["a", "b", "c"]] * 20, SkipGramConfig(dim=4, min_count=1))
        >>> sorted(wv.words)
        ['a', 'b', 'c']
    """
    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences=list(sentences), vector_size=config.dim, window=config.window, negative=config.negative,
        sample=config.sample, min_count=config.min_count, max_final_vocab=config.max_vocab, epochs=config.epochs,
        alpha=config.lr, min_alpha=config.min_lr, ns_exponent=config.noise_power, sg=0, cbow_mean=1, hs=0,
        seed=config.seed, workers=workers,
    )
    return WordVectors.from_gensim(model.wv)
