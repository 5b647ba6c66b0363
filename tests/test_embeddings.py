"""Tests of tlnlp.embeddings: each piece against an independent computation (autograd, gensim, hand counts)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tlnlp.embeddings import (
    DimensionMismatchError,
    GloVeConfig,
    SkipGramConfig,
    WordVectors,
    cooccurrence_matrix,
    embedding_coverage,
    evaluate_analogies,
    evaluate_word_pairs,
    glove_gradients,
    glove_weight,
    init_embedding_,
    keep_probabilities,
    noise_distribution,
    read_analogies,
    sample_noise,
    sgns_gradients,
    skipgram_pairs,
    to_embedding_layer,
    train_glove,
    train_skipgram,
)
from tlnlp.embeddings.glove import _AdaGrad
from tlnlp.models import Classifier
from tlnlp.text import EmptyVocabularyError, build_vocab

gensim = pytest.importorskip("gensim")


# ---------------------------------------------------------------- vocabulary
def test_build_vocab_orders_by_count_and_applies_min_count_and_max_size():
    sents = [["b", "a", "b", "c"], ["c", "b", "d"]]
    v = build_vocab(sents, min_count=2)
    assert v.words == ("b", "c") and v.counts.tolist() == [3, 2]
    assert build_vocab(sents, min_count=1, max_size=2).words == ("b", "c")
    enc = v.encode_corpus([["a", "b"], ["c", "x", "b"]])  # unknown words dropped, as word2vec does
    assert enc.ids.tolist() == [0, 1, 0] and enc.sentence_ids.tolist() == [0, 1, 1]


def test_bad_vocab_input_raises_clear_errors():
    with pytest.raises(EmptyVocabularyError, match="min_count"):
        build_vocab([["a", "b"]], min_count=2)
    with pytest.raises(EmptyVocabularyError):
        build_vocab([], min_count=1)
    with pytest.raises(TypeError, match="tokenise"):
        build_vocab(["a sentence as a string"], min_count=1)


# ---------------------------------------------------------------- skip-gram
def test_keep_probability_matches_gensim_and_the_word2vec_formula():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    weights = 1.0 / np.arange(1, 31)  # Zipf-like: a few very frequent words
    sents = [list(rng.choice(words, size=50, p=weights / weights.sum())) for _ in range(400)]
    sample = 1e-2
    model = gensim.models.Word2Vec(vector_size=4, min_count=1, sample=sample, sg=1)
    model.build_vocab(sents)
    vocab = build_vocab(sents, min_count=1)
    ours = keep_probabilities(vocab.counts, sample)
    theirs = np.array([model.wv.get_vecattr(w, "sample_int") / 2**32 for w in vocab.words])
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    # and the formula by hand for the most frequent word: (sqrt(f/t) + 1) t / f
    f = vocab.counts[0] / vocab.counts.sum()
    assert ours[0] == pytest.approx((math.sqrt(f / sample) + 1) * sample / f)
    assert ours[0] < 1 and ours[-1] == 1.0
    assert np.all(keep_probabilities(vocab.counts, 0) == 1.0)


def test_negative_samples_follow_unigram_to_the_three_quarters():
    counts = np.array([1000, 300, 100, 30, 10, 1])
    expected = counts**0.75 / (counts**0.75).sum()
    np.testing.assert_allclose(noise_distribution(counts), expected)
    cdf = np.cumsum(noise_distribution(counts))
    draws = sample_noise(cdf, (200_000,), np.random.default_rng(0))
    observed = np.bincount(draws, minlength=len(counts)) / draws.size
    # binomial standard error is at most 0.0012 here; allow 4 of them
    np.testing.assert_allclose(observed, expected, atol=0.005)
    assert observed[-1] > 0  # the rarest word is drawn too


def test_dynamic_window_uses_distance_d_with_probability_w_minus_d_plus_1_over_w():
    window, n = 4, 200_000
    ids = np.arange(n)
    centre, context = skipgram_pairs(ids, np.zeros(n, dtype=np.int64), window, np.random.default_rng(0))
    dist = context - centre
    assert set(np.unique(np.abs(dist))) == {1, 2, 3, 4}
    for d in range(1, window + 1):
        for sign in (1, -1):
            share = np.mean(dist == sign * d) * len(dist) / n  # pairs at offset sign*d per token
            assert share == pytest.approx((window - d + 1) / window, abs=0.01)
    # the pairs are symmetric in distribution and the mean number per token is W + 1
    assert len(dist) / n == pytest.approx(window + 1, abs=0.02)


def test_windows_never_cross_sentences():
    ids = np.arange(10)
    sents = np.array([0] * 3 + [1] * 7)
    c, o = skipgram_pairs(ids, sents, 5, np.random.default_rng(1))
    assert np.all(sents[c] == sents[o]) and len(c) > 0


def test_sgns_gradients_match_autograd():
    torch.manual_seed(0)
    v = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    u = torch.randn(6, 4, 5, dtype=torch.float64, requires_grad=True)
    mask = torch.ones(6, 4, dtype=torch.float64)
    mask[2, 3] = 0.0
    scores = torch.einsum("bkd,bd->bk", u, v)
    labels = torch.zeros(6, 4, dtype=torch.float64)
    labels[:, 0] = 1.0
    loss = (torch.nn.functional.binary_cross_entropy_with_logits(scores, labels, reduction="none") * mask).sum()
    loss.backward()
    ours, gv, gu = sgns_gradients(v.detach(), u.detach(), mask)
    assert ours.item() == pytest.approx(loss.item())
    torch.testing.assert_close(gv, v.grad)
    torch.testing.assert_close(gu, u.grad)


def _two_topic_corpus(seed: int = 0, n: int = 600) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    topics = [[f"a{i}" for i in range(8)], [f"b{i}" for i in range(8)]]
    return [list(rng.choice(topics[k % 2], size=12)) for k in range(n)]


def test_skipgram_learns_which_words_share_contexts():
    wv = train_skipgram(_two_topic_corpus(), SkipGramConfig(dim=16, min_count=1, epochs=3, sample=0, batch_size=16, progress=False))
    unit = wv.unit_vectors()
    topic = np.array([w[0] for w in wv.words])
    sims = unit @ unit.T
    same = sims[topic[:, None] == topic[None, :]].mean()
    other = sims[topic[:, None] != topic[None, :]].mean()
    assert same - other > 0.5, (same, other)


# ---------------------------------------------------------------- GloVe
def test_glove_weight_function():
    x = np.array([0.5, 1.0, 10.0, 99.0, 100.0, 1e4])
    expected = [min(1.0, (xi / 100.0) ** 0.75) for xi in x]
    np.testing.assert_allclose(glove_weight(x, 100.0, 0.75), expected)
    torch.testing.assert_close(glove_weight(torch.tensor(x), 100.0, 0.75), torch.tensor(expected, dtype=torch.float64))
    assert glove_weight(np.array([5.0]), x_max=10.0, alpha=1.0)[0] == pytest.approx(0.5)


def test_glove_gradients_match_autograd_on_a_tiny_matrix():
    torch.manual_seed(0)
    X = torch.tensor([[0.0, 3.0, 1.0], [3.0, 0.0, 0.5], [1.0, 0.5, 2.0]], dtype=torch.float64)
    i, j = X.nonzero(as_tuple=True)
    x = X[i, j]
    W = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    Wc = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    bc = torch.randn(3, dtype=torch.float64, requires_grad=True)
    # the objective written independently, over the whole matrix with a mask for X > 0
    pred = W @ Wc.T + b[:, None] + bc[None, :]
    f = torch.clamp((X / 2.0) ** 0.75, max=1.0)
    J = (f * (pred - torch.where(X > 0, X, torch.ones_like(X)).log()) ** 2 * (X > 0)).sum()
    J.backward()
    loss, gw, gwc, gb, gbc = glove_gradients(W[i].detach(), Wc[j].detach(), b[i].detach(), bc[j].detach(), x.log(), glove_weight(x, 2.0))
    assert loss.item() == pytest.approx(J.item())
    # per-entry gradients summed into rows equal autograd's row gradients
    for rows, g, ref in ((i, gw, W.grad), (j, gwc, Wc.grad), (i, gb, b.grad), (j, gbc, bc.grad)):
        total = torch.zeros_like(ref).index_add_(0, rows, g)
        torch.testing.assert_close(total, ref)


def test_adagrad_step_equals_torch_adagrad_with_duplicate_rows():
    torch.manual_seed(0)
    p = torch.randn(5, 3)
    ref = torch.nn.Parameter(p.clone())
    rows = torch.tensor([1, 3, 1, 4])
    grads = torch.randn(4, 3)
    opt = _AdaGrad(p, lr=0.1)
    torch_opt = torch.optim.Adagrad([ref], lr=0.1, initial_accumulator_value=1.0, eps=0.0)
    for _ in range(3):
        opt.step(rows, grads)
        ref.grad = torch.zeros(5, 3).index_add_(0, rows, grads)
        torch_opt.step()
    torch.testing.assert_close(p, ref.detach())


def test_cooccurrence_counts_with_inverse_distance_weights():
    # "the cat sat on the mat" | "dog": ids the=0 cat=1 sat=2 on=3 mat=4 dog=5, window 2
    v = build_vocab([["the", "cat", "sat", "on", "the", "mat"], ["dog"]], min_count=1)
    assert v.words == ("the", "cat", "sat", "on", "mat", "dog")
    X = cooccurrence_matrix(v.encode_corpus([["the", "cat", "sat", "on", "the", "mat"], ["dog"]]), len(v), window=2).toarray()
    expected = np.zeros((6, 6))

    def add(a, b, w):
        expected[a, b] += w
        expected[b, a] += w

    # distance 1: the-cat, cat-sat, sat-on, on-the, the-mat; distance 2: the-sat, cat-on, sat-the, on-mat
    for a, b in [(0, 1), (1, 2), (2, 3), (3, 0), (0, 4)]:
        add(a, b, 1.0)
    for a, b in [(0, 2), (1, 3), (2, 0), (3, 4)]:
        add(a, b, 0.5)
    np.testing.assert_allclose(X, expected)
    assert X[5].sum() == 0  # "dog" is alone in its sentence
    np.testing.assert_allclose(X, X.T)


def test_glove_learns_which_words_share_contexts():
    wv = train_glove(_two_topic_corpus(), GloVeConfig(dim=16, window=4, x_max=10, min_count=1, epochs=20, progress=False))
    unit = wv.unit_vectors()
    topic = np.array([w[0] for w in wv.words])
    sims = unit @ unit.T
    assert sims[topic[:, None] == topic[None, :]].mean() - sims[topic[:, None] != topic[None, :]].mean() > 0.5


# ---------------------------------------------------------------- evaluation vs gensim
def _structured_vectors(path, dim=30, seed=0) -> WordVectors:
    """Vectors in which many (not all) analogies hold: related words differ by a per-section offset plus noise."""
    rng = np.random.default_rng(seed)
    questions = read_analogies(path)
    vec: dict[str, np.ndarray] = {}
    offsets: dict[str, np.ndarray] = {}
    for section, a, b, c, d in questions[::7]:
        off = offsets.setdefault(section, rng.standard_normal(dim))
        for x, y in ((a, b), (c, d)):
            vx = vec.setdefault(x, rng.standard_normal(dim))
            vec.setdefault(y, vx + off + 0.6 * rng.standard_normal(dim))
    words = list(vec)
    rng.shuffle(words)  # frequency order is arbitrary: restrict_vocab then drops a random part
    return WordVectors(words, np.stack([vec[w] for w in words]))


def test_analogies_agree_with_gensim():
    from tlnlp.data import google_analogies_path

    path = google_analogies_path()
    wv = _structured_vectors(path)
    kv = wv.to_gensim()
    restrict = int(len(wv) * 0.8)
    ours = evaluate_analogies(wv, path, restrict_vocab=restrict)
    score, sections = kv.evaluate_word_analogies(str(path), restrict_vocab=restrict)
    total = next(s for s in sections if s["section"] == "Total accuracy")
    assert 0.05 < ours.accuracy < 0.95  # a non-trivial test
    assert ours.correct == len(total["correct"])
    assert ours.answered == len(total["correct"]) + len(total["incorrect"])
    assert ours.accuracy == pytest.approx(score)


def test_word_pairs_agree_with_gensim():
    from tlnlp.data import gensim_test_file, load_word_similarity

    rng = np.random.default_rng(0)
    for name, file in (("wordsim353", "wordsim353.tsv"), ("simlex999", "simlex999.txt")):
        pairs = load_word_similarity(name)
        words = sorted({w.lower() for a, b, _ in pairs for w in (a, b)})
        words = [w for w in words if rng.random() < 0.85]  # some OOV
        wv = WordVectors(words, rng.standard_normal((len(words), 20)))
        ours = evaluate_word_pairs(wv, pairs)
        pearson, spearman, oov = wv.to_gensim().evaluate_word_pairs(str(gensim_test_file(file)))
        assert ours.spearman == pytest.approx(spearman[0], abs=1e-6)
        assert ours.pearson == pytest.approx(pearson[0], abs=1e-6)
        assert ours.oov_rate * 100 == pytest.approx(oov)


def test_word_vectors_round_trip_through_gensim_and_disk(tmp_path):
    wv = WordVectors(["x", "y", "z"], np.arange(6, dtype=np.float32).reshape(3, 2))
    back = WordVectors.from_gensim(wv.to_gensim())
    assert back.words == wv.words and np.array_equal(back.vectors, wv.vectors)
    wv.save(tmp_path / "v.npz")
    loaded = WordVectors.load(tmp_path / "v.npz")
    assert loaded.words == wv.words and np.array_equal(loaded.vectors, wv.vectors)
    with pytest.raises(DimensionMismatchError, match="one row per word"):
        WordVectors(["x", "y"], np.zeros((3, 2)))


# ---------------------------------------------------------------- transfer
def test_to_embedding_layer_copies_known_rows_and_handles_oov_as_documented():
    rng = np.random.default_rng(0)
    wv = WordVectors([f"w{i}" for i in range(50)], rng.normal(0, 0.3, (50, 8)))
    vocab = ["<pad>", "w3", "new1", "w7", "new2"] + [f"new{i}" for i in range(3, 400)]
    layer = to_embedding_layer(wv, vocab, freeze=True, oov="random", padding_idx=0, seed=1)
    W = layer.weight.detach().numpy()
    np.testing.assert_array_equal(W[1], wv["w3"])
    np.testing.assert_array_equal(W[3], wv["w7"])
    assert np.all(W[0] == 0) and not layer.weight.requires_grad
    oov_rows = W[[i for i, w in enumerate(vocab) if w.startswith("new")]]
    assert oov_rows.std() == pytest.approx(wv.vectors.std(), rel=0.1)  # same scale as the pretrained rows
    again = to_embedding_layer(wv, vocab, oov="random", padding_idx=0, seed=1).weight.detach().numpy()
    np.testing.assert_array_equal(W, again)  # seeded
    zero = to_embedding_layer(wv, vocab, freeze=False, oov="zero").weight
    assert zero.requires_grad and torch.all(zero[2] == 0)
    assert embedding_coverage(wv, vocab) == pytest.approx(2 / len(vocab))


def test_transfer_errors_are_clear():
    wv = WordVectors(["a", "b"], np.ones((2, 4)))
    with pytest.raises(DimensionMismatchError, match="embedding_dim=4"):
        init_embedding_(torch.nn.Embedding(2, 3), wv, ["a", "b"])
    with pytest.raises(DimensionMismatchError, match="rows"):
        init_embedding_(torch.nn.Embedding(3, 4), wv, ["a", "b"])
    with pytest.raises(EmptyVocabularyError):
        to_embedding_layer(wv, [])
    with pytest.raises(ValueError, match="oov"):
        to_embedding_layer(wv, ["a"], oov="mean")


def test_frozen_embeddings_do_not_change_when_the_bag_of_embeddings_trains():
    wv = WordVectors(["good", "bad"], np.array([[1.0, 0.0], [0.0, 1.0]]))
    model = Classifier(to_embedding_layer(wv, ["<pad>", "good", "bad"], freeze=True, padding_idx=0), num_labels=2,
                       pool="mean", dropout=0.0)
    before = model.body.weight.detach().clone()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    ids, y = torch.tensor([[1, 0], [2, 0], [1, 1]]), torch.tensor([1, 0, 1])
    mask = (ids != 0).long()
    for _ in range(50):
        opt.zero_grad()
        model(ids, mask, labels=y).loss.backward()
        opt.step()
    assert torch.equal(before, model.body.weight)
    logits = model(ids, mask).logits
    assert (logits.argmax(1) == y).all()
    # the bag of embeddings is the mean of the real tokens' vectors under a linear layer
    means = torch.stack([before[row[row != 0]].mean(0) for row in ids])
    torch.testing.assert_close(logits, model.head(means))
