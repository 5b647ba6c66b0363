"""The recurrent-transfer model: shared encoder, tied weights, pooling, layer groups, ULMFiT schedule."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tlnlp.models.lstm import (
    LMBatches,
    LSTMClassifier,
    LSTMConfig,
    LSTMEncoder,
    LSTMLanguageModel,
    WordVocab,
    classification_loader,
    concat_pool,
    lm_loss,
    load_language_model,
    perplexity,
    save_language_model,
    train_classifier,
)
from tlnlp.train import fit
from tlnlp.transfer import GradualUnfreezer, StepTogether, discriminative_lr_groups, freeze, slanted_triangular

V = 60


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: a second thread only adds synchronisation (and stalls on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_lm(seed: int = 0, **overrides: float) -> LSTMLanguageModel:
    torch.manual_seed(seed)
    return LSTMLanguageModel(LSTMConfig(vocab_size=V, emb_dim=8, hidden_dim=12, n_layers=2, **overrides))


def test_classifier_holds_the_language_models_encoder() -> None:
    lm = small_lm()
    clf = LSTMClassifier.from_language_model(lm, n_classes=2)
    assert clf.encoder is lm.encoder
    lm_params = dict(lm.encoder.named_parameters())
    for name, p in clf.encoder.named_parameters():
        assert p is lm_params[name] and p.data_ptr() == lm_params[name].data_ptr()


def test_a_classifier_step_changes_the_language_model_unless_copied() -> None:
    batch = torch.randint(3, V, (4, 7))
    targets = torch.tensor([0, 1, 0, 1])
    for copy_encoder in (False, True):
        lm = small_lm()
        before = {k: v.detach().clone() for k, v in lm.state_dict().items()}
        ppl_before = perplexity(lm, torch.randint(3, V, (200,)), block_size=10)
        clf = LSTMClassifier.from_language_model(lm, n_classes=2, copy_encoder=copy_encoder)
        opt = torch.optim.SGD(clf.parameters(), lr=1.0)
        F.cross_entropy(clf(batch), targets).backward()
        opt.step()
        changed = [k for k, v in lm.state_dict().items() if not torch.equal(v, before[k])]
        if copy_encoder:
            assert changed == [] and clf.encoder is not lm.encoder
        else:
            # every encoder tensor moved (the tied decoder weight with the embedding); the LM's own bias did not
            assert set(changed) == {k for k in before if k != "decoder.bias"}
            assert perplexity(lm, torch.randint(3, V, (200,)), block_size=10) != ppl_before


def test_output_layer_is_tied_to_the_embedding() -> None:
    lm = small_lm()
    assert lm.decoder.weight is lm.encoder.embedding.weight
    # one tensor, counted once
    assert sum(p.numel() for p in lm.parameters()) == sum(
        p.numel() for n, p in lm.named_parameters() if n != "decoder.weight"
    )
    # the logits are embedding rows dotted with the last hidden state, plus the bias
    lm.eval()
    ids = torch.randint(3, V, (2, 5))
    hidden = lm.encoder(ids)
    expected = hidden @ lm.encoder.embedding.weight.T + lm.decoder.bias
    torch.testing.assert_close(lm(ids), expected)


def test_tying_survives_a_vocabulary_change_and_save_load(tmp_path) -> None:
    old = WordVocab.build([["a", "b", "c", "d"]], min_count=1)
    new = WordVocab.build([["c", "e", "a"]], min_count=1)
    torch.manual_seed(0)
    lm = LSTMLanguageModel(LSTMConfig(vocab_size=len(old), emb_dim=4, hidden_dim=6))
    encoder = lm.encoder
    w_old = lm.encoder.embedding.weight.detach().clone()
    coverage = lm.adapt_vocab_(old, new)
    assert coverage == pytest.approx(2 / 3)  # c and a are known, e is new
    assert lm.encoder is encoder and lm.decoder.weight is lm.encoder.embedding.weight
    w = lm.encoder.embedding.weight
    assert w.shape == (len(new), 4)
    torch.testing.assert_close(w[new.index("a")], w_old[old.index("a")])
    torch.testing.assert_close(w[new.index("e")], w_old[3:].mean(0))  # a new word starts as the mean word
    assert w[new.pad_index].abs().sum() == 0
    save_language_model(lm, new, tmp_path / "lm.pt")
    lm2, vocab2, _ = load_language_model(tmp_path / "lm.pt")
    assert vocab2 == new and lm2.decoder.weight is lm2.encoder.embedding.weight
    torch.testing.assert_close(lm2.encoder.embedding.weight, w)


def test_concat_pooling_ignores_padding() -> None:
    torch.manual_seed(0)
    clf = LSTMClassifier(LSTMEncoder(LSTMConfig(vocab_size=V, emb_dim=8, hidden_dim=12)), n_classes=3).eval()
    short, long = [5, 9, 11], [7, 8, 9, 10, 12, 13]
    loader = classification_loader([long, short], [0, 1], batch_size=2, shuffle=False)
    batch = next(iter(loader))
    assert batch["input_ids"].shape == (2, 6)  # short was padded with three zeros
    padded = clf(batch["input_ids"], batch["attention_mask"])
    alone = clf(torch.tensor([short]))
    torch.testing.assert_close(padded[1:], alone)
    # different padding ids must not matter either
    garbage = batch["input_ids"].clone()
    garbage[1, 3:] = 42
    torch.testing.assert_close(clf(garbage, batch["attention_mask"]), padded)


def test_concat_pool_matches_a_direct_computation() -> None:
    torch.manual_seed(0)
    out = torch.randn(3, 5, 4)
    lengths = torch.tensor([5, 2, 1])
    pooled = concat_pool(out, lengths)
    for b, n in enumerate(lengths.tolist()):
        real = out[b, :n]
        expected = torch.cat([real[-1], real.max(0).values, real.mean(0)])
        torch.testing.assert_close(pooled[b], expected)
    with pytest.raises(ValueError, match="at least one token"):
        concat_pool(out, torch.tensor([5, 0, 1]))


def test_output_shapes() -> None:
    lm = small_lm()
    ids = torch.randint(0, V, (3, 11))
    assert lm(ids).shape == (3, 11, V)
    assert lm.encoder(ids).shape == (3, 11, 8)
    clf = LSTMClassifier.from_language_model(lm, n_classes=5)
    assert clf(ids).shape == (3, 5)
    mask = torch.ones(3, 11, dtype=torch.long)
    mask[1, 4:] = 0
    assert clf(ids, mask).shape == (3, 5)


def test_language_model_loss_at_initialisation_is_log_vocab() -> None:
    # Uniform predictions over V words cost log(V) nats: a fresh model must start near it.
    for vocab_size in (50, 2000):
        torch.manual_seed(0)
        lm = LSTMLanguageModel(LSTMConfig(vocab_size=vocab_size, emb_dim=32, hidden_dim=64)).eval()
        ids = torch.randint(0, vocab_size, (8, 30))
        loss = lm_loss(lm(ids[:, :-1]), ids[:, 1:]).item()
        assert loss == pytest.approx(math.log(vocab_size), rel=0.02)


def test_layer_groups_cover_every_parameter_once() -> None:
    lm = small_lm()
    clf = LSTMClassifier.from_language_model(lm, n_classes=2)
    for model, names in ((clf, ["embedding", "lstm.0", "lstm.1", "head"]), (lm, ["lstm.0", "lstm.1", "embedding"])):
        groups = model.layer_groups()
        assert [g.name for g in groups] == names
        ids = [id(p) for g in groups for p in g.params]
        assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in model.parameters()}
    assert "decoder.bias" in lm.layer_groups()[-1].named_params  # the tied output layer trains with the embedding


def test_gradual_unfreezing_thaws_the_classifier_from_the_top() -> None:
    clf = LSTMClassifier.from_language_model(small_lm(), n_classes=2)
    groups = clf.layer_groups()
    unfreezer = GradualUnfreezer(groups, every=2)
    expected = [
        ["head"],
        ["head"],
        ["lstm.1", "head"],
        ["lstm.1", "head"],
        ["lstm.0", "lstm.1", "head"],
        ["lstm.0", "lstm.1", "head"],
        ["embedding", "lstm.0", "lstm.1", "head"],
    ]
    for step, trainable in enumerate(expected):
        assert [g.name for g in groups if g.trainable] == trainable, f"after {step} steps"
        frozen = [p for g in groups if g.name not in trainable for p in g.params]
        assert all(not p.requires_grad for p in frozen)
        unfreezer.step()
    # a frozen group gets no gradient and does not move in a training step
    clf2 = LSTMClassifier.from_language_model(small_lm(), n_classes=2)
    groups2 = clf2.layer_groups()
    GradualUnfreezer(groups2, start=2)  # head and lstm.1 train
    before = {n: p.detach().clone() for n, p in clf2.named_parameters()}
    opt = torch.optim.SGD(clf2.parameters(), lr=0.5)
    F.cross_entropy(clf2(torch.randint(3, V, (4, 6))), torch.tensor([0, 1, 1, 0])).backward()
    opt.step()
    for g in groups2:
        moved = any(not torch.equal(p, before[n]) for n, p in g.named_params.items())
        assert moved == (g.name in ("lstm.1", "head")), g.name


def test_discriminative_learning_rates_divide_by_2_6_per_group_down() -> None:
    clf = LSTMClassifier.from_language_model(small_lm(), n_classes=2)
    groups = clf.layer_groups()
    opt = torch.optim.AdamW(discriminative_lr_groups(groups, base_lr=0.01))
    rates = {g["name"]: g["lr"] for g in opt.param_groups}
    for k, name in enumerate(["head", "lstm.1", "lstm.0", "embedding"]):
        assert rates[name] == pytest.approx(0.01 / 2.6**k)
    # the slanted triangle scales every group by the same factor, so the ratios survive it
    sched = slanted_triangular(opt, total_steps=20)
    for _ in range(7):
        opt.step()
        sched.step()
    now = [g["lr"] for g in opt.param_groups]
    assert [b / a for a, b in zip(now, now[1:])] == pytest.approx([2.6] * 3)


def _train_once(seed: int) -> tuple[list[float], torch.Tensor]:
    torch.manual_seed(seed)
    lm = LSTMLanguageModel(LSTMConfig(vocab_size=V, emb_dim=8, hidden_dim=12))
    data = torch.randint(3, V, (500,))
    opt = torch.optim.AdamW(discriminative_lr_groups(lm.layer_groups(), 0.01))
    history = fit(
        lm,
        LMBatches(data, block_size=10, batch_size=4, n_batches=6, seed=seed),
        optimizer=opt,
        max_steps=6,
        loss_fn=lm_loss,
        scheduler=StepTogether(slanted_triangular(opt, 6)),
        progress=False,
        seed=seed,
        device="cpu",
    )
    return history.step_losses, lm.encoder.embedding.weight.detach().clone()


def test_training_is_deterministic_given_a_seed() -> None:
    losses_a, weights_a = _train_once(3)
    losses_b, weights_b = _train_once(3)
    losses_c, _ = _train_once(4)
    assert losses_a == losses_b
    assert torch.equal(weights_a, weights_b)
    assert losses_a != losses_c


def test_language_model_learns_a_repeating_sequence() -> None:
    # A sanity check of the whole LM path: a cycle of 7 tokens becomes nearly certain.
    torch.manual_seed(0)
    lm = LSTMLanguageModel(LSTMConfig(vocab_size=V, emb_dim=16, hidden_dim=32, embed_dropout=0.0,
                                      input_dropout=0.0, hidden_dropout=0.0, output_dropout=0.0))
    data = (torch.arange(700) % 7) + 3
    opt = torch.optim.Adam(lm.parameters(), lr=0.02)
    fit(lm, LMBatches(data, 14, 8, 80, seed=0), optimizer=opt, max_steps=80, loss_fn=lm_loss, progress=False, device="cpu")
    assert perplexity(lm, data, block_size=14) < 1.5


def test_vocab_and_batches() -> None:
    vocab = WordVocab.build([["x", "y", "y"], ["z"]], min_count=2)
    assert vocab.words == ("<pad>", "<unk>", "<eos>", "y")
    assert vocab.encode_stream([["y", "x"]]).tolist() == [3, vocab.unk_index, vocab.eos_index]
    assert vocab.unknown_rate([["y", "x"]]) == 0.5
    x, y = next(iter(LMBatches(torch.arange(50), block_size=6, batch_size=3, n_batches=1)))
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y, x + 1)
    with pytest.raises(ValueError, match="empty sentence"):
        classification_loader([[4], []], [0, 1], batch_size=2, shuffle=False)


def test_train_classifier_respects_frozen_parameters_without_gradual_unfreezing() -> None:
    ids, labels = [[3, 4, 5], [6, 7], [8, 9, 10, 11]], [1, 0, 1]
    clf = LSTMClassifier.from_language_model(small_lm(), n_classes=2)
    freeze(clf, "encoder")
    before = {n: p.detach().clone() for n, p in clf.named_parameters()}
    train_classifier(clf, ids, labels, steps=4, lr=0.05, gradual_unfreezing=False, discriminative_factor=1.0, device="cpu")
    for name, p in clf.named_parameters():
        assert torch.equal(p, before[name]) == name.startswith("encoder."), name
    # with gradual unfreezing the unfreezer takes over, and everything trains by the end
    train_classifier(clf, ids, labels, steps=4, lr=0.05, device="cpu")
    assert all(g.trainable for g in clf.layer_groups())


def test_set_dropout_changes_only_the_dropouts() -> None:
    lm = small_lm()
    ids = torch.randint(3, V, (3, 9))
    lm.train()
    assert not torch.equal(lm(ids), lm(ids))  # dropout on: two passes differ
    state = {k: v.clone() for k, v in lm.state_dict().items()}
    lm.set_dropout(lm.config.scaled_dropout(0.0))
    assert lm.config.input_dropout == lm.encoder.config.input_dropout == 0.0
    assert torch.equal(lm(ids), lm.eval()(ids))  # no dropout left: training mode = eval mode
    assert all(torch.equal(v, state[k]) for k, v in lm.state_dict().items())
    with pytest.raises(ValueError, match="dropouts only"):
        lm.set_dropout(LSTMConfig(vocab_size=V + 1, emb_dim=8, hidden_dim=12))
