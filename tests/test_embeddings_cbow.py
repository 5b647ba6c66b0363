"""Tests of tlnlp.embeddings.cbow: windows against a loop, learning, agreement with gensim's CBOW.

The loss and its gradients are skip-gram's (`sgns_gradients`, checked against autograd in test_embeddings.py)."""

import numpy as np
import pytest

from tlnlp.embeddings import SkipGramConfig, cbow_windows, train_cbow


def test_windows_match_a_plain_loop_over_positions():
    rng_ids = np.random.default_rng(3)
    ids = rng_ids.integers(0, 50, size=40)
    sents = np.repeat(np.arange(5), 8)
    W = 3
    c, ctx = cbow_windows(ids, sents, W, np.random.default_rng(7))
    spans = np.random.default_rng(7).integers(1, W + 1, size=len(ids))  # the same draws, in the same order
    expected = []
    for i in range(len(ids)):
        row = [ids[i + d] if 0 <= i + d < len(ids) and abs(d) <= spans[i] and sents[i + d] == sents[i] else -1
               for d in range(-W, W + 1) if d]
        if any(x >= 0 for x in row):
            expected.append((ids[i], row))
    assert c.tolist() == [e[0] for e in expected]
    assert ctx.tolist() == [e[1] for e in expected]


def test_bad_window_input_is_refused():
    with pytest.raises(ValueError, match="same shape"):
        cbow_windows(np.arange(3), np.zeros(2, int), 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="window"):
        cbow_windows(np.arange(3), np.zeros(3, int), 0, np.random.default_rng(0))


def _two_topic_corpus(seed: int = 0, n: int = 600) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    topics = [[f"a{i}" for i in range(8)], [f"b{i}" for i in range(8)]]
    return [list(rng.choice(topics[k % 2], size=12)) for k in range(n)]


def _topic_gap(words: list[str], vectors: np.ndarray) -> float:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    topic = np.array([w[0] for w in words])
    sims = unit @ unit.T
    return sims[topic[:, None] == topic[None, :]].mean() - sims[topic[:, None] != topic[None, :]].mean()


def test_cbow_learns_which_words_share_contexts():
    wv = train_cbow(_two_topic_corpus(), SkipGramConfig(dim=16, min_count=1, epochs=3, sample=0, batch_size=16, progress=False))
    assert _topic_gap(wv.words, wv.vectors) > 0.5


def test_cbow_and_gensims_cbow_agree_on_what_they_learn():
    gensim = pytest.importorskip("gensim")
    corpus = _two_topic_corpus(1)
    cfg = SkipGramConfig(dim=16, min_count=1, epochs=3, sample=0, batch_size=16, progress=False)
    ours = train_cbow(corpus, cfg)
    model = gensim.models.Word2Vec(corpus, vector_size=16, min_count=1, epochs=3, sample=0, sg=0, cbow_mean=1, seed=0,
                                   workers=1)
    theirs = np.stack([model.wv[w] for w in ours.words])
    assert abs(_topic_gap(ours.words, ours.vectors) - _topic_gap(ours.words, theirs)) < 0.3
