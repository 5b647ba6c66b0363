"""Gradient reversal, the DANN schedule and trainer, checked against independent computations."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from tlnlp.adaptation import (
    DANNConfig,
    DomainAdversarialNet,
    GradientReversal,
    dann_schedule,
    domain_separability,
    grad_reverse,
    train_domain_adversarial,
)


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
    with pytest.raises(ValueError, match="scale must be >= 0"):
        grad_reverse(torch.ones(1, requires_grad=True), -1.0)


def _domain_loss_grads(net: DomainAdversarialNet, x: torch.Tensor, domains: torch.Tensor) -> dict[str, torch.Tensor]:
    net.zero_grad()
    nn.functional.cross_entropy(net(x)[1], domains).backward()
    return {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}


def test_reversal_flips_only_the_feature_extractors_gradient_of_the_domain_loss():
    torch.manual_seed(0)
    x, domains = torch.randn(16, 5), torch.randint(0, 2, (16,))
    dann = DomainAdversarialNet(nn.Sequential(nn.Linear(5, 8), nn.Tanh()), 8, num_classes=3, reverse=True)
    joint = DomainAdversarialNet(nn.Sequential(nn.Linear(5, 8), nn.Tanh()), 8, num_classes=3, reverse=False)
    joint.load_state_dict(dann.state_dict())
    dann.reversal.scale = 0.7
    g_dann, g_joint = _domain_loss_grads(dann, x, domains), _domain_loss_grads(joint, x, domains)
    assert g_dann.keys() == g_joint.keys()
    for name in g_dann:
        if name.startswith("features."):  # the extractor ascends the domain loss, scaled
            torch.testing.assert_close(g_dann[name], -0.7 * g_joint[name])
        else:  # the domain head descends it, unchanged
            torch.testing.assert_close(g_dann[name], g_joint[name])
    assert any(name.startswith("features.") for name in g_dann)


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


def _train(mode: str, seed: int = 0, steps: int = 300) -> tuple[DomainAdversarialNet, dict[str, list[float]]]:
    xs, ys, xt, _ = _shifted_domains()
    torch.manual_seed(seed)
    net = DomainAdversarialNet(nn.Sequential(nn.Linear(6, 8), nn.ReLU()), 8, num_classes=2, reverse=mode == "dann")
    return net, train_domain_adversarial(net, xs, ys, xt, DANNConfig(mode=mode, steps=steps, batch_size=32), seed=seed)


def test_training_is_deterministic_given_a_seed():
    (net_a, hist_a), (net_b, hist_b) = _train("dann", seed=3, steps=20), _train("dann", seed=3, steps=20)
    assert hist_a == hist_b
    for a, b in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(a, b)


def test_joint_training_separates_the_domains_and_the_reversal_confuses_the_domain_head():
    xs, _, xt, _ = _shifted_domains(seed=1)  # held-out rows
    domains = np.repeat([0, 1], len(xs))
    final_domain_loss, separability = {}, {}
    for mode in ("joint", "dann"):
        net, hist = _train(mode, steps=600)
        final_domain_loss[mode] = np.mean(hist["domain_loss"][-50:])
        with torch.no_grad():
            separability[mode] = domain_separability(torch.cat([net.features(xs), net.features(xt)]).numpy(), domains)
    # Joint: near the Bayes limit of a 3-sd shift (about 0.17 nats). Over seeds 0-2: 0.18-0.20.
    assert final_domain_loss["joint"] < 0.3
    # DANN: near log 2 = 0.69, the head cannot tell the domains apart (seeds 0-2: 0.65-0.68).
    assert final_domain_loss["dann"] > 0.6
    # A fresh probe finds less domain in DANN's features (seeds 0-2: 0.62-0.65 vs 0.90-0.92).
    assert separability["dann"] < separability["joint"] - 0.15


def test_history_records_the_ramped_scale_only_for_dann():
    _, dann = _train("dann", steps=10)
    _, joint = _train("joint", steps=10)
    assert dann["scale"] == [pytest.approx(dann_schedule(s / 10)) for s in range(10)]
    assert joint["scale"] == [0.0] * 10


def test_clear_errors_for_misuse():
    xs, ys, xt, _ = _shifted_domains(n=10)
    joint_net = DomainAdversarialNet(nn.Linear(6, 4), 4, num_classes=2, reverse=False)
    dann_net = DomainAdversarialNet(nn.Linear(6, 4), 4, num_classes=2, reverse=True)
    with pytest.raises(ValueError, match="needs a reversal layer"):
        train_domain_adversarial(joint_net, xs, ys, xt, DANNConfig(mode="dann"))
    with pytest.raises(ValueError, match="without a reversal layer"):
        train_domain_adversarial(dann_net, xs, ys, xt, DANNConfig(mode="joint"))
    with pytest.raises(ValueError, match="9 labels"):
        train_domain_adversarial(dann_net, xs, ys[:9], xt)
    with pytest.raises(ValueError, match="encode both domains the same way"):
        train_domain_adversarial(dann_net, xs, ys, xt[:, :5])
    with pytest.raises(ValueError, match="unknown mode 'adversarial'"):
        DANNConfig(mode="adversarial")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="3 feature rows but 2"):
        domain_separability(np.zeros((3, 2)), np.array([0, 1]))


def test_gradient_reversal_layer_follows_its_scale_attribute():
    layer = GradientReversal()
    x = torch.ones(2, requires_grad=True)
    layer.scale = 0.25
    layer(x).sum().backward()
    assert x.grad.tolist() == [-0.25, -0.25]
    assert "scale=0.25" in repr(layer)
