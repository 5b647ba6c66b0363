"""tlnlp.multitask against independent computations: sampler frequencies, the uncertainty loss, the cached bottom."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from tlnlp.models import Classifier, TokenClassifier
from tlnlp.multitask import (
    CachedBottomEncoder,
    FrozenBottom,
    MultiTaskModel,
    TaskSampler,
    UncertaintyWeighting,
    UnknownTaskError,
    task_probabilities,
    token_f1,
)


def _loaders(sizes):
    return {k: [{"x": torch.zeros(1)}] * n for k, n in sizes.items()}


@pytest.mark.parametrize("mixing,temperature", [("proportional", 1.0), ("uniform", 1.0), ("temperature", 3.0)])
def test_sampler_empirical_frequencies_match_the_formula(mixing, temperature):
    sizes = {"a": 50, "b": 450, "c": 4500}
    sampler = TaskSampler(_loaders({"a": 2, "b": 2, "c": 2}), steps=20000, mixing=mixing, temperature=temperature,
                          sizes=sizes, seed=0)
    drawn = [b["task"] for b in sampler]
    alpha = {"proportional": 1.0, "uniform": 0.0, "temperature": 1 / 3}[mixing]
    expected = np.array([n ** alpha for n in sizes.values()])
    expected /= expected.sum()  # computed here, not by the library
    freq = np.array([drawn.count(k) / len(drawn) for k in sizes])
    se = np.sqrt(expected * (1 - expected) / len(drawn))
    assert np.all(np.abs(freq - expected) < 4 * se), (freq, expected)


def test_annealed_sampler_moves_from_proportional_to_flat():
    sizes = {"small": 10, "big": 1000}
    sampler = TaskSampler(_loaders({"small": 1, "big": 1}), steps=11, mixing="annealed", temperature=(1.0, 5.0), sizes=sizes)
    assert sampler.probabilities(0)["small"] == pytest.approx(10 / 1010)
    last = 10 ** 0.2 / (10 ** 0.2 + 1000 ** 0.2)
    assert sampler.probabilities(10)["small"] == pytest.approx(last)
    mid = 10 ** 0.6 / (10 ** 0.6 + 1000 ** 0.6)
    assert sampler.probabilities(5)["small"] == pytest.approx(mid)


def test_sampler_cycles_small_loaders_and_has_a_length():
    sampler = TaskSampler({"a": [{"i": 0}, {"i": 1}]}, steps=5, seed=0)
    assert len(sampler) == 5 and [b["i"] for b in sampler] == [0, 1, 0, 1, 0]


@pytest.mark.parametrize("bad", [0, -1.0, 0.0])
def test_temperature_at_or_below_zero_is_refused(bad):
    with pytest.raises(ValueError, match=rf"temperature must be a number > 0.*got {bad}.*mixing='uniform'"):
        TaskSampler(_loaders({"a": 1}), steps=3, mixing="temperature", temperature=bad)
    with pytest.raises(ValueError, match="temperature must be a number > 0"):
        task_probabilities({"a": 1}, temperature=bad)
    with pytest.raises(ValueError, match="annealing temperature must be a number > 0"):
        TaskSampler(_loaders({"a": 1}), steps=3, mixing="annealed", temperature=(1.0, bad))


def test_unknown_mixing_is_refused():
    with pytest.raises(ValueError, match="unknown mixing 'square'.*proportional, uniform"):
        TaskSampler(_loaders({"a": 1}), steps=3, mixing="square")


def _model():
    body = torch.nn.Embedding(20, 8)
    return body, MultiTaskModel(body, {"a": Classifier(body, 2), "b": TokenClassifier(body, 3)})


def test_batch_for_a_task_with_no_head_is_refused():
    _, model = _model()
    with pytest.raises(UnknownTaskError, match=r"task 'c'.*heads only for \['a', 'b'\].*add a head for 'c'"):
        model(task="c", input_ids=torch.tensor([[1, 2]]))
    with pytest.raises(UnknownTaskError, match="no 'task'.*TaskSampler"):
        model(input_ids=torch.tensor([[1, 2]]))


def test_heads_must_share_the_body():
    body = torch.nn.Embedding(20, 8)
    with pytest.raises(ValueError, match="task 'a' does not hold the shared body"):
        MultiTaskModel(body, {"a": Classifier(torch.nn.Embedding(20, 8), 2)})


def test_shared_body_gets_gradients_from_every_task_and_heads_only_from_theirs():
    body, model = _model()
    out = model(task="a", input_ids=torch.tensor([[1, 2]]), labels=torch.tensor([1]))
    out.loss.backward()
    assert body.weight.grad is not None and body.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.heads["b"].head.parameters())
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 20 * 8 + (8 * 2 + 2) + (8 * 3 + 3)  # the body counted once


def test_uncertainty_weighting_matches_kendall_and_its_optimum():
    w = UncertaintyWeighting(["a"])
    with torch.no_grad():
        w.log_vars["a"].fill_(0.7)
    loss = torch.tensor(3.0)
    assert float(w("a", loss).detach()) == pytest.approx(math.exp(-0.7) * 3.0 + 0.7)
    optimizer = torch.optim.SGD(w.parameters(), lr=0.1)
    for _ in range(500):
        optimizer.zero_grad()
        w("a", loss).backward()
        optimizer.step()
    assert float(w.log_vars["a"].detach()) == pytest.approx(math.log(3.0), abs=1e-3)  # d/ds = 1 - e^-s L = 0
    with pytest.raises(UnknownTaskError, match="no weight for task 'z'"):
        w("z", loss)


def test_token_f1_matches_sklearn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    gold = rng.integers(0, 4, 300)
    gold[:20] = -100
    pred = np.where(rng.random(300) < 0.6, gold, rng.integers(0, 4, 300))
    logits = torch.nn.functional.one_hot(torch.tensor(np.clip(pred, 0, 3)), 4).float()
    keep = gold != -100
    expected = f1_score(gold[keep], np.clip(pred, 0, 3)[keep], labels=[1, 2, 3], average="micro")
    assert token_f1(logits, torch.tensor(gold)) == pytest.approx(expected)


def test_cached_bottom_equals_the_whole_encoder_and_is_shared():
    torch.manual_seed(0)
    bert = BertModel(BertConfig(hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32,
                                vocab_size=50)).eval()
    bottom = FrozenBottom(bert, trainable_top=2)
    body = CachedBottomEncoder(bottom, bert).eval()
    ids = torch.tensor([[2, 5, 7, 9], [2, 8, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    with torch.inference_mode():  # a first encoding under evaluate()'s mode must serve training later
        expected = bert(ids, attention_mask=mask).last_hidden_state
        got = body(ids, mask)
    assert torch.allclose(got[mask.bool()], expected[mask.bool()], atol=1e-5)
    assert bottom.n_cached == 2
    import copy

    twin = copy.deepcopy(body)
    assert twin.bottom is bottom and twin.layers[0] is not body.layers[0]
    out = Classifier(twin.train(), 2)(ids, mask, labels=torch.tensor([0, 1]))
    out.loss.backward()  # the memoised states are ordinary tensors
    assert sum(p.numel() for p in body.parameters()) == sum(p.numel() for p in bert.encoder.layer[1:].parameters())
    with pytest.raises(ValueError, match="trainable_top must be an int from 1 to 2"):
        FrozenBottom(bert, trainable_top=3)


def test_token_classifier_loss_skips_ignored_positions_and_checks_shapes():
    torch.manual_seed(0)
    tagger = TokenClassifier(torch.nn.Embedding(10, 4), num_labels=3).eval()
    ids, labels = torch.tensor([[1, 2, 3]]), torch.tensor([[2, -100, 0]])
    out = tagger(ids, labels=labels)
    logp = torch.log_softmax(out.logits[0], dim=-1)
    assert float(out.loss) == pytest.approx(float(-(logp[0, 2] + logp[2, 0]) / 2), rel=1e-6)
    with pytest.raises(ValueError, match=r"labels have shape \(1, 2\).*one tag id per token"):
        tagger(ids, labels=torch.tensor([[1, 2]]))
