"""Domain-adversarial training (DANN, Ganin et al. 2016): gradient reversal, its schedule, a trainer.

A DANN has a shared feature extractor :math:`F`, a label classifier :math:`C` (trained on
labelled source examples) and a domain classifier :math:`D` (trained to tell source from
target). The classifier :math:`D` minimises its loss; the extractor :math:`F` should
*maximise* it, so that its features stop carrying the domain. A gradient reversal layer does
both in one backward pass: it is the identity going forward and multiplies the gradient
by :math:`-\\lambda` going back, so the classifier descends the domain loss while the
extractor ascends it. Without the reversal, the extractor descends the domain loss too and learns
features that *separate* the domains: the opposite of adaptation.

>>> import torch
>>> x = torch.ones(3, requires_grad=True)
>>> grad_reverse(x, 0.5).sum().backward()
>>> x.grad.tolist()
[-0.5, -0.5, -0.5]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from .config import seed_everything

__all__ = [
    "DANNConfig",
    "DomainAdversarialNet",
    "GradientReversal",
    "dann_schedule",
    "domain_separability",
    "grad_reverse",
    "train_domain_adversarial",
]

Mode = Literal["dann", "joint", "source_only"]
MODES: tuple[str, ...] = ("dann", "joint", "source_only")


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)  # a new tensor, so autograd records this node

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Identity forward; the gradient is multiplied by ``-scale`` backward.

    Example:
        >>> x = torch.tensor([2.0], requires_grad=True)
        >>> (3 * grad_reverse(x)).sum().backward()
        >>> x.grad.item()
        -3.0
    """
    if not scale >= 0:
        raise ValueError(f"scale must be >= 0 (the reversal supplies the minus sign), got {scale}")
    return _ReverseGradient.apply(x, float(scale))


class GradientReversal(nn.Module):
    """:func:`grad_reverse` as a layer; set ``.scale`` during training to follow a schedule.

    Example:
        >>> layer = GradientReversal(scale=0.0)
        >>> layer.scale = dann_schedule(0.5)
        >>> round(layer.scale, 4)
        0.9866
    """

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.scale)

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}"


def dann_schedule(progress: float, gamma: float = 10.0) -> float:
    """Ganin et al.'s ramp for the reversal's scale: :math:`\\lambda_p = 2 / (1 + e^{-\\gamma p}) - 1`.

    It starts at 0 (the domain classifier's early, noisy gradients do not disturb the
    features) and approaches 1 as training progress :math:`p` goes from 0 to 1.

    Example:
        >>> dann_schedule(0.0), round(dann_schedule(1.0), 5)
        (0.0, 0.99991)
    """
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be in [0, 1] (step / total steps), got {progress}")
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


class DomainAdversarialNet(nn.Module):
    """A feature extractor with a label head and a domain head.

    Arguments:
        features: maps inputs to ``(batch, feature_dim)``.
        feature_dim: width of the features.
        num_classes: label classes.
        num_domains: domains the domain head tells apart.
        hidden: width of the domain head's hidden layer.
        reverse: put a :class:`GradientReversal` between the features and the domain head
            (DANN). ``False`` wires the domain head straight onto the features, which is
            what a "domain-adversarial" model without a reversal layer does: trained on
            the sum of the two losses, its features learn to *separate* the domains.

    ``forward`` returns ``(label_logits, domain_logits)``.

    Example:
        >>> net = DomainAdversarialNet(nn.Linear(4, 8), 8, num_classes=2)
        >>> [t.shape[-1] for t in net(torch.zeros(5, 4))]
        [2, 2]
    """

    def __init__(
        self,
        features: nn.Module,
        feature_dim: int,
        num_classes: int,
        num_domains: int = 2,
        hidden: int = 64,
        reverse: bool = True,
    ) -> None:
        super().__init__()
        self.features = features
        self.label_head = nn.Linear(feature_dim, num_classes)
        self.reversal = GradientReversal(1.0) if reverse else nn.Identity()
        self.domain_head = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Linear(hidden, num_domains))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.label_head(h), self.domain_head(self.reversal(h))


@dataclass(frozen=True)
class DANNConfig:
    """How :func:`train_domain_adversarial` trains.

    Attributes:
        mode: ``"dann"`` (reversal, scale ramped by :func:`dann_schedule`), ``"joint"``
            (no reversal: features and domain head both minimise the domain loss) or
            ``"source_only"`` (the domain loss is not used at all).
        steps: optimizer steps; each sees ``batch_size`` source and ``batch_size`` target rows.
        batch_size: rows per domain per step.
        lr: Adam's learning rate.
        domain_weight: weight of the domain loss in the sum.
        gamma: the schedule's steepness (``"dann"`` only).
    """

    mode: Mode = "dann"
    steps: int = 500
    batch_size: int = 64
    lr: float = 1e-3
    domain_weight: float = 1.0
    gamma: float = 10.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps} and {self.batch_size}")


def train_domain_adversarial(
    model: DomainAdversarialNet,
    source_x: torch.Tensor,
    source_y: torch.Tensor,
    target_x: torch.Tensor,
    config: DANNConfig = DANNConfig(),
    seed: int = 0,
) -> dict[str, list[float]]:
    """Train on labelled source rows and unlabelled target rows; return the per-step losses.

    The model's wiring must match the mode: a reversal layer for ``"dann"``, none for
    ``"joint"`` (``"source_only"`` takes either, as its domain head gets no loss). Every
    step draws ``batch_size`` source and ``batch_size`` target rows with replacement (seeded);
    the model is left in eval mode.

    Returns:
        ``{"label_loss": [...], "domain_loss": [...], "scale": [...]}``, one entry per step.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> xs, xt = torch.randn(32, 4), torch.randn(32, 4) + 1
        >>> net = DomainAdversarialNet(nn.Linear(4, 8), 8, num_classes=2)
        >>> hist = train_domain_adversarial(net, xs, (xs[:, 0] > 0).long(), xt, DANNConfig(steps=5, batch_size=8))
        >>> len(hist["label_loss"])
        5
    """
    if source_x.shape[0] != source_y.shape[0]:
        raise ValueError(f"source_x has {source_x.shape[0]} rows but source_y has {source_y.shape[0]} labels")
    if source_x.shape[1:] != target_x.shape[1:]:
        raise ValueError(f"source rows have shape {tuple(source_x.shape[1:])}, target rows {tuple(target_x.shape[1:])}: "
                         "encode both domains the same way")
    reverses = isinstance(model.reversal, GradientReversal)
    if config.mode == "dann" and not reverses:
        raise ValueError("mode 'dann' needs a reversal layer: build the model with reverse=True")
    if config.mode == "joint" and reverses:
        raise ValueError("mode 'joint' is the model without a reversal layer: build it with reverse=False")
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    loss_fn = nn.functional.cross_entropy
    domains = torch.cat([torch.zeros(config.batch_size), torch.ones(config.batch_size)]).long()
    history: dict[str, list[float]] = {"label_loss": [], "domain_loss": [], "scale": []}
    model.train()
    for step in range(config.steps):
        scale = dann_schedule(step / config.steps, config.gamma) if config.mode == "dann" else 0.0
        if reverses:
            model.reversal.scale = scale
        src = torch.randint(len(source_x), (config.batch_size,), generator=generator)
        tgt = torch.randint(len(target_x), (config.batch_size,), generator=generator)
        label_logits, domain_logits = model(torch.cat([source_x[src], target_x[tgt]]))
        label_loss = loss_fn(label_logits[: config.batch_size], source_y[src])
        domain_loss = loss_fn(domain_logits, domains)
        loss = label_loss if config.mode == "source_only" else label_loss + config.domain_weight * domain_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history["label_loss"].append(label_loss.item())
        history["domain_loss"].append(domain_loss.item())
        history["scale"].append(scale)
    model.eval()
    return history


def domain_separability(features: np.ndarray, domains: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """How well a fresh logistic regression tells the domains apart from ``features``.

    Cross-validated accuracy (stratified ``folds``): 0.5 for two balanced domains means the
    features carry no domain information a linear probe can find; 1.0 means they separate
    the domains perfectly.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> d = np.repeat([0, 1], 50)
        >>> domain_separability(rng.normal(size=(100, 3)) + 5 * d[:, None], d)
        1.0
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, domains = np.asarray(features), np.asarray(domains)
    if len(features) != len(domains):
        raise ValueError(f"{len(features)} feature rows but {len(domains)} domain labels")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(probe, features, domains, cv=splits).mean())
