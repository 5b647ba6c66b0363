"""Domain adaptation: gradient reversal with its own ramp, and DANN as a loss module.

- :mod:`tlnlp.adaptation.grl`: :func:`grad_reverse`, :class:`GradientReversal` (owns DANN's
  warm-start ramp, :func:`dann_schedule`, and advances it itself);
- :mod:`tlnlp.adaptation.dann`: :class:`DomainAdversarialLoss`, :class:`DomainAdversarialClassifier`
  (trained by :func:`tlnlp.train.fit`), :func:`pair_domains`, :func:`domain_separability`.

Introduced in appendix A.

>>> from tlnlp.adaptation import DomainAdversarialLoss, GradientReversal, domain_discriminator
>>> DomainAdversarialLoss(domain_discriminator(8), GradientReversal(max_steps=100)).reverses
True
"""

from .dann import (
    DomainAdversarialClassifier,
    DomainAdversarialLoss,
    DomainPairs,
    domain_discriminator,
    domain_separability,
    pair_domains,
)
from .grl import GradientReversal, dann_schedule, grad_reverse

__all__ = [
    "GradientReversal",
    "dann_schedule",
    "grad_reverse",
    "DomainAdversarialLoss",
    "DomainAdversarialClassifier",
    "DomainPairs",
    "domain_discriminator",
    "domain_separability",
    "pair_domains",
]
