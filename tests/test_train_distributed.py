"""Tests of tlnlp.train.fit beyond one process: DDP on CPU (gloo) under torchrun, unchanged.

The launch test starts ``python -m torch.distributed.run --nproc_per_node=2`` on 127.0.0.1
with tests/ddp_worker.py, which calls ``fit`` as any single-process script does, and compares
what both ranks leave behind with each other and with one process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import ddp_worker
from tlnlp.cache import load_checkpoint
from tlnlp.train import _Launch, _shard, fit, steps_per_epoch
from tlnlp.text.batching import TokenizedDataset, make_loader

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run tests/ddp_worker.py on two CPU processes once; what each rank left behind."""
    out = tmp_path_factory.mktemp("ddp")
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_ENV}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
        f"--master_port={free_port()}", str(ROOT / "tests" / "ddp_worker.py"), str(out),
    ]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    stderr = {r: (out / f"stderr{r}.txt").read_text() for r in (0, 1) if (out / f"stderr{r}.txt").exists()}
    assert run.returncode == 0, f"torchrun failed:\n{run.stderr[-3000:]}\nrank stderr: {stderr}"
    ranks = [torch.load(out / f"rank{r}.pt") for r in (0, 1)]
    return {"out": out, "ranks": ranks, "stderr": stderr}


def test_both_ranks_end_with_identical_weights_and_history(launched: dict[str, Any]) -> None:
    r0, r1 = launched["ranks"]
    assert r0["state"].keys() == r1["state"].keys()
    for name in r0["state"]:
        assert torch.equal(r0["state"][name], r1["state"][name]), name
    assert r0["records"] == r1["records"]
    assert r0["step_losses"] == r1["step_losses"]
    assert not r0["group_left_behind"] and not r1["group_left_behind"]  # fit destroyed the group it made


def test_the_result_equals_one_process_at_the_same_global_batch(launched: dict[str, Any]) -> None:
    """Two ranks at local batch 8 = one process at batch 16, step for step.

    The unshuffled loader's batches b0, b1, ... of 8 go to rank 0 (b0, b2, ...) and rank 1
    (b1, b3, ...), so global step k sees b(2k) and b(2k+1): exactly batch k of one process's
    loader of 16. Each rank's loss is the mean over its 8 examples and DDP averages the two
    gradients, which is the gradient of the mean over the 16. Both runs size the schedule
    with steps_per_epoch (8 steps per epoch either way) and seed alike; the model has no
    dropout. What remains is float summation order.
    """
    reference, history = ddp_worker.train(2 * ddp_worker.LOCAL_BATCH, progress=False)
    r0 = launched["ranks"][0]
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(r0["state"][name], value, rtol=1e-5, atol=1e-6)
    assert len(r0["records"]) == len(history.records) == ddp_worker.EPOCHS
    for mine, theirs in zip(r0["records"], history.records):
        assert mine["step"] == theirs["step"] and mine["lr"] == theirs["lr"]
        for key in ("train_loss", "eval_loss", "eval_accuracy"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-5), key
    assert r0["step_losses"] == pytest.approx(history.step_losses, rel=1e-5)
    assert r0["best_step"] == history.best_step < history.last["step"]  # restore_best did restore


def test_only_rank_0_writes_the_checkpoint_and_the_progress_bar(launched: dict[str, Any]) -> None:
    r0, r1 = launched["ranks"]
    assert (r0["checkpoint_writes"], r1["checkpoint_writes"]) == (1, 0)
    net, config, extra = load_checkpoint(launched["out"] / "model.safetensors", lambda c: ddp_worker.model())
    assert config == {"hidden": 16} and extra["records"] == r0["records"]
    for name, value in net.state_dict().items():  # the final, restored-best weights
        assert torch.equal(value, r0["state"][name])
    assert f"epoch {ddp_worker.EPOCHS}/{ddp_worker.EPOCHS}" in launched["stderr"][0]
    assert launched["stderr"][1] == ""  # rank 1 wrote nothing at all


def test_parameters_unfrozen_mid_run_are_averaged_too(launched: dict[str, Any]) -> None:
    """DDP fixes its parameters when built; fit rebuilds it when gradual unfreezing adds some."""
    r0, r1 = launched["ranks"]
    for name in r0["unfrozen_state"]:
        assert torch.equal(r0["unfrozen_state"][name], r1["unfrozen_state"][name]), name
    initial = ddp_worker.model().state_dict()["0.weight"]
    assert not torch.equal(r0["unfrozen_state"]["net.0.weight"], initial)  # it did train after step 3


def test_a_loader_too_short_for_every_rank_is_refused(launched: dict[str, Any]) -> None:
    message = launched["ranks"][0]["short_error"]
    assert "1 batch(es)" in message and "2 processes" in message and "batch_size" in message


@pytest.mark.parametrize("kind", ["dataloader", "length_buckets"])
def test_ranks_get_disjoint_shards_of_one_shuffled_order_whatever_their_random_state(kind: str) -> None:
    """Each rank keeps every 2nd batch of one order; their own generators (dropout) may differ."""
    n = 44  # 11 batches of 4: the 11th has no partner and is dropped
    if kind == "dataloader":
        loader = DataLoader(torch.arange(n), batch_size=4, shuffle=True)
        indices = lambda batch: batch.tolist()  # noqa: E731
    else:
        data = TokenizedDataset([[i] * (1 + i % 7) for i in range(n)], list(range(n)))
        loader = make_loader(data, batch_size=4, shuffle=True)
        indices = lambda batch: batch["labels"].tolist()  # noqa: E731
    shards = []
    for rank in (0, 1):
        torch.manual_seed(100 + rank)  # as if dropout had consumed each rank's generator differently
        shards.append([indices(b) for b in _shard(loader, _Launch(rank=rank, world=2, local_rank=rank), seed=7)])
    full = [indices(b) for b in _shard(loader, _Launch(rank=0, world=1, local_rank=0), seed=7)]
    assert len(shards[0]) == len(shards[1]) == 5
    assert shards[0] == full[0:10:2] and shards[1] == full[1:10:2]  # one order, interleaved
    seen = [i for shard in shards for batch in shard for i in batch]
    assert len(seen) == len(set(seen)) == 40
    assert full != [list(range(i, i + 4)) for i in range(0, n, 4)]  # it was shuffled
    assert indices(next(_shard(loader, _Launch(0, 2, 0), seed=8))) != shards[0][0]  # another epoch, another order


def test_steps_per_epoch_counts_global_steps_under_a_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    loader = DataLoader(range(50), batch_size=4)  # 13 batches
    assert steps_per_epoch(loader) == len(loader) == 13
    for key, value in {"RANK": "1", "WORLD_SIZE": "3", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}.items():
        monkeypatch.setenv(key, value)
    assert steps_per_epoch(loader) == 13 // 3


def test_clear_errors_with_a_process_group_the_caller_made(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in LAUNCH_ENV:
        monkeypatch.delenv(key, raising=False)
    X = torch.randn(32, 2)
    y = (X[:, 0] > 0).long()
    loader = DataLoader(TensorDataset(X, y), batch_size=8)
    net = nn.Linear(2, 2)
    kwargs: dict[str, Any] = dict(loss_fn=F.cross_entropy, device="cpu", progress=False)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    try:
        monkeypatch.setenv("WORLD_SIZE", "2")
        with pytest.raises(RuntimeError, match=r"WORLD_SIZE=2.*has 1 process.*world_size=int\(os.environ"):
            fit(net, loader, optimizer=torch.optim.SGD(net.parameters(), lr=0.1), **kwargs)
        monkeypatch.delenv("WORLD_SIZE")
        wrapped = nn.parallel.DistributedDataParallel(net)
        with pytest.raises(TypeError, match="already wrapped in DistributedDataParallel: pass the bare module"):
            fit(wrapped, loader, optimizer=torch.optim.SGD(net.parameters(), lr=0.1), **kwargs)
        history = fit(net, loader, optimizer=torch.optim.SGD(net.parameters(), lr=0.1), **kwargs)  # one process
        assert history.last["step"] == len(loader)
        assert dist.is_initialized()  # the caller's group is the caller's to destroy
    finally:
        dist.destroy_process_group()
