"""MAML, Reptile, prototypes and episodes, checked against closed forms and plain loops.

On a linear model with squared loss every quantity MAML needs has a closed form:
gradient (2/n) Xᵀ(Xw − y) and Hessian (2/n) XᵀX, so the meta-gradient through k inner steps
is (I − αH_S)^k ∇L_Q(w_k), and the first-order one drops the (I − αH_S)^k.
"""

import numpy as np
import pytest
import torch
from torch import nn

from tlnlp.data import sample_episode
from tlnlp.meta import MAML, Task, adapt, prototype_logits, prototypes, reptile_step

@pytest.fixture(autouse=True)
def float64():
    """Closed forms are compared to 1e-10, so every model here is built in float64."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _regression_task(seed: int, d: int = 3) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    xs, xq = rng.normal(size=(5, d)), rng.normal(size=(7, d))
    w_true = rng.normal(size=d)
    return xs, xs @ w_true + 0.1 * rng.normal(size=5), xq, xq @ w_true


def _grad(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    return 2 / len(x) * x.T @ (x @ w - y)


def _hessian(x: np.ndarray) -> np.ndarray:
    return 2 / len(x) * x.T @ x


def _mse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(out.squeeze(-1), target)


def _linear(w0: np.ndarray) -> nn.Linear:
    model = nn.Linear(len(w0), 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor(w0).unsqueeze(0))
    return model


@pytest.mark.parametrize("steps", [1, 2, 3])
@pytest.mark.parametrize("first_order", [False, True])
def test_maml_meta_gradient_matches_the_closed_form(steps, first_order):
    xs, ys, xq, yq = _regression_task(0)
    w0, alpha = np.array([0.3, -0.2, 0.5]), 0.1
    model = _linear(w0)
    maml = MAML(model, inner_lr=alpha, inner_steps=steps, first_order=first_order, loss_fn=_mse)
    task = Task(*(torch.tensor(a) for a in (xs, ys, xq, yq)))
    maml.meta_loss([task]).backward()

    w = w0.copy()
    for _ in range(steps):  # the inner loop by hand
        w = w - alpha * _grad(xs, ys, w)
    expected = _grad(xq, yq, w)
    if not first_order:
        expected = np.linalg.matrix_power(np.eye(3) - alpha * _hessian(xs), steps) @ expected
    np.testing.assert_allclose(model.weight.grad.squeeze(0).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_adapt_returns_fast_weights_and_leaves_the_model_untouched():
    xs, ys, _, _ = _regression_task(1)
    w0 = np.array([1.0, 2.0, 3.0])
    model = _linear(w0)
    fast = adapt(model, dict(model.named_parameters()), torch.tensor(xs), torch.tensor(ys),
                 loss_fn=_mse, steps=1, inner_lr=0.05)
    np.testing.assert_allclose(fast["weight"].detach().squeeze(0).numpy(), w0 - 0.05 * _grad(xs, ys, w0), rtol=1e-12)
    np.testing.assert_array_equal(model.weight.detach().squeeze(0).numpy(), w0)


def test_meta_loss_is_the_mean_over_tasks():
    tasks = [Task(*(torch.tensor(a) for a in _regression_task(seed))) for seed in (2, 3)]
    maml = MAML(_linear(np.zeros(3)), inner_lr=0.1, loss_fn=_mse)
    each = [maml.meta_loss([t]).item() for t in tasks]
    assert maml.meta_loss(tasks).item() == pytest.approx(np.mean(each), rel=1e-12)
    with pytest.raises(ValueError, match="at least one task"):
        maml.meta_loss([])


def test_maml_adapts_a_hugging_face_model_with_second_order_gradients():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=3)
    model = BertForSequenceClassification(config)
    inputs = {"input_ids": torch.randint(1, 50, (6, 5)), "attention_mask": torch.ones(6, 5, dtype=torch.long)}
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    maml = MAML(model, inner_lr=0.5, inner_steps=2)
    before = maml.loss_fn(maml.predict(maml.params(), inputs), labels).item()
    after = maml.loss_fn(maml.predict(maml.adapt(inputs, labels), inputs), labels).item()
    assert after < before  # the inner loop fits the support set
    maml.meta_loss([Task(inputs, labels, inputs, labels)]).backward()
    assert all(p.grad is not None for p in model.classifier.parameters())


def test_reptile_moves_the_weights_a_fraction_of_the_way_to_the_adapted_ones():
    xs, ys, _, _ = _regression_task(4)
    w0, alpha, eps, k = np.array([0.5, 0.5, -1.0]), 0.05, 0.3, 4
    model = _linear(w0)
    reptile_step(model, torch.tensor(xs), torch.tensor(ys), inner_steps=k, inner_lr=alpha, meta_lr=eps, loss_fn=_mse)
    phi = w0.copy()
    for _ in range(k):
        phi = phi - alpha * _grad(xs, ys, phi)
    np.testing.assert_allclose(model.weight.detach().squeeze(0).numpy(), w0 + eps * (phi - w0), rtol=1e-12)
    with pytest.raises(ValueError, match=r"meta_lr must be in \(0, 1\]"):
        reptile_step(model, torch.tensor(xs), torch.tensor(ys), inner_steps=1, inner_lr=0.1, meta_lr=1.5, loss_fn=_mse)


def test_prototypes_are_class_means_and_logits_are_negative_squared_distances():
    rng = np.random.default_rng(5)
    emb, labels, queries = rng.normal(size=(12, 4)), np.repeat([2, 0, 1], 4), rng.normal(size=(5, 4))
    protos = prototypes(torch.tensor(emb), torch.tensor(labels), n_classes=3)
    means = np.stack([emb[labels == c].mean(0) for c in range(3)])
    np.testing.assert_allclose(protos.numpy(), means, rtol=1e-12)
    distances = ((queries[:, None, :] - means[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(prototype_logits(torch.tensor(queries), protos).numpy(), -distances, rtol=1e-9)


def test_prototypes_reject_missing_classes_and_mismatched_shapes():
    with pytest.raises(ValueError, match="at least one support example"):
        prototypes(torch.zeros(2, 3), torch.tensor([0, 0]), n_classes=2)
    with pytest.raises(ValueError, match="labels"):
        prototypes(torch.zeros(2, 3), torch.tensor([0, 1, 1]), n_classes=2)
    with pytest.raises(ValueError, match="dim 3 but prototypes 4"):
        prototype_logits(torch.zeros(1, 3), torch.zeros(2, 4))


def test_episodes_have_the_requested_shape_and_consistent_disjoint_rows():
    labels = np.array([f"intent{i}" for i in range(8) for _ in range(10)])
    episode = sample_episode(labels, n_way=5, k_shot=3, n_query=4, rng=np.random.default_rng(0))
    assert len(set(episode.classes)) == 5
    assert len(episode.support) == 15 and len(episode.query) == 20
    assert not set(episode.support) & set(episode.query)
    assert (labels[episode.support] == episode.classes[episode.support_labels]).all()
    assert (labels[episode.query] == episode.classes[episode.query_labels]).all()
    assert np.bincount(episode.support_labels).tolist() == [3] * 5


def test_episodes_are_reproducible_and_respect_a_class_subset():
    labels = np.repeat(np.arange(10), 6)
    a = sample_episode(labels, 3, 2, 2, np.random.default_rng(7), classes=[0, 1, 2, 3])
    b = sample_episode(labels, 3, 2, 2, np.random.default_rng(7), classes=[0, 1, 2, 3])
    assert a.support.tolist() == b.support.tolist() and set(a.classes) <= {0, 1, 2, 3}


def test_episode_errors_name_the_problem():
    labels = np.repeat(np.arange(3), 4)
    with pytest.raises(ValueError, match="n_way=4 but only 3 classes"):
        sample_episode(labels, 4, 1, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="has 4 rows; an episode needs k_shot \\+ n_query = 5"):
        sample_episode(labels, 2, 3, 2, np.random.default_rng(0))


def test_episode_classes_must_be_distinct_and_present():
    """A repeated class would fill two episode slots: support and query rows overlapping under two labels."""
    labels = np.repeat(np.arange(3), 4)
    with pytest.raises(ValueError, match=r"classes repeats \[0\].*np.unique\(labels\)"):
        sample_episode(labels, 2, 1, 1, np.random.default_rng(0), classes=[0, 0, 1])
    with pytest.raises(ValueError, match="classes repeats .*12 entries, 3 distinct.*per-row labels"):
        sample_episode(labels, 2, 1, 1, np.random.default_rng(0), classes=labels)
    with pytest.raises(ValueError, match=r"classes \[7\] do not occur in labels"):
        sample_episode(labels, 2, 1, 1, np.random.default_rng(0), classes=[0, 7])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        sample_episode([], 2, 1, 1, np.random.default_rng(0))
    # with distinct classes, every row appears once in an episode and carries one label
    for seed in range(20):
        ep = sample_episode(labels, 3, 2, 2, np.random.default_rng(seed), classes=[2, 0, 1])
        rows = np.concatenate([ep.support, ep.query])
        assert len(set(rows.tolist())) == len(rows)


def test_episode_accuracies_of_an_oracle_a_constant_and_prototypes_on_separated_clusters():
    from tlnlp.meta import episode_accuracies

    labels = np.repeat(np.arange(6), 8)
    features = torch.tensor(np.eye(6)[labels] * 10 + np.random.default_rng(0).normal(size=(48, 6)))
    shape = dict(n_way=3, k_shot=2, n_query=4, episodes=10, seed=1)
    constant = episode_accuracies(lambda t: torch.zeros(12, 3), features, labels, **shape)
    assert constant.tolist() == [1 / 3] * 10  # balanced queries: always class 0 is right a third of the time
    oracle = episode_accuracies(lambda t: nn.functional.one_hot(t.query_y, 3).double(), features, labels, **shape)
    assert oracle.tolist() == [1.0] * 10
    protos = episode_accuracies(lambda t: prototype_logits(t.query_x, prototypes(t.support_x, t.support_y, 3)),
                                features, labels, **shape)
    assert protos.min() == 1.0
    with pytest.raises(ValueError, match=r"expected \(12, 3\)"):
        episode_accuracies(lambda t: torch.zeros(12, 2), features, labels, **shape)


def test_episode_accuracies_let_the_predictor_adapt_with_gradients():
    from tlnlp.meta import episode_accuracies

    labels = np.repeat(np.arange(4), 6)
    features = torch.tensor(np.eye(4)[labels] * 3.0)
    learner = MAML(nn.Linear(4, 2), inner_lr=1.0, inner_steps=10, first_order=True)
    adapted = episode_accuracies(lambda t: learner.predict(learner.adapt(t.support_x, t.support_y), t.query_x),
                                 features, labels, n_way=2, k_shot=2, n_query=2, episodes=5)
    assert adapted.mean() == 1.0


def test_maml_refuses_what_would_silently_not_adapt():
    from tlnlp.meta import MAML, adapt

    model = nn.Linear(2, 2)
    x, y = torch.randn(4, 2), torch.tensor([0, 1, 0, 1])
    with pytest.raises(KeyError, match=r"params \['weights'\] are not parameters of the model \(Linear\)"):
        adapt(model, {"weights": model.weight}, x, y)
    with pytest.raises(ValueError, match=r"params \['bias'\] do not require grad"):
        adapt(model, {"bias": model.bias.detach()}, x, y)
    for bad in (0.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="inner_lr must be a finite number > 0"):
            MAML(model, inner_lr=bad)
    with pytest.raises(ValueError, match="steps must be an int >= 0"):
        MAML(model, inner_lr=0.1, inner_steps=-1)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        MAML(model.parameters(), inner_lr=0.1)


def test_adapting_a_parameter_the_loss_does_not_use_is_an_error():
    from tlnlp.meta import adapt

    class TwoLayers(nn.Module):
        def __init__(self):
            super().__init__()
            self.used, self.unused = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.used(x)

    model = TwoLayers()
    with pytest.raises(ValueError, match="does not depend on any of params"):
        adapt(model, dict(model.unused.named_parameters(prefix="unused")), torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))


def test_prototypes_refuse_negative_or_float_labels():
    emb = torch.randn(4, 3)
    with pytest.raises(ValueError, match="class indices 0..1"):
        prototypes(emb, torch.tensor([0, -1, 1, 0]), 2)
    with pytest.raises(ValueError, match="integer tensor"):
        prototypes(emb, torch.tensor([0.0, 1.0, 1.0, 0.0]), 2)


def test_per_prefix_inner_rates_step_each_parameter_by_its_own_rate() -> None:
    """adapt() with a mapping equals a hand-written gradient step with each parameter's rate."""
    from tlnlp.meta import inner_rates

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    rates = {"0": 1e-3, "2": 0.5, "2.bias": 0.25}
    params = dict(model.named_parameters())
    fast = adapt(model, params, x, y, inner_lr=rates, steps=1, first_order=True)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
    expected_rate = {"0.weight": 1e-3, "0.bias": 1e-3, "2.weight": 0.5, "2.bias": 0.25}
    assert inner_rates(rates, params) == expected_rate
    for name, p in params.items():
        assert torch.allclose(fast[name], p - expected_rate[name] * grads[name], atol=1e-7), name


def test_inner_rates_name_unmatched_parameters_and_bad_values() -> None:
    from tlnlp.meta import inner_rates

    with pytest.raises(ValueError, match=r"\['1.weight'\] match no prefix"):
        inner_rates({"0": 0.1}, ["0.weight", "1.weight"])
    with pytest.raises(ValueError, match="match no prefix"):  # "0" is not a prefix of "00.weight"
        inner_rates({"0": 0.1}, ["00.weight"])
    with pytest.raises(ValueError, match=r"inner_lr\['head'\] must be a finite number > 0"):
        MAML(torch.nn.Linear(2, 2), inner_lr={"head": float("nan")})
    with pytest.raises(ValueError, match=r"match no prefix"):
        MAML(torch.nn.Linear(2, 2), inner_lr={"head": 0.1})  # Linear's parameters are 'weight' and 'bias'
    with pytest.raises(ValueError, match="empty mapping"):
        MAML(torch.nn.Linear(2, 2), inner_lr={})
