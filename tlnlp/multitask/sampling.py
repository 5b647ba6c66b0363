"""Which task the next batch comes from: proportional, uniform and temperature (annealed) mixing.

With task sizes :math:`n_i`, temperature mixing draws task :math:`i` with probability

.. math:: p_i = \\frac{n_i^{1/T}}{\\sum_j n_j^{1/T}} ,

:math:`T = 1` is proportional to size (every example is seen about equally often, as when
the datasets are simply concatenated, MT-DNN's choice), :math:`T \\to \\infty` is uniform over
tasks, and values between flatten the sizes (T5 mixes with :math:`T` up to 8). *Annealed*
mixing moves the exponent :math:`\\alpha = 1/T` linearly from :math:`1/T_0` to :math:`1/T_1`
over training (Stickland and Murray, 2019: from proportional, :math:`\\alpha = 1`, to
:math:`\\alpha = 0.2`), so big tasks lead early and small ones get more turns late.

:class:`TaskSampler` draws one task per step, takes that task's next batch and tags it with
``"task"``; it has a length (its number of steps), so :func:`tlnlp.train.fit` counts steps.

Introduced in chapter 8.

>>> {k: round(v, 3) for k, v in task_probabilities({"big": 900, "small": 100}, temperature=1.0).items()}
{'big': 0.9, 'small': 0.1}
>>> {k: round(v, 3) for k, v in task_probabilities({"big": 900, "small": 100}, temperature=2.0).items()}
{'big': 0.75, 'small': 0.25}
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import torch

__all__ = ["MIXINGS", "TaskBatches", "TaskSampler", "task_probabilities"]

MIXINGS: tuple[str, ...] = ("proportional", "uniform", "temperature", "annealed")
"""The mixing rules :class:`TaskSampler` knows."""


def _check_temperature(temperature: float, what: str = "temperature") -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(
            f"{what} must be a number > 0 (1: proportional to size, larger: flatter), got {temperature!r}; "
            "for uniform mixing use mixing='uniform' (T = infinity)"
        )
    return float(temperature)


def task_probabilities(sizes: Mapping[str, int], temperature: float = 1.0) -> dict[str, float]:
    """:math:`p_i \\propto n_i^{1/T}` over the tasks (``temperature=math.inf``: uniform).

    Arguments:
        sizes: task -> number of training examples (> 0).
        temperature: :math:`T > 0`.

    Raises:
        ValueError: a temperature <= 0, no tasks, or a size <= 0.

    Example:
        >>> task_probabilities({"a": 10, "b": 1000}, temperature=math.inf)
        {'a': 0.5, 'b': 0.5}
    """
    temperature = _check_temperature(temperature)
    if not sizes:
        raise ValueError("task_probabilities() got no tasks")
    bad = {k: v for k, v in sizes.items() if not v > 0}
    if bad:
        raise ValueError(f"every task needs a size > 0 (its number of training examples), got {bad}")
    alpha = 0.0 if math.isinf(temperature) else 1.0 / temperature
    logs = np.array([alpha * math.log(n) for n in sizes.values()])
    weights = np.exp(logs - logs.max())
    return dict(zip(sizes, (weights / weights.sum()).tolist()))


class TaskSampler:
    """Batches from several named loaders, one task drawn per step by a mixing rule.

    Arguments:
        loaders: task -> an iterable of dict batches (e.g. :func:`tlnlp.transfer.make_loader`);
            a loader is restarted when it runs out, so small tasks are cycled through.
        steps: batches per pass (``len(sampler)``; give ``fit`` ``max_steps=steps``).
        mixing: ``"proportional"`` (:math:`T = 1`), ``"uniform"``, ``"temperature"`` (fixed
            ``temperature``) or ``"annealed"`` (``temperature=(T0, T1)``, :math:`1/T` moving
            linearly from :math:`1/T_0` at the first step to :math:`1/T_1` at the last).
        temperature: :math:`T` for ``"temperature"``, ``(T0, T1)`` for ``"annealed"``.
        sizes: task -> size; default ``len(loader.dataset)`` (else ``len(loader)``).
        seed: the seed of the task draws (pass ``p`` uses ``seed + p``); ``None`` draws it from
            torch's global generator, so ``fit(seed=...)`` fixes it.

    Attributes:
        sizes: the task sizes used.
        drawn: the tasks of the last pass, in order.

    Raises:
        ValueError: an unknown mixing, a temperature <= 0, no loaders, or steps < 1.

    Example:
        >>> loaders = {"a": [{"x": torch.zeros(1)}] * 3, "b": [{"x": torch.ones(1)}]}
        >>> sampler = TaskSampler(loaders, steps=4, mixing="uniform", seed=0)
        >>> len(sampler), [batch["task"] for batch in sampler]
        (4, ['b', 'a', 'a', 'a'])
    """

    def __init__(
        self,
        loaders: Mapping[str, Iterable[Mapping[str, Any]]],
        steps: int,
        mixing: str = "proportional",
        temperature: float | tuple[float, float] = 2.0,
        sizes: Mapping[str, int] | None = None,
        seed: int | None = None,
    ) -> None:
        if not loaders:
            raise ValueError("TaskSampler needs at least one loader: {'task name': loader}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an int >= 1 (batches per pass), got {steps!r}")
        if mixing not in MIXINGS:
            raise ValueError(f"unknown mixing {mixing!r}; choose one of {', '.join(MIXINGS)}")
        if mixing == "temperature":
            _check_temperature(temperature)  # type: ignore[arg-type]
        if mixing == "annealed":
            if not (isinstance(temperature, (tuple, list)) and len(temperature) == 2):
                raise ValueError(
                    f"mixing='annealed' needs temperature=(T0, T1), the first and last step's T, got {temperature!r}"
                )
            for t in temperature:
                _check_temperature(t, "each annealing temperature")
        self.loaders = dict(loaders)
        self.steps = steps
        self.mixing = mixing
        self.temperature = temperature
        self.sizes = dict(sizes) if sizes is not None else {k: _size(k, v) for k, v in self.loaders.items()}
        missing = set(self.loaders) - set(self.sizes)
        if missing:
            raise ValueError(f"sizes lacks the task(s) {sorted(missing)}: give a size for every loader")
        self.sizes = {k: self.sizes[k] for k in self.loaders}
        task_probabilities(self.sizes)  # checks the sizes
        self.seed = seed
        self.drawn: list[str] = []
        self._passes = 0

    def __len__(self) -> int:
        return self.steps

    def probabilities(self, step: int = 0) -> dict[str, float]:
        """The task distribution at 0-based ``step``.

        Example:
            >>> s = TaskSampler({"a": [{}], "b": [{}]}, steps=3, mixing="annealed", temperature=(1.0, 5.0),
            ...                 sizes={"a": 1, "b": 32})
            >>> [round(s.probabilities(t)["a"], 3) for t in range(3)]  # alpha: 1, 0.6, 0.2
            [0.03, 0.111, 0.333]
        """
        if self.mixing == "proportional":
            return task_probabilities(self.sizes, 1.0)
        if self.mixing == "uniform":
            return task_probabilities(self.sizes, math.inf)
        if self.mixing == "temperature":
            return task_probabilities(self.sizes, float(self.temperature))  # type: ignore[arg-type]
        t0, t1 = self.temperature  # type: ignore[misc]
        frac = step / (self.steps - 1) if self.steps > 1 else 0.0
        alpha = (1 - frac) / t0 + frac / t1
        return task_probabilities(self.sizes, 1.0 / alpha)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        seed = self.seed + self._passes if self.seed is not None else int(torch.randint(2**31 - 1, ()).item())
        self._passes += 1
        rng = np.random.default_rng(seed)
        names = list(self.loaders)
        iterators = {name: iter(loader) for name, loader in self.loaders.items()}
        self.drawn = []
        for step in range(self.steps):
            p = self.probabilities(step)
            task = names[int(rng.choice(len(names), p=[p[n] for n in names]))]
            try:
                batch = next(iterators[task])
            except StopIteration:
                iterators[task] = iter(self.loaders[task])
                batch = next(iterators[task], None)
                if batch is None:
                    raise ValueError(f"the loader of task {task!r} yields no batches") from None
            self.drawn.append(task)
            yield {**batch, "task": task}


class TaskBatches:
    """One loader's batches, each tagged with ``"task": task`` (to evaluate one head of a multi-task model).

    Example:
        >>> [b["task"] for b in TaskBatches([{"x": 1}, {"x": 2}], "ner")], len(TaskBatches([{}], "ner"))
        (['ner', 'ner'], 1)
    """

    def __init__(self, loader: Iterable[Mapping[str, Any]], task: str) -> None:
        self.loader = loader
        self.task = task

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.loader:
            yield {**batch, "task": self.task}


def _size(task: str, loader: Any) -> int:
    dataset = getattr(loader, "dataset", None)
    try:
        return len(dataset) if dataset is not None else len(loader)
    except TypeError:
        raise ValueError(f"cannot tell the size of task {task!r}'s loader (no len()): pass sizes={{...}}") from None
