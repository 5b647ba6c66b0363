"""tlnlp.meta.meta_train, the one outer loop: a closed-form step, a hand-written loop, and its errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tlnlp.lm import NonFiniteLossError
from tlnlp.meta import MAML, Task, meta_train


def regression_tasks(seed: int):
    rng = np.random.default_rng(seed)

    def sample() -> Task:
        x = torch.tensor(rng.normal(size=(9, 3)), dtype=torch.float32)
        y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.tensor(rng.normal(size=9), dtype=torch.float32)
        return Task(x[:4], y[:4], x[4:], y[4:])

    return sample


def test_one_sgd_step_is_the_closed_form_mean_gradient_over_the_tasks() -> None:
    w = torch.tensor([0.3, 0.1, -0.2], requires_grad=True)
    tasks = [regression_tasks(1)() for _ in range(3)]
    queue = iter(tasks)
    loss = lambda batch: torch.stack([((t.query_x @ w - t.query_y) ** 2).mean() for t in batch]).mean()  # noqa: E731
    meta_train(loss, lambda: next(queue), torch.optim.SGD([w], lr=0.1), iterations=1, tasks_per_step=3)
    w0 = torch.tensor([0.3, 0.1, -0.2])
    grads = [2 / len(t.query_x) * t.query_x.T @ (t.query_x @ w0 - t.query_y) for t in tasks]  # d/dw of each MSE
    torch.testing.assert_close(w.detach(), w0 - 0.1 * torch.stack(grads).mean(0))


def test_maml_through_meta_train_equals_a_hand_written_outer_loop() -> None:
    torch.manual_seed(0)
    head = nn.Linear(3, 1)
    twin = copy.deepcopy(head)
    mse = lambda out, y: F.mse_loss(out.squeeze(-1), y)  # noqa: E731
    losses = meta_train(MAML(head, inner_lr=0.1, inner_steps=2, loss_fn=mse).meta_loss, regression_tasks(2),
                        torch.optim.Adam(head.parameters(), lr=1e-2), iterations=6, tasks_per_step=4)
    maml, optimizer, sample = MAML(twin, inner_lr=0.1, inner_steps=2, loss_fn=mse), torch.optim.Adam(twin.parameters(), lr=1e-2), regression_tasks(2)
    expected = []
    for _ in range(6):
        loss = maml.meta_loss([sample() for _ in range(4)])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        expected.append(float(loss.detach()))
    assert losses == expected
    for a, b in zip(head.parameters(), twin.parameters()):
        assert torch.equal(a, b)


def test_after_step_sees_every_iteration_and_each_step_gets_its_tasks() -> None:
    w = torch.zeros(3, requires_grad=True)
    seen, sizes = [], []

    def loss(batch):
        sizes.append(len(batch))
        return (w.sum() - 1) ** 2

    meta_train(loss, regression_tasks(0), torch.optim.SGD([w], lr=0.1), iterations=3, tasks_per_step=2, after_step=seen.append)
    assert seen == [1, 2, 3] and sizes == [2, 2, 2]


def test_a_nan_meta_loss_stops_before_the_step_naming_the_iteration() -> None:
    w = torch.ones(2, requires_grad=True)
    calls = iter([torch.tensor(1.0), torch.tensor(float("nan"))])
    loss = lambda batch: (w * 0).sum() + next(calls)  # noqa: E731
    with pytest.raises(NonFiniteLossError, match="meta-loss is nan at iteration 2 of 5.*Lower the outer learning rate"):
        meta_train(loss, regression_tasks(0), torch.optim.SGD([w], lr=0.1, momentum=0.0), iterations=5)
    assert torch.equal(w.detach(), torch.ones(2))  # first step's gradient was zero; the NaN step was not taken


@pytest.mark.parametrize("kwargs, match", [({"iterations": 0}, "iterations must be an int >= 1"),
                                           ({"iterations": 2, "tasks_per_step": 0}, "tasks_per_step must be an int >= 1")])
def test_bad_counts_are_refused(kwargs, match) -> None:
    w = torch.zeros(1, requires_grad=True)
    with pytest.raises(ValueError, match=match):
        meta_train(lambda b: w.sum(), regression_tasks(0), torch.optim.SGD([w], lr=0.1), **kwargs)
