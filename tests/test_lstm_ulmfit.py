"""The LSTM language model and ULMFiT on the one path: shared encoder, tied weights, pooling, groups, recipe."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from tlnlp.lm import RandomBlocks, evaluate_loss
from tlnlp.models import Classifier, LSTMConfig, LSTMEncoder, LSTMLanguageModel, Output
from tlnlp.recipes.ulmfit import (
    adapt_vocabulary,
    language_model_groups,
    load_language_model,
    save_language_model,
    train_language_model,
    unfreeze_every,
)
from tlnlp.text import EOS, PAD, UNK, TokenizedDataset, build_vocab, make_loader
from tlnlp.train import fit
from tlnlp.transfer import configure, discriminative_lr_groups, transfer_groups

V = 60
SPECIALS = (PAD, UNK, EOS)


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


def ulmfit_classifier(encoder: LSTMEncoder, num_labels: int = 2) -> Classifier:
    return Classifier(encoder, num_labels, pool="concat", hidden=50)


def perplexity(lm: LSTMLanguageModel, data: torch.Tensor, block_size: int) -> float:
    return math.exp(evaluate_loss(lm, data, block_size))


def test_classifier_holds_the_language_models_encoder() -> None:
    lm = small_lm()
    clf = ulmfit_classifier(lm.encoder)
    assert clf.body is lm.encoder
    lm_params = dict(lm.encoder.named_parameters())
    for name, p in clf.body.named_parameters():
        assert p is lm_params[name]


def test_a_classifier_step_changes_the_language_model_unless_copied() -> None:
    batch = torch.randint(3, V, (4, 7))
    labels = torch.tensor([0, 1, 0, 1])
    for copied in (False, True):
        lm = small_lm()
        before = {k: v.detach().clone() for k, v in lm.state_dict().items()}
        heldout = torch.randint(3, V, (200,))
        ppl_before = perplexity(lm, heldout, 10)
        clf = ulmfit_classifier(copy.deepcopy(lm.encoder) if copied else lm.encoder)
        opt = torch.optim.SGD(clf.parameters(), lr=1.0)
        clf(batch, labels=labels).loss.backward()
        opt.step()
        changed = [k for k, v in lm.state_dict().items() if not torch.equal(v, before[k])]
        if copied:
            assert changed == []
        else:
            # every encoder tensor moved (the tied decoder weight with the embedding); the LM's own bias did not
            assert set(changed) == {k for k in before if k != "decoder.bias"}
            assert perplexity(lm, heldout, 10) != ppl_before


def test_output_layer_is_tied_to_the_embedding_and_the_loss_is_next_token_cross_entropy() -> None:
    lm = small_lm().eval()
    assert lm.decoder.weight is lm.encoder.embedding.weight
    assert sum(p.numel() for p in lm.parameters()) == sum(
        p.numel() for n, p in lm.named_parameters() if n != "decoder.weight"
    )
    ids = torch.randint(3, V, (2, 5))
    targets = torch.randint(3, V, (2, 5))
    out = lm(ids, labels=targets)
    assert isinstance(out, Output)
    # the logits are embedding rows dotted with the last hidden state, plus the bias
    expected = lm.encoder(ids) @ lm.encoder.embedding.weight.T + lm.decoder.bias
    torch.testing.assert_close(out.logits, expected)
    log_probs = expected.log_softmax(-1)
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).mean()
    torch.testing.assert_close(out.loss, nll)
    assert "loss" not in lm(ids)


def test_perplexity_is_exp_of_the_mean_loss_over_every_block() -> None:
    lm = small_lm().eval()
    data = torch.randint(3, V, (101,))
    with torch.no_grad():
        losses = [lm(data[i : i + 10][None], labels=data[i + 1 : i + 11][None]).loss.item() for i in range(0, 100, 10)]
    assert perplexity(lm, data, 10) == pytest.approx(math.exp(sum(losses) / len(losses)), rel=1e-5)


def test_tying_survives_a_vocabulary_change_and_save_load(tmp_path) -> None:
    old = build_vocab([["a", "b", "c", "d"]], min_count=1, specials=SPECIALS, unknown="map")
    new = build_vocab([["c", "e", "a"]], min_count=1, specials=SPECIALS, unknown="map")
    torch.manual_seed(0)
    lm = LSTMLanguageModel(LSTMConfig(vocab_size=len(old), emb_dim=4, hidden_dim=6))
    encoder = lm.encoder
    w_old = lm.encoder.embedding.weight.detach().clone()
    b_old = lm.decoder.bias.detach().clone() + torch.arange(len(old), dtype=torch.float)
    with torch.no_grad():
        lm.decoder.bias.copy_(b_old)
    coverage = adapt_vocabulary(lm, old, new)
    assert coverage == pytest.approx(2 / 3)  # c and a are known, e is new
    assert lm.encoder is encoder and lm.decoder.weight is lm.encoder.embedding.weight
    w = lm.encoder.embedding.weight
    assert w.shape == (len(new), 4) and lm.config.vocab_size == len(new) == lm.encoder.config.vocab_size
    torch.testing.assert_close(w[new["a"]], w_old[old["a"]])
    torch.testing.assert_close(lm.decoder.bias[new["a"]], b_old[old["a"]])
    torch.testing.assert_close(w[new["e"]], w_old[3:].mean(0))  # a new word starts as the mean word
    torch.testing.assert_close(lm.decoder.bias[new["e"]], b_old[3:].mean())
    assert w[new.pad_id].abs().sum() == 0
    history = train_language_model(lm, new.pack([["c", "e", "a"]] * 10), steps=2, lr=1e-2, block_size=4, batch_size=2,
                                   device="cpu")
    save_language_model(lm, new, tmp_path / "lm.safetensors", history)
    lm2, vocab2, history2 = load_language_model(tmp_path / "lm.safetensors")
    assert vocab2 == new and vocab2.unknown == "map" and lm2.decoder.weight is lm2.encoder.embedding.weight
    assert lm2.config == lm.config and history2.step_losses == history.step_losses
    for name, tensor in lm.state_dict().items():
        torch.testing.assert_close(lm2.state_dict()[name], tensor)
    with pytest.raises(ValueError, match="specials"):
        adapt_vocabulary(lm2, new, build_vocab([["a"]], min_count=1))


def test_concat_pooling_ignores_padding() -> None:
    torch.manual_seed(0)
    clf = ulmfit_classifier(LSTMEncoder(LSTMConfig(vocab_size=V, emb_dim=8, hidden_dim=12)), num_labels=3).eval()
    short, long = [5, 9, 11], [7, 8, 9, 10, 12, 13]
    batch = next(iter(make_loader(TokenizedDataset([long, short], [0, 1]), 2, shuffle=False, pad_token_id=0)))
    assert batch["input_ids"].shape == (2, 6)  # short was padded with three zeros
    padded = clf(batch["input_ids"], batch["attention_mask"]).logits
    alone = clf(torch.tensor([short])).logits
    torch.testing.assert_close(padded[1:], alone)
    # different padding ids must not matter either
    garbage = batch["input_ids"].clone()
    garbage[1, 3:] = 42
    torch.testing.assert_close(clf(garbage, batch["attention_mask"]).logits, padded)


def test_the_encoder_pooled_by_concat_is_last_max_mean_of_the_real_steps() -> None:
    torch.manual_seed(0)
    encoder = LSTMEncoder(LSTMConfig(vocab_size=V, emb_dim=8, hidden_dim=12)).eval()
    clf = ulmfit_classifier(encoder).eval()
    ids = torch.randint(3, V, (3, 5))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    pooled = clf.features(ids, mask)
    for b, n in enumerate(mask.sum(1).tolist()):
        real = encoder(ids[b : b + 1, :n])[0]  # the text alone, unpadded
        expected = torch.cat([real[-1], real.max(0).values, real.mean(0)])
        torch.testing.assert_close(pooled[b], expected)
    with pytest.raises(ValueError, match="no real token"):
        encoder(ids, torch.tensor([[1, 1, 1, 1, 1], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]]))


def test_language_model_loss_at_initialisation_is_log_vocab() -> None:
    # Uniform predictions over V words cost log(V) nats: a fresh model must start near it.
    for vocab_size in (50, 2000):
        torch.manual_seed(0)
        lm = LSTMLanguageModel(LSTMConfig(vocab_size=vocab_size, emb_dim=32, hidden_dim=64)).eval()
        ids = torch.randint(0, vocab_size, (8, 30))
        loss = lm(ids[:, :-1], labels=ids[:, 1:]).loss.item()
        assert loss == pytest.approx(math.log(vocab_size), rel=0.02)


def test_layer_groups_cover_every_parameter_once() -> None:
    lm = small_lm()
    clf = ulmfit_classifier(lm.encoder)
    for groups, model, names in (
        (transfer_groups(clf), clf, ["embeddings", "layer.0", "layer.1", "head"]),
        (language_model_groups(lm), lm, ["lstm.0", "lstm.1", "embedding"]),
    ):
        assert [g.name for g in groups] == names
        ids = [id(p) for g in groups for p in g.params]
        assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in model.parameters()}
    assert "decoder.bias" in language_model_groups(lm)[-1].named_params  # the tied output layer trains with the embedding


def test_gradual_strategy_thaws_the_lstm_classifier_from_the_top_at_ulmfits_pace() -> None:
    clf = ulmfit_classifier(small_lm().encoder)
    steps = 12
    every = unfreeze_every(steps, len(transfer_groups(clf)))
    assert every == int(steps * 0.5) // 3 == 2  # every group thaws within the first half
    model, optimizer, scheduler = configure(clf, "gradual", lr=0.01, total_steps=steps, betas=(0.9, 0.99),
                                            unfreeze_every=every)
    groups = transfer_groups(clf)
    rates = {g["name"]: g["lr"] for g in optimizer.param_groups}
    for k, name in enumerate(["head", "layer.1", "layer.0", "embeddings"]):  # discriminative rates, /2.6 per group
        assert rates[name] / rates["head"] == pytest.approx(1 / 2.6**k)
    expected = [["head"], ["head"], ["layer.1", "head"], ["layer.1", "head"], ["layer.0", "layer.1", "head"],
                ["layer.0", "layer.1", "head"], ["embeddings", "layer.0", "layer.1", "head"]]
    for step, trainable in enumerate(expected):
        assert [g.name for g in groups if g.trainable] == trainable, f"after {step} steps"
        optimizer.step()  # no gradients: nothing moves, but the schedule may now step
        scheduler.step()
    # a frozen group gets no gradient and does not move in a training step
    clf2 = ulmfit_classifier(small_lm().encoder)
    _, optimizer2, _ = configure(clf2, "gradual", lr=0.5, total_steps=10, unfreeze_every=100)
    before = {n: p.detach().clone() for n, p in clf2.named_parameters()}
    clf2(torch.randint(3, V, (4, 6)), labels=torch.tensor([0, 1, 1, 0])).loss.backward()
    optimizer2.step()
    for name, p in clf2.named_parameters():
        assert torch.equal(p, before[name]) == (not name.startswith("head.")), name


def test_discriminative_learning_rates_of_the_language_model_put_the_tied_embedding_on_top() -> None:
    lm = small_lm()
    opt = torch.optim.AdamW(discriminative_lr_groups(language_model_groups(lm), base_lr=0.01))
    rates = {g["name"]: g["lr"] for g in opt.param_groups}
    for k, name in enumerate(["embedding", "lstm.1", "lstm.0"]):
        assert rates[name] == pytest.approx(0.01 / 2.6**k)


def _train_once(seed: int) -> tuple[list[float], torch.Tensor]:
    torch.manual_seed(seed)
    lm = LSTMLanguageModel(LSTMConfig(vocab_size=V, emb_dim=8, hidden_dim=12))
    data = torch.randint(3, V, (500,))
    history = train_language_model(lm, data, steps=6, lr=0.01, block_size=10, batch_size=4, factor=2.6, seed=seed,
                                   device="cpu")
    return history.step_losses, lm.encoder.embedding.weight.detach().clone()


def test_language_model_training_is_deterministic_given_a_seed() -> None:
    losses_a, weights_a = _train_once(3)
    losses_b, weights_b = _train_once(3)
    losses_c, _ = _train_once(4)
    assert losses_a == losses_b
    assert torch.equal(weights_a, weights_b)
    assert losses_a != losses_c


def test_language_model_learns_a_repeating_sequence_through_fit() -> None:
    # A sanity check of the whole LM path: a cycle of 7 tokens becomes nearly certain.
    torch.manual_seed(0)
    lm = LSTMLanguageModel(LSTMConfig(vocab_size=V, emb_dim=16, hidden_dim=32, embed_dropout=0.0,
                                      input_dropout=0.0, hidden_dropout=0.0, output_dropout=0.0))
    data = (torch.arange(700) % 7) + 3
    opt = torch.optim.Adam(lm.parameters(), lr=0.02)
    fit(lm, RandomBlocks(data, 14, 8, num_batches=80, seed=0), optimizer=opt, max_steps=80, progress=False, device="cpu")
    assert perplexity(lm, data, 14) < 1.5


def test_train_language_model_records_heldout_loss_equal_to_evaluate_loss() -> None:
    lm = small_lm()
    data, heldout = torch.randint(3, V, (400,)), torch.randint(3, V, (141,))
    history = train_language_model(lm, data, steps=4, lr=0.01, block_size=10, batch_size=4, heldout=heldout, n_evals=2,
                                   device="cpu")
    assert [r["step"] for r in history.records] == [2, 4]
    assert history.records[-1]["eval_loss"] == pytest.approx(evaluate_loss(lm, heldout, 10), rel=1e-5)


def test_probe_and_full_on_the_lstm_classifier() -> None:
    ids, labels = [[3, 4, 5], [6, 7], [8, 9, 10, 11]], [1, 0, 1]
    loader = make_loader(TokenizedDataset(ids, labels), batch_size=3, shuffle=True, pad_token_id=0, seed=0)
    clf = ulmfit_classifier(small_lm().encoder)
    before = {n: p.detach().clone() for n, p in clf.named_parameters()}
    model, optimizer, scheduler = configure(clf, "probe", lr=0.05, total_steps=4)
    fit(model, loader, optimizer=optimizer, scheduler=scheduler, max_steps=4, progress=False, device="cpu")
    for name, p in clf.named_parameters():
        assert torch.equal(p, before[name]) == name.startswith("body."), name
    model, optimizer, scheduler = configure(clf, "full", lr=0.05, total_steps=4)
    fit(model, loader, optimizer=optimizer, scheduler=scheduler, max_steps=4, progress=False, device="cpu")
    assert all(not torch.equal(p, before[n]) for n, p in clf.named_parameters() if n.startswith("body.layers"))


def test_set_dropout_changes_only_the_dropouts() -> None:
    lm = small_lm()
    ids = torch.randint(3, V, (3, 9))
    lm.train()
    assert not torch.equal(lm(ids).logits, lm(ids).logits)  # dropout on: two passes differ
    state = {k: v.clone() for k, v in lm.state_dict().items()}
    lm.set_dropout(lm.config.scaled_dropout(0.0))
    assert lm.config.input_dropout == lm.encoder.config.input_dropout == 0.0
    assert torch.equal(lm(ids).logits, lm.eval()(ids).logits)  # no dropout left: training mode = eval mode
    assert all(torch.equal(v, state[k]) for k, v in lm.state_dict().items())
    with pytest.raises(ValueError, match="dropouts only"):
        lm.set_dropout(LSTMConfig(vocab_size=V + 1, emb_dim=8, hidden_dim=12))


def test_lm_batches_are_shifted_dicts() -> None:
    batch = next(iter(RandomBlocks(torch.arange(50), block_size=6, batch_size=3, num_batches=1)))
    assert set(batch) == {"input_ids", "labels"}
    assert torch.equal(batch["labels"], batch["input_ids"] + 1)
    with pytest.raises(ValueError, match="num_batches"):
        RandomBlocks(torch.arange(50), 6, 3, num_batches=0)


def test_lstm_generate_greedy_is_the_argmax_and_suppressed_ids_never_appear():
    from tlnlp.models import LSTMConfig, LSTMLanguageModel

    torch.manual_seed(0)
    lm = LSTMLanguageModel(LSTMConfig(vocab_size=12, emb_dim=6, hidden_dim=8)).train()
    prompt = torch.tensor([[4, 5]])
    greedy = lm.generate(prompt, 4, top_k=1)
    assert lm.training  # mode restored
    expected = prompt
    lm.eval()
    for _ in range(4):  # an independent greedy loop over the forward pass
        expected = torch.cat([expected, lm(expected).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(greedy, expected)
    sampled = lm.generate(torch.tensor([[4], [5]]), 30, suppress=(0, 1, 2), generator=torch.Generator().manual_seed(1))
    assert sampled.shape == (2, 31) and not bool((sampled[:, 1:] <= 2).any())
    with pytest.raises(ValueError, match="temperature"):
        lm.generate(prompt, 1, temperature=0)


def test_block_losses_average_to_evaluate_loss_and_are_per_block():
    from tlnlp.lm import block_losses, evaluate_loss
    from tlnlp.models import LSTMConfig, LSTMLanguageModel

    torch.manual_seed(0)
    lm = LSTMLanguageModel(LSTMConfig(vocab_size=10, emb_dim=4, hidden_dim=8))
    data = torch.randint(0, 10, (101,))
    losses = block_losses(lm, data, block_size=10, batch_size=3)
    assert losses.shape == (10,)
    assert losses.mean().item() == pytest.approx(evaluate_loss(lm, data, 10, batch_size=3))
    x, y = data[20:30].unsqueeze(0), data[21:31].unsqueeze(0)  # the third block, by hand
    lm.eval()
    by_hand = torch.nn.functional.cross_entropy(lm(x).logits[0], y[0]).item()
    assert losses[2].item() == pytest.approx(by_hand, rel=1e-5)
