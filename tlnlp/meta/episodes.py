"""Few-shot evaluation: accuracy on the query sets of many episodes, the same episodes for every method.

>>> import numpy as np, torch
>>> features = torch.randn(40, 3); labels = np.repeat(np.arange(4), 10)
>>> always_first = lambda task: torch.zeros(len(task.query_y), 2)
>>> episode_accuracies(always_first, features, labels, n_way=2, k_shot=1, n_query=3, episodes=5).tolist()
[0.5, 0.5, 0.5, 0.5, 0.5]
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from ..data.episodes import Episode, sample_episode
from .maml import Task

__all__ = ["episode_accuracies", "episode_task"]


def episode_task(features: torch.Tensor, episode: Episode) -> Task:
    """The :class:`~tlnlp.meta.Task` of an :class:`~tlnlp.data.Episode`: its rows of ``features``
    and its episode labels."""
    return Task(features[episode.support], torch.as_tensor(episode.support_labels),
                features[episode.query], torch.as_tensor(episode.query_labels))


def episode_accuracies(
    predict: Callable[[Task], torch.Tensor],
    features: torch.Tensor,
    labels: Sequence | np.ndarray,
    *,
    n_way: int,
    k_shot: int,
    n_query: int,
    episodes: int,
    classes: Sequence | np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Query accuracy of ``predict`` on each of ``episodes`` N-way K-shot episodes.

    Arguments:
        predict: maps a :class:`~tlnlp.meta.Task` to ``(n_way * n_query, n_way)`` query scores;
            it may adapt to ``task.support_x, task.support_y`` first (it runs with
            gradients enabled).
        features: one row per example (e.g. sentence embeddings).
        labels: one label per row.
        n_way, k_shot, n_query: the episode shape (see :func:`tlnlp.data.sample_episode`).
        episodes: how many episodes.
        classes: draw episodes from these labels only (the meta-test classes).
        seed: the episodes drawn; the same seed gives every method the same episodes, so
            their accuracies can be compared episode by episode.

    Returns:
        ``(episodes,)`` accuracies.
    """
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
    rng = np.random.default_rng(seed)
    accuracies = np.empty(episodes)
    for i in range(episodes):
        task = episode_task(features, sample_episode(labels, n_way, k_shot, n_query, rng, classes=classes))
        scores = predict(task).detach()  # gradients stay on: predict may adapt to the support set
        if scores.shape != (len(task.query_y), n_way):
            raise ValueError(f"predict returned scores of shape {tuple(scores.shape)}; "
                             f"expected ({len(task.query_y)}, {n_way}): one row per query, one column per class")
        accuracies[i] = (scores.argmax(-1) == task.query_y).double().mean().item()
    return accuracies
