"""Domain-adversarial training (DANN, Ganin et al. 2016) as a loss module that :func:`tlnlp.train.fit` trains.

A DANN has a shared feature extractor :math:`F`, a label classifier :math:`C` (trained on
labelled source examples) and a domain classifier :math:`D` (trained to tell source from
target). :math:`D` minimises its loss; :math:`F` should *maximise* it, so that its features
stop carrying the domain. A gradient reversal layer (:mod:`tlnlp.adaptation.grl`) does both in
one backward pass. Without it, :math:`F` descends the domain loss too and learns features that
*separate* the domains: the opposite of adaptation, and the source article's mistake
(``grl=None`` below, the "joint" model).

The pieces, each one job:

- :class:`DomainAdversarialLoss` ``(domain_head, grl)``: the domain-classification loss of
  source and target features, through the reversal (whose ramp advances itself);
- :class:`DomainAdversarialClassifier` ``(classifier, adversary, trade_off)``: a classifier
  (:class:`tlnlp.models.Classifier`, or any module with ``features`` and ``head``) plus that
  loss; its forward returns an :class:`~tlnlp.models.Output` with ``loss = classification
  loss + trade_off * domain loss``, so :func:`tlnlp.train.fit` trains it with any optimizer;
- :func:`pair_domains`: batches that pair labelled source rows with unlabelled target rows;
- :func:`domain_separability`: how much domain a fresh linear probe finds in features.

Used in chapters 10 and 11 (domain adaptation) and appendix A.

>>> import torch
>>> from torch.utils.data import DataLoader
>>> from tlnlp.models import Classifier
>>> from tlnlp.train import fit
>>> _ = torch.manual_seed(0)
>>> source = DataLoader([{"input_ids": torch.randint(1, 20, (5,)), "labels": i % 2} for i in range(32)], batch_size=8)
>>> target = DataLoader([{"input_ids": torch.randint(1, 20, (5,))} for _ in range(32)], batch_size=8)
>>> grl = GradientReversal(max_steps=8)
>>> model = DomainAdversarialClassifier(Classifier(torch.nn.Embedding(20, 16), num_labels=2),
...                                     DomainAdversarialLoss(domain_discriminator(16), grl))
>>> history = fit(model, pair_domains(source, target), optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
...               max_steps=8, progress=False, seed=0)
>>> grl.steps, len(history.step_losses)
(8, 8)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from ..models.output import Output
from .grl import GradientReversal

__all__ = [
    "DomainAdversarialClassifier",
    "DomainAdversarialLoss",
    "DomainPairs",
    "domain_discriminator",
    "domain_separability",
    "pair_domains",
]

TARGET_PREFIX = "target_"
"""Target-domain inputs travel in a paired batch under this prefix (``target_input_ids``...)."""


def domain_discriminator(in_features: int, hidden: int = 64, num_domains: int = 2) -> nn.Sequential:
    """DANN's domain head: ``Linear -> ReLU -> Linear`` to one score per domain.

    Example:
        >>> domain_discriminator(8)(torch.zeros(3, 8)).shape
        torch.Size([3, 2])
    """
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_domains))


class DomainAdversarialLoss(nn.Module):
    """The domain-classification loss of source and target features, through a gradient reversal.

    Source rows are domain 0 and target rows domain 1; the loss is the cross-entropy of
    ``domain_head`` over all of them (the mean over rows). The features pass through ``grl``
    once per call (source and target together), so its warm-start ramp advances one step per
    training forward.

    Arguments:
        domain_head: maps ``(rows, dim)`` features to ``(rows, 2)`` domain scores (e.g.
            :func:`domain_discriminator`).
        grl: the reversal between the features and the head (DANN). ``None`` wires the head
            straight onto the features: the "joint" model of the source article, whose
            features, trained on the sum of the losses, learn to *separate* the domains.

    Example:
        >>> loss = DomainAdversarialLoss(domain_discriminator(4), GradientReversal())
        >>> f_s, f_t = torch.randn(3, 4, requires_grad=True), torch.randn(5, 4)
        >>> value = loss(f_s, f_t)
        >>> value.dim(), loss.reverses
        (0, True)
    """

    def __init__(self, domain_head: nn.Module, grl: GradientReversal | None = None) -> None:
        super().__init__()
        if not isinstance(domain_head, nn.Module):
            raise TypeError(f"domain_head must be a torch.nn.Module, got {type(domain_head).__name__}")
        if grl is not None and not isinstance(grl, GradientReversal):
            raise TypeError(
                f"grl must be a tlnlp.adaptation.GradientReversal (or None for the joint model), got {type(grl).__name__}"
            )
        self.domain_head = domain_head
        self.grl = grl

    @property
    def reverses(self) -> bool:
        """True for DANN, False for the joint model."""
        return self.grl is not None

    def forward(self, source_features: torch.Tensor, target_features: torch.Tensor) -> torch.Tensor:
        if source_features.shape[1:] != target_features.shape[1:]:
            raise ValueError(
                f"source features have shape {tuple(source_features.shape[1:])} per row, target features "
                f"{tuple(target_features.shape[1:])}: encode both domains with the same feature extractor"
            )
        features = torch.cat([source_features, target_features])
        if self.grl is not None:
            features = self.grl(features)
        domains = torch.cat([
            torch.zeros(len(source_features), dtype=torch.long, device=features.device),
            torch.ones(len(target_features), dtype=torch.long, device=features.device),
        ])
        return nn.functional.cross_entropy(self.domain_head(features), domains)


class DomainAdversarialClassifier(nn.Module):
    """A classifier trained on labelled source rows while a domain loss shapes its features.

    ``forward`` takes a batch of :func:`pair_domains`: the source inputs (``input_ids``,
    ``attention_mask``, ``labels``) and the target inputs (``target_input_ids``,
    ``target_attention_mask``). It returns an :class:`~tlnlp.models.Output` with the source
    ``logits`` and ``loss = classification loss + trade_off * domain loss``, plus the two
    parts (detached) as ``classification_loss`` and ``domain_loss``. Without target inputs
    (an ordinary labelled batch, as in evaluation) it is just the classifier, so
    :func:`tlnlp.train.evaluate` scores it on any domain.

    When source and target inputs have the same shape (fixed-length inputs or feature
    vectors) the extractor runs once on both, as in Ganin et al.; padded texts of different
    lengths go through it one domain at a time.

    Arguments:
        classifier: a :class:`tlnlp.models.Classifier`, or any module with a method
            ``features(input_ids, attention_mask)`` returning ``(batch, dim)`` and a ``head``
            module mapping those to class scores.
        adversary: the :class:`DomainAdversarialLoss` on those features.
        trade_off: the weight of the domain loss. 0 trains the classifier on the source
            alone (the domain head is still measured, but gets no gradient).

    Example:
        >>> from tlnlp.models import Classifier
        >>> model = DomainAdversarialClassifier(Classifier(nn.Embedding(9, 4), num_labels=2),
        ...                                     DomainAdversarialLoss(domain_discriminator(4)))
        >>> out = model(torch.tensor([[1, 2]]), labels=torch.tensor([1]), target_input_ids=torch.tensor([[3, 4]]))
        >>> sorted(out.keys())
        ['classification_loss', 'domain_loss', 'logits', 'loss']
    """

    def __init__(self, classifier: nn.Module, adversary: DomainAdversarialLoss, trade_off: float = 1.0) -> None:
        super().__init__()
        if not callable(getattr(classifier, "features", None)) or not isinstance(getattr(classifier, "head", None), nn.Module):
            raise TypeError(
                f"the classifier ({type(classifier).__name__}) needs a features(input_ids, attention_mask) method "
                "and a head module: use tlnlp.models.Classifier(body, num_labels)"
            )
        if not isinstance(adversary, DomainAdversarialLoss):
            raise TypeError(f"adversary must be a DomainAdversarialLoss, got {type(adversary).__name__}")
        if not trade_off >= 0:
            raise ValueError(f"trade_off must be >= 0 (0: source only), got {trade_off}")
        self.classifier = classifier
        self.adversary = adversary
        self.trade_off = float(trade_off)

    def _features(self, inputs: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return self.classifier.features(inputs, attention_mask=mask)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        target_input_ids: torch.Tensor | None = None,
        target_attention_mask: torch.Tensor | None = None,
    ) -> Output:
        if target_input_ids is None:
            logits = self.classifier.head(self._features(input_ids, attention_mask))
            loss = None if labels is None else nn.functional.cross_entropy(logits, labels)
            return Output(logits=logits, loss=loss)
        same_shape = input_ids.shape[1:] == target_input_ids.shape[1:]
        if same_shape and (attention_mask is None) == (target_attention_mask is None):
            mask = None if attention_mask is None else torch.cat([attention_mask, target_attention_mask])
            both = self._features(torch.cat([input_ids, target_input_ids]), mask)
            source_features, target_features = both[: len(input_ids)], both[len(input_ids) :]
        else:
            source_features = self._features(input_ids, attention_mask)
            target_features = self._features(target_input_ids, target_attention_mask)
        logits = self.classifier.head(source_features)
        domain_loss = self.adversary(source_features, target_features)
        if labels is None:
            return Output(logits=logits, domain_loss=domain_loss.detach())
        classification_loss = nn.functional.cross_entropy(logits, labels)
        return Output(
            logits=logits,
            loss=classification_loss + self.trade_off * domain_loss,
            classification_loss=classification_loss.detach(),
            domain_loss=domain_loss.detach(),
        )

    def extra_repr(self) -> str:
        return f"trade_off={self.trade_off:g}, reverses={self.adversary.reverses}"


class DomainPairs:
    """The batches of :func:`pair_domains`: each source batch with the next target batch."""

    def __init__(self, source: Iterable[Mapping[str, Any]], target: Iterable[Mapping[str, Any]]) -> None:
        self.source = source
        self.target = target

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        target = iter(self.target)
        for batch in self.source:
            if not isinstance(batch, Mapping):
                raise TypeError(f"pair_domains() needs dict batches, got a source batch of type {type(batch).__name__}")
            try:
                other = next(target)
            except StopIteration:  # the target domain is smaller: start it again (a DataLoader reshuffles)
                target = iter(self.target)
                try:
                    other = next(target)
                except StopIteration:
                    raise ValueError("pair_domains(): the target loader yields no batches") from None
            if not isinstance(other, Mapping):
                raise TypeError(f"pair_domains() needs dict batches, got a target batch of type {type(other).__name__}")
            # The target's labels, if it has any, stay behind: the target domain is unlabelled.
            yield {**batch, **{TARGET_PREFIX + k: v for k, v in other.items() if k != "labels"}}


def pair_domains(source: Iterable[Mapping[str, Any]], target: Iterable[Mapping[str, Any]]) -> DomainPairs:
    """Pair every labelled source batch with an unlabelled target batch, for :class:`DomainAdversarialClassifier`.

    Both loaders yield dict batches (``input_ids``, ``attention_mask``...). Each batch of the
    result is the source batch plus the next target batch's entries under ``target_`` names;
    the target's ``labels``, if any, are dropped. The target loader restarts when it runs
    out, so an epoch is one pass over the source. The result has the source's length, so
    :func:`tlnlp.train.fit` counts epochs and ``max_steps`` as usual.

    Example:
        >>> source = [{"input_ids": torch.ones(2, 3), "labels": torch.tensor([0, 1])}] * 3
        >>> target = [{"input_ids": torch.zeros(2, 3), "labels": torch.tensor([1, 1])}]
        >>> batches = pair_domains(source, target)
        >>> len(batches), sorted(next(iter(batches)))
        (3, ['input_ids', 'labels', 'target_input_ids'])
    """
    return DomainPairs(source, target)


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

    features, domains = np.asarray(features, dtype=float), np.asarray(domains)
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D array (one row per example), got shape {features.shape}")
    if len(features) != len(domains):
        raise ValueError(f"{len(features)} feature rows but {len(domains)} domain labels")
    if not np.isfinite(features).all():
        rows = np.flatnonzero(~np.isfinite(features).all(axis=1))
        raise ValueError(f"features hold NaN or inf in {len(rows)} rows (first: {rows[:5].tolist()}): check the encoder's output")
    names, counts = np.unique(domains, return_counts=True)
    if len(names) < 2:
        raise ValueError(f"domain_separability needs rows of at least 2 domains, got only {names.tolist()}")
    if counts.min() < folds:
        raise ValueError(
            f"domain {names[counts.argmin()].item()!r} has {counts.min()} rows, fewer than folds={folds}: "
            "give each domain at least `folds` rows, or lower folds"
        )
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(probe, features, domains, cv=splits).mean())
