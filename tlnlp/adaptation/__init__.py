"""Domain adaptation: gradient reversal with its own ramp, and DANN as a loss module.

- :mod:`tlnlp.adaptation.grl`: :func:`grad_reverse`, :class:`GradientReversal` (owns DANN's
  warm-start ramp, :func:`dann_schedule`, and advances it itself);
- :mod:`tlnlp.adaptation.dann`: :class:`DomainAdversarialLoss`, :class:`DomainAdversarialClassifier`
  (trained by :func:`tlnlp.train.fit`), :func:`pair_domains`, :func:`domain_separability`;
- :mod:`tlnlp.adaptation.distance`: :func:`proxy_a_distance` (Ben-David et al. 2010);
- :mod:`tlnlp.adaptation.mlm`: :func:`add_mlm_head` (a fresh masked-LM head tied to an encoder's
  word embeddings) and :func:`continue_pretraining` (domain-adaptive pretraining, Gururangan et
  al. 2020, trained by fit);
- :mod:`tlnlp.adaptation.ner`: :func:`encode_tagged`, :func:`entity_f1` (seqeval),
  :func:`coarse_tag`, and :class:`TokenDomainAdversarialTagger` (DANN at token level).

Used in chapters 10 and 11 (domain adaptation) and appendix A.

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
from .distance import domain_classifier_error, proxy_a_distance
from .mlm import (
    MaskedLanguageModel,
    MaskedTextCollator,
    MLMHead,
    MLMRun,
    add_mlm_head,
    continue_pretraining,
    masked_lm_loss,
)
from .grl import GradientReversal, dann_schedule, grad_reverse
from .ner import (
    COARSE_TYPES,
    TokenDomainAdversarialTagger,
    coarse_tag,
    encode_tagged,
    entity_f1,
    predict_tags,
    token_domain_mask,
)

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
    "domain_classifier_error",
    "proxy_a_distance",
    "MLMHead",
    "MLMRun",
    "MaskedLanguageModel",
    "MaskedTextCollator",
    "add_mlm_head",
    "continue_pretraining",
    "masked_lm_loss",
    "COARSE_TYPES",
    "TokenDomainAdversarialTagger",
    "coarse_tag",
    "encode_tagged",
    "entity_f1",
    "predict_tags",
    "token_domain_mask",
]
