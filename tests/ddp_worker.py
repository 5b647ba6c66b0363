"""One rank of tests/test_train_distributed.py, started by ``torch.distributed.run`` (torchrun).

It calls tlnlp.train.fit exactly as a single-process script would, and leaves in OUT_DIR:
``stderr<rank>.txt`` (everything the rank wrote), ``rank<rank>.pt`` (its final weights, its
history, its errors, how often it wrote the checkpoint) and the checkpoint ``model.safetensors``.
The test imports :func:`train` to run the same training in one process.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import tlnlp.train
from tlnlp.train import accuracy, fit, steps_per_epoch

LOCAL_BATCH = 8
EPOCHS = 4


def data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three noisy classes in 4-d: the model keeps improving for a few epochs."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    X = torch.randn(n, 4, generator=g) + torch.nn.functional.one_hot(y, 4).float() * 1.5
    return X, y


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))


def train(batch_size: int, **kwargs: object) -> tuple[nn.Module, object]:
    """The run being compared: the same code in one process and in each rank."""
    net = model()
    loader = DataLoader(TensorDataset(*data(128, 0)), batch_size=batch_size, shuffle=False)
    eval_loader = DataLoader(TensorDataset(*data(50, 1)), batch_size=10)  # 5 batches: uneven shards
    optimizer = torch.optim.SGD(net.parameters(), lr=0.2, momentum=0.9)
    total = EPOCHS * steps_per_epoch(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / total)
    history = fit(
        net, loader, optimizer=optimizer, scheduler=scheduler, epochs=EPOCHS, eval_loader=eval_loader,
        metrics={"accuracy": accuracy}, loss_fn=nn.functional.cross_entropy, device="cpu", seed=0, **kwargs,
    )
    return net, history


class WithPooler(nn.Module):
    """A classifier whose trainable "pooler" never reaches the loss, as a body's under pool="mean"."""

    def __init__(self) -> None:
        super().__init__()
        self.net, self.pooler = model(), nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class UnfreezeAt:
    """A scheduler-like object that turns the first layer's gradients on at a given step."""

    def __init__(self, layer: nn.Module, at: int) -> None:
        self.layer, self.at, self.steps = layer, at, 0

    def step(self) -> None:
        self.steps += 1
        if self.steps == self.at:
            self.layer.requires_grad_(True)


def main(out: str) -> None:
    rank = int(os.environ["RANK"])
    log = open(os.path.join(out, f"stderr{rank}.txt"), "w")  # this rank's whole stderr: tqdm, warnings
    os.dup2(log.fileno(), 2)
    result: dict[str, object] = {"checkpoint_writes": 0}
    save = tlnlp.train.save_checkpoint

    def counted_save(*args: object, **kwargs: object) -> None:  # which rank writes the checkpoint
        result["checkpoint_writes"] += 1
        save(*args, **kwargs)

    tlnlp.train.save_checkpoint = counted_save
    try:  # one batch for two processes: refused before anything starts
        net = model()
        fit(net, DataLoader(TensorDataset(*data(8, 0)), batch_size=8), optimizer=torch.optim.SGD(net.parameters(), lr=0.1),
            loss_fn=nn.functional.cross_entropy, device="cpu", progress=False)
    except ValueError as err:
        result["short_error"] = str(err)

    net, history = train(LOCAL_BATCH, checkpoint=os.path.join(out, "model.safetensors"), checkpoint_config={"hidden": 16})
    result["group_left_behind"] = dist.is_initialized()
    result["state"] = net.state_dict()
    result["records"] = history.records
    result["step_losses"] = history.step_losses
    result["best_step"] = history.best_step

    # Gradual unfreezing mid-run: the layer turned on must be averaged across ranks too.
    net = WithPooler()
    net.net[0].requires_grad_(False)
    loader = DataLoader(TensorDataset(*data(64, 2)), batch_size=LOCAL_BATCH, shuffle=True)
    fit(net, loader, optimizer=torch.optim.SGD(net.parameters(), lr=0.1), scheduler=UnfreezeAt(net.net[0], 3),
        epochs=2, loss_fn=nn.functional.cross_entropy, device="cpu", progress=False, seed=1)
    result["unfrozen_state"] = net.state_dict()
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))


if __name__ == "__main__":
    main(sys.argv[1])
