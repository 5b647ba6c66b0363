"""Prototypical networks (Snell et al. 2017): classify a query by its nearest class mean.

Each class's prototype is the mean embedding of its support examples; a query's logits are
the negative squared Euclidean distances to the prototypes, so a softmax over them is a
distribution over the episode's classes. With a frozen pretrained encoder it needs no
training at all: the baseline that meta-learning has to beat.

>>> import torch
>>> emb = torch.tensor([[0.0, 0.0], [0.0, 2.0], [4.0, 0.0]])
>>> protos = prototypes(emb, torch.tensor([0, 0, 1]), n_classes=2)
>>> protos.tolist()
[[0.0, 1.0], [4.0, 0.0]]
>>> prototype_logits(torch.tensor([[1.0, 1.0]]), protos).tolist()
[[-1.0, -10.0]]
"""

from __future__ import annotations

import torch

__all__ = ["prototype_logits", "prototypes"]


def prototypes(embeddings: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``(n_classes, dim)`` class means of ``embeddings`` ``(n, dim)`` grouped by ``labels`` (``0 .. n_classes-1``)."""
    if embeddings.dim() != 2 or labels.shape != embeddings.shape[:1]:
        raise ValueError(f"need embeddings (n, dim) and labels (n,); got {tuple(embeddings.shape)} and {tuple(labels.shape)}")
    if len(labels) and (labels.min() < 0 or labels.dtype.is_floating_point):
        raise ValueError(f"labels must be class indices 0..{n_classes - 1} (an integer tensor), got {labels.dtype} with min {labels.min().item()}")
    counts = torch.bincount(labels, minlength=n_classes)
    if len(counts) > n_classes or (counts == 0).any():
        raise ValueError(f"every class 0..{n_classes - 1} needs at least one support example; counts: {counts.tolist()}")
    sums = torch.zeros(n_classes, embeddings.shape[1], dtype=embeddings.dtype, device=embeddings.device).index_add_(0, labels, embeddings)
    return sums / counts.unsqueeze(1).to(embeddings.dtype)


def prototype_logits(queries: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """``(n_queries, n_classes)`` logits: minus the squared Euclidean distance to each prototype."""
    if queries.shape[-1] != protos.shape[-1]:
        raise ValueError(f"queries have dim {queries.shape[-1]} but prototypes {protos.shape[-1]}")
    return -torch.cdist(queries, protos).pow(2)
