"""Gradient reversal and its ramp, the DANN loss module and its training by fit, checked against
independent computations."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from tlnlp.adaptation import (
    DomainAdversarialClassifier,
    DomainAdversarialLoss,
    GradientReversal,
    dann_schedule,
    domain_discriminator,
    domain_separability,
    grad_reverse,
    pair_domains,
)
from tlnlp.models import Classifier
from tlnlp.train import evaluate, fit


class VectorClassifier(nn.Module):
    """Inputs that are already vectors: F = Linear + ReLU, C = Linear (the classifier protocol)."""

    def __init__(self, d_in: int, width: int = 8, num_labels: int = 2) -> None:
        super().__init__()
        self.extractor = nn.Sequential(nn.Linear(d_in, width), nn.ReLU())
        self.head = nn.Linear(width, num_labels)

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.extractor(input_ids)


def _model(reverse: bool, d_in: int = 6, width: int = 8, max_steps: int | None = None, trade_off: float = 1.0,
           scale: float = 1.0) -> DomainAdversarialClassifier:
    grl = GradientReversal(max_steps=max_steps, scale=scale) if reverse else None
    return DomainAdversarialClassifier(VectorClassifier(d_in, width),
                                       DomainAdversarialLoss(domain_discriminator(width), grl), trade_off)


@pytest.mark.parametrize("scale", [0.0, 0.3, 1.0, 2.5])
def test_reversal_is_identity_forward_and_negated_scaled_gradient_backward(scale):
    torch.manual_seed(0)
    x = torch.randn(4, 3, requires_grad=True)
    weights = torch.randn(4, 3)
    out = grad_reverse(x, scale)
    assert torch.equal(out, x)
    (out * weights).sum().backward()
    # d/dx of sum(x * w) is w; the reversal multiplies it by -scale.
    torch.testing.assert_close(x.grad, -scale * weights)


def test_reversal_rejects_a_negative_scale():
    with pytest.raises(ValueError, match="scale must be a finite number >= 0"):
        grad_reverse(torch.ones(1, requires_grad=True), -1.0)
    with pytest.raises(ValueError, match="scale must be a finite number >= 0"):
        GradientReversal(scale=-0.5)


def _domain_loss_grads(model: DomainAdversarialClassifier, xs: torch.Tensor, xt: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad()
    clf = model.classifier
    model.adversary(clf.features(xs), clf.features(xt)).backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def test_reversal_flips_only_the_feature_extractors_gradient_of_the_domain_loss():
    torch.manual_seed(0)
    xs, xt = torch.randn(16, 5), torch.randn(12, 5)
    dann, joint = _model(True, d_in=5, scale=0.7), _model(False, d_in=5)
    joint.load_state_dict(dann.state_dict())
    g_dann, g_joint = _domain_loss_grads(dann, xs, xt), _domain_loss_grads(joint, xs, xt)
    assert g_dann.keys() == g_joint.keys()
    for name in g_dann:
        if name.startswith("classifier.extractor."):  # the extractor ascends the domain loss, scaled
            torch.testing.assert_close(g_dann[name], -0.7 * g_joint[name])
        else:  # the domain head descends it, unchanged
            assert name.startswith("adversary.domain_head.")
            torch.testing.assert_close(g_dann[name], g_joint[name])
    assert any(name.startswith("classifier.extractor.") for name in g_dann)
    assert not any(name.startswith("classifier.head.") for name in g_dann)  # the label head is not involved


def test_the_loss_is_the_classification_loss_plus_trade_off_times_the_domain_loss():
    torch.manual_seed(0)
    model = _model(True, trade_off=0.3)
    xs, ys, xt = torch.randn(7, 6), torch.randint(0, 2, (7,)), torch.randn(5, 6)
    out = model(xs, labels=ys, target_input_ids=xt)
    clf, head = model.classifier, model.adversary.domain_head
    fs, ft = clf.extractor(xs), clf.extractor(xt)
    cls = nn.functional.cross_entropy(clf.head(fs), ys)
    dom = nn.functional.cross_entropy(head(torch.cat([fs, ft])), torch.tensor([0] * 7 + [1] * 5))
    torch.testing.assert_close(out.loss, cls + 0.3 * dom)
    torch.testing.assert_close(out.domain_loss, dom.detach())
    torch.testing.assert_close(out.logits, clf.head(fs))
    # Without target inputs it is the plain classifier (what evaluation sees).
    torch.testing.assert_close(model(xs, labels=ys).loss, cls)


def test_texts_of_different_lengths_go_through_a_tlnlp_classifier_one_domain_at_a_time():
    torch.manual_seed(0)
    clf = Classifier(nn.Embedding(30, 4, padding_idx=0), num_labels=2, dropout=0.0)
    model = DomainAdversarialClassifier(clf, DomainAdversarialLoss(domain_discriminator(4), GradientReversal()))
    ids, mask = torch.tensor([[3, 4, 5], [6, 7, 0]]), torch.tensor([[1, 1, 1], [1, 1, 0]])
    t_ids, t_mask = torch.tensor([[8, 9], [10, 0]]), torch.tensor([[1, 1], [1, 0]])
    out = model(ids, mask, torch.tensor([0, 1]), t_ids, t_mask)
    fs, ft = clf.features(ids, mask), clf.features(t_ids, t_mask)
    dom = nn.functional.cross_entropy(model.adversary.domain_head(torch.cat([fs, ft])), torch.tensor([0, 0, 1, 1]))
    torch.testing.assert_close(out.domain_loss, dom.detach())


def test_schedule_matches_the_formula_and_ramps_from_zero_towards_one():
    ps = np.linspace(0, 1, 11)
    values = [dann_schedule(p) for p in ps]
    for p, v in zip(ps, values):
        assert v == pytest.approx(2 / (1 + math.exp(-10 * p)) - 1)
    assert values[0] == 0.0 and all(a < b for a, b in zip(values, values[1:])) and values[-1] < 1.0
    assert dann_schedule(0.5, gamma=1.0) == pytest.approx(math.tanh(0.25))  # 2σ(z) - 1 = tanh(z/2)


@pytest.mark.parametrize("progress", [-0.1, 1.5])
def test_schedule_rejects_progress_outside_the_unit_interval(progress):
    with pytest.raises(ValueError, match=r"progress must be in \[0, 1\]"):
        dann_schedule(progress)


def _shifted_domains(n: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source and target: the label lives in dimension 0, the domain shift in dimension 1."""
    g = torch.Generator().manual_seed(seed)
    xs, xt = torch.randn(n, 6, generator=g), torch.randn(n, 6, generator=g)
    xt[:, 1] += 3.0
    return xs, (xs[:, 0] > 0).long(), xt, (xt[:, 0] > 0).long()


def _rows(x: torch.Tensor, y: torch.Tensor | None = None) -> list[dict[str, torch.Tensor]]:
    """One dict per row, so a DataLoader collates dict batches; the target domain has no labels."""
    return [{"input_ids": v} for v in x] if y is None else [{"input_ids": v, "labels": t} for v, t in zip(x, y)]


def _train(reverse: bool, seed: int = 0, steps: int = 300, trade_off: float = 1.0, eval_loader=None):
    """Train through fit with Adam; return the model, its history and the domain loss of every step."""
    xs, ys, xt, _ = _shifted_domains()
    torch.manual_seed(seed)
    model = _model(reverse, max_steps=steps, trade_off=trade_off)
    source = DataLoader(_rows(xs, ys), batch_size=32, shuffle=True, drop_last=True)
    target = DataLoader(_rows(xt), batch_size=32, shuffle=True, drop_last=True)
    domain_losses: list[float] = []
    hook = model.register_forward_hook(lambda m, args, out: domain_losses.append(float(out.domain_loss)) if m.training else None)
    history = fit(model, pair_domains(source, target), optimizer=torch.optim.Adam(model.parameters(), lr=1e-3),
                  max_steps=steps, eval_loader=eval_loader, progress=False, seed=seed)
    hook.remove()
    return model, history, domain_losses


def test_training_through_fit_is_deterministic_given_a_seed():
    (net_a, hist_a, dl_a), (net_b, hist_b, dl_b) = _train(True, seed=3, steps=20), _train(True, seed=3, steps=20)
    assert hist_a.step_losses == hist_b.step_losses and dl_a == dl_b
    for a, b in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(a, b)


def test_joint_training_separates_the_domains_and_the_reversal_confuses_the_domain_head():
    xs, _, xt, _ = _shifted_domains(seed=1)  # held-out rows
    domains = np.repeat([0, 1], len(xs))
    final_domain_loss, separability = {}, {}
    for mode, reverse in (("joint", False), ("dann", True)):
        net, _, domain_losses = _train(reverse, steps=600)
        final_domain_loss[mode] = np.mean(domain_losses[-50:])
        with torch.no_grad():
            features = torch.cat([net.classifier.features(xs), net.classifier.features(xt)])
        separability[mode] = domain_separability(features.numpy(), domains)
    # Joint: near the Bayes limit of a 3-sd shift (about 0.17 nats).
    assert final_domain_loss["joint"] < 0.3
    # DANN: near log 2 = 0.69, the head cannot tell the domains apart.
    assert final_domain_loss["dann"] > 0.6
    # A fresh probe finds less domain in DANN's features.
    assert separability["dann"] < separability["joint"] - 0.15


def test_the_ramp_advances_by_itself_once_per_training_step_under_fit():
    steps = 12
    xs, ys, _, _ = _shifted_domains(n=64)
    eval_loader = DataLoader(_rows(xs, ys), batch_size=16)  # evaluated every epoch: must not advance the ramp
    torch.manual_seed(0)
    model = _model(True, max_steps=steps)
    grl = model.adversary.grl
    seen: list[float] = []
    grl.register_forward_pre_hook(lambda m, args: seen.append(m.scale_now) if m.training else None)
    source = DataLoader(_rows(xs, ys), batch_size=16)  # 4 batches: fit runs 3 epochs with evaluation in between
    fit(model, pair_domains(source, DataLoader(_rows(xs), batch_size=16)),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), max_steps=steps, eval_loader=eval_loader,
        progress=False, seed=0)
    assert grl.steps == steps
    assert seen == [pytest.approx(dann_schedule(t / steps)) for t in range(steps)]
    with torch.no_grad():  # no gradient, no step: inference never moves the ramp
        model.train()(xs, labels=ys, target_input_ids=xs)
    assert grl.steps == steps and grl.scale_now == pytest.approx(dann_schedule(1.0))
    assert set(evaluate(model, eval_loader)) == {"loss"}


def test_trade_off_zero_trains_the_classifier_alone():
    (source_only, _, domain_losses), xs = _train(True, steps=30, trade_off=0.0), _shifted_domains()[0]
    torch.manual_seed(0)
    untouched = _model(True, max_steps=30)
    for name, p in untouched.adversary.named_parameters():  # the domain head got no gradient, so no update
        assert torch.equal(p, dict(source_only.adversary.named_parameters())[name])
    assert len(domain_losses) == 30  # ...but its loss is still measured


def test_pair_domains_restarts_the_target_and_drops_its_labels():
    source = [{"input_ids": torch.full((2, 1), i), "labels": torch.tensor([i, i])} for i in range(5)]
    target = [{"input_ids": torch.full((2, 1), 10 + i), "labels": torch.tensor([7, 7])} for i in range(2)]
    batches = list(pair_domains(source, target))
    assert len(pair_domains(source, target)) == len(batches) == 5
    assert [int(b["target_input_ids"][0, 0]) for b in batches] == [10, 11, 10, 11, 10]
    assert all("target_labels" not in b and int(b["labels"][0]) == i for i, b in enumerate(batches))


def test_clear_errors_for_misuse():
    adversary = DomainAdversarialLoss(domain_discriminator(4))
    with pytest.raises(TypeError, match="features.*head"):
        DomainAdversarialClassifier(nn.Linear(6, 4), adversary)
    with pytest.raises(TypeError, match="must be a DomainAdversarialLoss"):
        DomainAdversarialClassifier(VectorClassifier(6, 4), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="trade_off must be >= 0"):
        DomainAdversarialClassifier(VectorClassifier(6, 4), adversary, trade_off=-1)
    with pytest.raises(TypeError, match="GradientReversal"):
        DomainAdversarialLoss(domain_discriminator(4), nn.Identity())
    with pytest.raises(ValueError, match="max_steps must be a positive int"):
        GradientReversal(max_steps=0)
    with pytest.raises(ValueError, match="same feature extractor"):
        adversary(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(TypeError, match="dict batches"):
        list(pair_domains([(torch.zeros(1), torch.zeros(1))], [{"input_ids": torch.zeros(1)}]))
    with pytest.raises(ValueError, match="target loader yields no batches"):
        list(pair_domains([{"input_ids": torch.zeros(1)}], []))
    with pytest.raises(ValueError, match="3 feature rows but 2"):
        domain_separability(np.zeros((3, 2)), np.array([0, 1]))


def test_a_constant_reversal_keeps_its_scale_and_says_so():
    layer = GradientReversal(scale=0.25)
    x = torch.ones(2, requires_grad=True)
    for _ in range(3):
        layer(x).sum().backward()
    assert x.grad.tolist() == [-0.75, -0.75] and layer.scale_now == 0.25
    assert "scale=0.25" in repr(layer)
    assert "steps=0/10" in repr(GradientReversal(max_steps=10))


@pytest.mark.parametrize("gamma", [-1.0, 0.0, float("nan"), float("inf")])
def test_a_bad_ramp_steepness_is_refused_where_the_layer_is_made(gamma):
    with pytest.raises(ValueError, match=rf"gamma must be a finite number > 0.*DANN uses 10\), got {gamma}"):
        GradientReversal(max_steps=10, gamma=gamma)
    with pytest.raises(ValueError, match="gamma must be a finite number > 0"):
        dann_schedule(0.5, gamma)


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), -0.5])
def test_a_bad_reversal_scale_is_refused(scale):
    with pytest.raises(ValueError, match="scale must be a finite number >= 0"):
        GradientReversal(scale=scale)
    with pytest.raises(ValueError, match="scale must be a finite number >= 0"):
        grad_reverse(torch.ones(1), scale)


def test_domain_separability_refuses_what_it_cannot_measure():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    with pytest.raises(ValueError, match=r"at least 2 domains, got only \[0\]"):
        domain_separability(X, np.zeros(20, dtype=int))
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf in 1 rows \(first: \[3\]\)"):
        domain_separability(bad, np.repeat([0, 1], 10))
    with pytest.raises(ValueError, match="domain 1 has 2 rows, fewer than folds=5"):
        domain_separability(X[:12], np.array([0] * 10 + [1] * 2))
    with pytest.raises(ValueError, match="2-D array"):
        domain_separability(X[:, 0], np.repeat([0, 1], 10))


# --- proxy A-distance -------------------------------------------------------------------------

from tlnlp.adaptation import (  # noqa: E402
    MaskedTextCollator,
    add_mlm_head,
    continue_pretraining,
    domain_classifier_error,
    masked_lm_loss,
    proxy_a_distance,
)
from tlnlp.pretraining import IGNORE_INDEX, MaskingError  # noqa: E402


def test_proxy_a_distance_is_two_for_separable_domains_and_near_zero_for_identical_ones():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 5))
    assert proxy_a_distance(a, rng.normal(size=(400, 5)) + 20.0) == 2.0
    same = [proxy_a_distance(rng.normal(size=(400, 5)), rng.normal(size=(400, 5)), seed=s) for s in range(5)]
    # Held-out error of a chance classifier on 400 rows: sd ~ 0.025, so 2(1-2e) stays well under 0.4.
    assert max(same) < 0.4 and np.mean(same) < 0.2


def test_proxy_a_distance_matches_an_independent_computation_of_two_times_one_minus_twice_the_error():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    xs, xt = rng.normal(size=(300, 4)), rng.normal(size=(300, 4)) + np.array([0.6, 0, 0, 0])
    x, y = np.concatenate([xs, xt]), np.repeat([0, 1], 300)
    a, b, ya, yb = train_test_split(x, y, test_size=0.5, stratify=y, random_state=3)
    scaler = StandardScaler().fit(a)
    error = np.mean(LogisticRegression(max_iter=2000).fit(scaler.transform(a), ya).predict(scaler.transform(b)) != yb)
    assert domain_classifier_error(xs, xt, seed=3) == pytest.approx(error)
    assert proxy_a_distance(xs, xt, seed=3) == pytest.approx(2 * (1 - 2 * error))
    # A one-sd shift: the Bayes error is Phi(-0.3) ~ 0.38, so the distance is ~0.47, not 0 or 2.
    assert 0.2 < proxy_a_distance(xs, xt, seed=3) < 0.8


def test_proxy_a_distance_balances_domains_of_different_sizes_and_refuses_bad_input():
    rng = np.random.default_rng(2)
    # 900 vs 100 rows of the same distribution: a classifier predicting "the big domain" would
    # score 0.9 if the sizes were not balanced; balanced, the distance stays near 0.
    assert proxy_a_distance(rng.normal(size=(900, 3)), rng.normal(size=(100, 3))) < 0.5
    with pytest.raises(ValueError, match="same feature extractor"):
        proxy_a_distance(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="2-D"):
        proxy_a_distance(np.zeros(10), np.zeros((10, 1)))
    with pytest.raises(ValueError, match="NaN"):
        proxy_a_distance(np.full((10, 2), np.nan), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="test_size"):
        proxy_a_distance(np.zeros((10, 2)), np.ones((10, 2)), test_size=1.0)


def test_an_unknown_amazon_domain_is_refused_with_the_valid_names():
    from tlnlp.data import load_amazon_reviews

    with pytest.raises(ValueError, match="books, dvd, electronics, kitchen"):
        load_amazon_reviews(["books", "kitchens"])
    with pytest.raises(ValueError, match=r"unknown Amazon domain 'toys'; valid choices are: books, dvd, electronics, kitchen"):
        load_amazon_reviews("toys")


# --- masked-LM head and continued pretraining --------------------------------------------------


@pytest.fixture(scope="module")
def minilm():
    from tlnlp.models import load_encoder

    return load_encoder("minilm")


def test_the_mlm_head_is_tied_to_the_word_embeddings_and_computes_bert_s_formula(minilm):
    import copy

    encoder = copy.deepcopy(minilm)
    mlm = add_mlm_head(encoder)
    embedding = encoder.model.get_input_embeddings().weight
    assert mlm.head.decoder_weight is embedding
    # the shared matrix is counted once among the trainable parameters
    assert sum(p is embedding for p in mlm.parameters()) == 1
    torch.manual_seed(0)
    ids = torch.tensor([[101, 2023, 103, 2003, 2204, 102]])
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 2] = 3185
    with torch.no_grad():
        nn.init.normal_(mlm.head.bias)
        out = mlm.eval()(ids, labels=labels)
        hidden = encoder.model(input_ids=ids).last_hidden_state[0, 2]
        h = nn.functional.layer_norm(nn.functional.gelu(hidden @ mlm.head.dense.weight.T + mlm.head.dense.bias),
                                     (hidden.shape[-1],), mlm.head.norm.weight, mlm.head.norm.bias, eps=mlm.head.norm.eps)
        expected = h @ embedding.T + mlm.head.bias
    torch.testing.assert_close(out.logits[0], expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.loss, torch.logsumexp(expected, 0) - expected[3185], rtol=1e-4, atol=1e-4)


def test_the_collator_masks_only_real_tokens_and_labels_the_original_ids(minilm):
    collate = MaskedTextCollator(minilm.tokenizer, max_length=64, mlm_probability=0.5, seed=0)
    texts = ["the kettle boils fast and looks good", "short"]
    batch = collate(texts)
    plain = minilm.tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")
    chosen = batch["labels"] != IGNORE_INDEX
    assert torch.equal(batch["labels"][chosen], plain["input_ids"][chosen])
    special = torch.isin(plain["input_ids"], torch.tensor(minilm.tokenizer.all_special_ids))
    assert not chosen[special].any() and not chosen[plain["attention_mask"] == 0].any()
    assert chosen.any()


def test_continued_pretraining_lowers_the_masked_lm_loss_on_the_texts_it_sees(minilm):
    import copy

    encoder = copy.deepcopy(minilm)
    texts = ["the blender crushed ice in seconds and cleaned up easily", "this toaster burns one side of the bread"] * 8
    mlm = add_mlm_head(encoder)
    before = masked_lm_loss(mlm, encoder.tokenizer, texts, seed=1)
    frozen_copy = encoder.model.embeddings.word_embeddings.weight.detach().clone()
    run = continue_pretraining(encoder, texts, steps=25, batch_size=8, max_length=32, seed=0, mlm=mlm)
    after = masked_lm_loss(run.mlm, encoder.tokenizer, texts, seed=1)
    assert run.mlm is mlm and len(run.history.step_losses) == 25
    assert after < before - 2.0, (before, after)
    # the encoder itself was trained in place (tied embeddings included)
    assert not torch.equal(encoder.model.embeddings.word_embeddings.weight, frozen_copy)
    assert mlm.head.decoder_weight is encoder.model.get_input_embeddings().weight


def test_continued_pretraining_refuses_what_it_cannot_train(minilm):
    with pytest.raises(ValueError, match="no text to pretrain on"):
        continue_pretraining(minilm, [], steps=1)
    with pytest.raises(ValueError, match="no text to pretrain on"):
        continue_pretraining(minilm, ["  ", ""], steps=1)
    with pytest.raises(TypeError, match="single string"):
        continue_pretraining(minilm, "one review", steps=1)
    with pytest.raises(ValueError, match="steps must be"):
        continue_pretraining(minilm, ["a text"], steps=0)

    class NoMask:
        mask_token_id = None

        def __len__(self):
            return 10

    class Fake:
        def __init__(self, model, tokenizer):
            self.model, self.tokenizer = model, tokenizer

    with pytest.raises(MaskingError, match="no mask token"):
        add_mlm_head(Fake(minilm.model, NoMask()))

    class NoEmbeddings(nn.Module):
        def get_input_embeddings(self):
            return None

    with pytest.raises(ValueError, match="no word-embedding matrix"):
        add_mlm_head(Fake(NoEmbeddings(), minilm.tokenizer))
    with pytest.raises(TypeError, match="tlnlp.models.Encoder"):
        add_mlm_head(object())


def test_add_mlm_head_refuses_embeddings_smaller_than_the_vocabulary(minilm):
    class SmallVocabulary(nn.Module):  # a model whose word embeddings cannot score every tokenizer id
        def __init__(self):
            super().__init__()
            self.embeddings = nn.Embedding(100, 8)

        def get_input_embeddings(self):
            return self.embeddings

    class Fake:
        def __init__(self, model, tokenizer):
            self.model, self.tokenizer = model, tokenizer

    with pytest.raises(ValueError, match=r"word embeddings have 100 rows but the tokenizer has 30522 ids"):
        add_mlm_head(Fake(SmallVocabulary(), minilm.tokenizer))
