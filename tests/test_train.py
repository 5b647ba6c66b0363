"""Tests of tlnlp.train: the shared training/evaluation loop."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tlnlp.config import seed_everything
from tlnlp.train import History, NonFiniteLossError, accuracy, evaluate, fit

CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one intra-op thread is faster, and immune to a busy shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def blobs(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two well-separated Gaussian blobs in 2-D: a linearly separable problem."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    X = torch.randn(n, 2, generator=g) * 0.5 + (y.float() * 2 - 1).unsqueeze(1) * 3.0
    return X, y


def tuple_loader(X: torch.Tensor, y: torch.Tensor, batch_size: int = 16, shuffle: bool = False) -> DataLoader:
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=shuffle)


def test_tuple_batches_learn_a_separable_problem() -> None:
    X, y = blobs()
    seed_everything(0)
    model = nn.Linear(2, 2)
    loader = tuple_loader(X, y)
    history = fit(
        model, loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=15, eval_loader=loader,
        metrics={"accuracy": accuracy}, loss_fn=F.cross_entropy, device=CPU, progress=False, seed=0,
    )
    losses = [r["train_loss"] for r in history.records]
    assert losses[-1] < losses[0] / 2
    assert history.last["eval_accuracy"] == 1.0
    with torch.no_grad():  # the recorded numbers agree with a direct computation
        assert (model(X).argmax(1) == y).float().mean().item() == 1.0
        assert history.last["eval_loss"] == pytest.approx(F.cross_entropy(model(X), y).item(), rel=1e-5)
    assert len(history.step_losses) == 15 * len(loader) == history.last["step"]


def token_task(n: int = 64, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Label = which of two marker tokens follows [CLS]; the rest is noise."""
    g = torch.Generator().manual_seed(seed)
    examples = []
    for i in range(n):
        label = i % 2
        ids = torch.randint(5, 30, (8,), generator=g)
        ids[0], ids[1] = 1, 3 + label  # [CLS]-like id, then the marker
        examples.append({"input_ids": ids, "attention_mask": torch.ones(8, dtype=torch.long), "labels": torch.tensor(label)})
    return examples


def tiny_bert(num_labels: int = 2) -> nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16, num_labels=num_labels, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    return BertForSequenceClassification(config)


def test_dict_batches_train_a_tiny_hugging_face_classifier() -> None:
    seed_everything(0)
    model = tiny_bert()
    loader = DataLoader(token_task(), batch_size=16, shuffle=True)
    history = fit(
        model, loader, optimizer=torch.optim.Adam(model.parameters(), lr=1e-2), epochs=12, eval_loader=loader,
        metrics={"accuracy": accuracy}, device=CPU, progress=False, seed=0,
    )
    assert history.last["train_loss"] < history.records[0]["train_loss"] / 2
    assert history.last["eval_accuracy"] == 1.0
    assert set(history.last) >= {"epoch", "step", "train_loss", "eval_loss", "eval_accuracy", "seconds", "lr"}


class DictInputMLP(nn.Module):
    """A plain module that takes keyword tensors and returns logits (no loss, no .logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(2, 2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def test_dict_batch_with_a_plain_tensor_model_uses_loss_fn_on_the_labels() -> None:
    X, y = blobs()
    batches = [{"features": X[i : i + 16], "labels": y[i : i + 16]} for i in range(0, len(X), 16)]
    seed_everything(0)
    model = DictInputMLP()
    history = fit(
        model, batches, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=10, eval_loader=batches,
        metrics={"accuracy": accuracy}, loss_fn=F.cross_entropy, device=CPU, progress=False,
    )
    assert history.last["eval_accuracy"] == 1.0


class DropoutMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def run_seeded(seed: int) -> tuple[dict[str, torch.Tensor], History]:
    X, y = blobs(96)
    seed_everything(seed)  # the initialisation is the caller's to seed
    model = DropoutMLP()
    history = fit(
        model, tuple_loader(X, y, shuffle=True), optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
        epochs=3, loss_fn=F.cross_entropy, device=CPU, progress=False, seed=seed,
    )
    return model.state_dict(), history


def test_same_seed_gives_identical_runs_and_another_seed_differs() -> None:
    state_a, hist_a = run_seeded(1)
    state_b, hist_b = run_seeded(1)
    state_c, hist_c = run_seeded(2)
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert hist_a.step_losses == hist_b.step_losses
    assert [r["train_loss"] for r in hist_a.records] == [r["train_loss"] for r in hist_b.records]
    assert not all(torch.equal(state_a[k], state_c[k]) for k in state_a)
    assert hist_a.step_losses != hist_c.step_losses


def flipped_run(epochs: int, patience: int | None) -> tuple[nn.Module, History, DataLoader]:
    """Train on blobs, evaluate on the same points with flipped labels: eval loss rises every epoch."""
    X, y = blobs()
    train, flipped = tuple_loader(X, y, batch_size=64), tuple_loader(X, 1 - y, batch_size=64)
    seed_everything(0)
    model = nn.Linear(2, 2)
    history = fit(
        model, train, optimizer=torch.optim.SGD(model.parameters(), lr=0.05), epochs=epochs, eval_loader=flipped,
        loss_fn=F.cross_entropy, patience=patience, device=CPU, progress=False, seed=0,
    )
    return model, history, flipped


def test_early_stopping_stops_after_patience_and_restores_the_best_weights() -> None:
    model, history, flipped = flipped_run(epochs=20, patience=2)
    eval_losses = [r["eval_loss"] for r in history.records]
    assert eval_losses[0] < eval_losses[1] < eval_losses[2]  # the case really gets worse
    assert len(history.records) == 3 and history.stopped_early
    assert history.best_step == history.records[0]["step"] == history.best()["step"]
    after_one_epoch, _, _ = flipped_run(epochs=1, patience=None)  # an independent run to the best point
    for key, value in after_one_epoch.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    assert evaluate(model, flipped, loss_fn=F.cross_entropy, device=CPU)["loss"] == pytest.approx(eval_losses[0])


def test_without_restore_best_the_last_weights_stay() -> None:
    X, y = blobs()
    seed_everything(0)
    model = nn.Linear(2, 2)
    history = fit(
        model, tuple_loader(X, y, 64), optimizer=torch.optim.SGD(model.parameters(), lr=0.05), epochs=4,
        eval_loader=tuple_loader(X, 1 - y, 64), loss_fn=F.cross_entropy, restore_best=False,
        device=CPU, progress=False, seed=0,
    )
    assert history.best_step == 1 and not history.stopped_early
    final = evaluate(model, tuple_loader(X, 1 - y, 64), loss_fn=F.cross_entropy, device=CPU)["loss"]
    assert final == pytest.approx(history.last["eval_loss"])


@pytest.mark.parametrize(("max_steps", "epochs", "record_steps"), [(7, 5, [7]), (25, 1, [10, 20, 25])])
def test_max_steps_is_honoured(max_steps: int, epochs: int, record_steps: list[int]) -> None:
    X, y = blobs(40)
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)  # counts optimizer steps
    history = fit(
        model, tuple_loader(X, y, batch_size=4), optimizer=optimizer, scheduler=scheduler, epochs=epochs,
        max_steps=max_steps, loss_fn=F.cross_entropy, device=CPU, progress=False,
    )
    assert scheduler.last_epoch == max_steps == len(history.step_losses)
    assert [r["step"] for r in history.records] == record_steps


def test_eval_every_records_every_n_steps_and_the_last_step() -> None:
    X, y = blobs(40)
    model = nn.Linear(2, 2)
    loader = tuple_loader(X, y, batch_size=4)  # 10 steps per epoch
    history = fit(
        model, loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.01), epochs=2, eval_every=6,
        eval_loader=loader, loss_fn=F.cross_entropy, device=CPU, progress=False,
    )
    assert [r["step"] for r in history.records] == [6, 12, 18, 20]
    assert [r["epoch"] for r in history.records] == [1, 2, 2, 2]
    steps = [0, 6, 12, 18, 20]  # each train_loss is the mean of its own steps' losses
    for record, lo, hi in zip(history.records, steps, steps[1:]):
        assert record["train_loss"] == pytest.approx(sum(history.step_losses[lo:hi]) / (hi - lo))


def test_evaluate_leaves_each_module_in_the_mode_it_found() -> None:
    X, y = blobs(8)
    model = DropoutMLP()
    loader = tuple_loader(X, y)
    model.train()
    evaluate(model, loader, loss_fn=F.cross_entropy, device=CPU)
    assert all(m.training for m in model.modules())
    model.eval()
    evaluate(model, loader, loss_fn=F.cross_entropy, device=CPU)
    assert not any(m.training for m in model.modules())
    model.train()
    model.net[2].eval()  # a frozen dropout inside a training model stays frozen
    evaluate(model, loader, loss_fn=F.cross_entropy, device=CPU)
    assert model.training and not model.net[2].training


def test_evaluate_is_the_mean_over_examples_with_uneven_batches() -> None:
    X, y = blobs(10)
    model = nn.Linear(2, 2)
    scores = evaluate(
        model, tuple_loader(X, y, batch_size=3), metrics={"accuracy": accuracy}, loss_fn=F.cross_entropy, device=CPU
    )
    with torch.no_grad():
        logits = model(X)
    assert scores["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
    assert scores["accuracy"] == pytest.approx((logits.argmax(1) == y).double().mean().item())


def test_token_level_metrics_flatten_positions_and_skip_ignored_targets() -> None:
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [5.0, 0.0]], [[0.0, 3.0], [1.0, 0.0], [0.0, 1.0]]])
    targets = torch.tensor([[0, 0, -100], [1, 1, -100]])  # 2 of 4 counted positions are right
    batches = [(logits[:1], targets[:1]), (logits[1:], targets[1:])]
    assert evaluate(nn.Identity(), batches, metrics={"accuracy": accuracy}, device=CPU) == {"accuracy": 0.5}
    assert accuracy(torch.tensor([0.3, -2.0, 1.0]), torch.tensor([1, 1, 1])) == pytest.approx(2 / 3)  # binary scores


def test_grad_clip_bounds_the_update() -> None:
    X, y = blobs(16)
    model = nn.Linear(2, 2)
    before = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
    fit(
        model, tuple_loader(X, y, batch_size=16), optimizer=torch.optim.SGD(model.parameters(), lr=1.0),
        max_steps=1, grad_clip=0.01, loss_fn=F.cross_entropy, device=CPU, progress=False,
    )
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert 0 < torch.linalg.vector_norm(after - before).item() <= 0.01 + 1e-6  # SGD step = lr * clipped grad


def test_history_api() -> None:
    history = History(
        records=[
            {"epoch": 1, "step": 5, "train_loss": 0.9, "eval_loss": 0.8, "eval_accuracy": 0.6, "seconds": 1.0},
            {"epoch": 2, "step": 10, "train_loss": 0.5, "eval_loss": 0.7, "eval_accuracy": 0.8, "seconds": 1.0},
            {"epoch": 3, "step": 15, "train_loss": 0.3, "eval_loss": 0.75, "eval_accuracy": 0.7, "seconds": 1.0},
        ]
    )
    assert history.best()["epoch"] == 2 == history.best("eval_accuracy")["epoch"]
    assert history.best("train_loss")["epoch"] == 3 and history.last["step"] == 15
    frame = history.to_frame()
    assert frame.shape == (3, 6) and frame["eval_loss"].tolist() == [0.8, 0.7, 0.75]
    text = repr(history)
    assert "\n" not in text and len(text) < 200 and "eval_accuracy=0.7" in text
    with pytest.raises(KeyError, match="eval_f1"):
        history.best("eval_f1")


def test_clear_errors_for_misuse() -> None:
    X, y = blobs(8)
    model = nn.Linear(2, 2)
    loader = tuple_loader(X, y)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="loss_fn"):
        fit(model, loader, optimizer=sgd, device=CPU, progress=False)
    with pytest.raises(ValueError, match="eval_loader"):
        fit(model, loader, optimizer=sgd, loss_fn=F.cross_entropy, patience=2, device=CPU, progress=False)
    with pytest.raises(ValueError, match="fp16.*CUDA"):
        fit(model, loader, optimizer=sgd, loss_fn=F.cross_entropy, amp="fp16", device=CPU, progress=False)
    with pytest.raises(TypeError, match="dict of tensors or a tuple"):
        fit(model, [X], optimizer=sgd, loss_fn=F.cross_entropy, device=CPU, progress=False)


def test_amp_auto_picks_bf16_on_ampere_fp16_on_older_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    from tlnlp.precision import requested_dtype

    monkeypatch.delenv("TLNLP_AMP", raising=False)
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))  # T4
    assert requested_dtype("auto", cuda) == torch.float16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))  # A100
    assert requested_dtype("auto", cuda) == torch.bfloat16 == requested_dtype(True, cuda)
    assert requested_dtype("fp16", cuda) == torch.float16 and requested_dtype("off", cuda) is None
    assert requested_dtype(False, CPU) is None


# --- no silent wrong result (issue 13) -------------------------------------------------------


def nan_at(step: int):
    """A loss_fn that returns NaN at the given 1-based call and cross-entropy otherwise."""
    calls = {"n": 0}

    def loss_fn(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        loss = F.cross_entropy(logits, targets)
        return loss * float("nan") if calls["n"] == step else loss

    return loss_fn


def test_a_nan_loss_stops_fit_before_the_weights_change_and_keeps_the_history() -> None:
    X, y = blobs(64)
    torch.manual_seed(0)
    model = nn.Linear(2, 2)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    reference = nn.Linear(2, 2)
    reference.load_state_dict(model.state_dict())
    with pytest.raises(NonFiniteLossError, match=r"nan at step 3 \(epoch 1\).*weights are those after step 2.*grad_clip") as err:
        fit(model, tuple_loader(X, y), optimizer=sgd, loss_fn=nan_at(3), device=CPU, progress=False, epochs=2)
    assert err.value.step == 3
    assert len(err.value.history.step_losses) == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    # the weights are exactly those of two clean steps of the same run
    ref_sgd = torch.optim.SGD(reference.parameters(), lr=0.1)
    for xb, yb in list(tuple_loader(X, y))[:2]:
        ref_sgd.zero_grad()
        F.cross_entropy(reference(xb), yb).backward()
        ref_sgd.step()
    for p, q in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)


def test_a_divergent_learning_rate_is_reported_not_trained_through() -> None:
    X, y = blobs(64)
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.mul_(1e30)
    sgd = torch.optim.SGD(model.parameters(), lr=1e30)
    with pytest.raises(NonFiniteLossError, match="learning rate too high"):
        fit(model, tuple_loader(X * 1e30, y), optimizer=sgd, loss_fn=F.cross_entropy, device=CPU, progress=False, epochs=5)


def test_a_nan_eval_record_is_never_kept_as_the_best(recwarn: pytest.WarningsRecorder) -> None:
    X, y = blobs(64)
    model = nn.Linear(2, 2)
    calls = {"n": 0}

    def eval_nan_first(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = F.cross_entropy(logits, targets)
        if not torch.is_grad_enabled():  # evaluation: NaN in the first evaluation only
            calls["n"] += 1
            if calls["n"] <= 4:  # the 4 eval batches of the first record
                return loss * float("nan")
        return loss

    h = fit(model, tuple_loader(X, y), optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=eval_nan_first,
            eval_loader=tuple_loader(X, y), device=CPU, progress=False, epochs=3)
    assert h.records[0]["eval_loss"] != h.records[0]["eval_loss"]  # NaN
    assert h.best_step == h.records[2]["step"] or h.best_step == h.records[1]["step"]
    assert any("eval_loss is nan" in str(w.message) for w in recwarn)


def test_an_empty_loader_gets_a_clear_error_not_a_zero_division() -> None:
    model = nn.Linear(2, 2)
    empty = DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), batch_size=4)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    for kwargs in ({}, {"max_steps": 3}, {"eval_every": 2}):
        with pytest.raises(ValueError, match="train_loader yielded no batches.*empty.*batch_size"):
            fit(model, empty, optimizer=sgd, loss_fn=F.cross_entropy, device=CPU, progress=False, **kwargs)


def test_an_optimizer_of_another_model_or_of_frozen_weights_is_refused() -> None:
    X, y = blobs(16)
    model, other = nn.Linear(2, 2), nn.Linear(2, 2)
    with pytest.raises(ValueError, match="holds none of the model's parameters.*configure"):
        fit(model, tuple_loader(X, y), optimizer=torch.optim.SGD(other.parameters(), lr=0.1),
            loss_fn=F.cross_entropy, device=CPU, progress=False)
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="frozen.*unfreeze"):
        fit(frozen, tuple_loader(X, y), optimizer=torch.optim.SGD(frozen.parameters(), lr=0.1),
            loss_fn=F.cross_entropy, device=CPU, progress=False)
    with pytest.raises(TypeError, match="torch.optim.Optimizer, got list"):
        fit(model, tuple_loader(X, y), optimizer=list(model.parameters()), loss_fn=F.cross_entropy, device=CPU, progress=False)


def test_misnamed_monitor_and_bad_grad_clip_and_unreduced_loss_are_refused() -> None:
    X, y = blobs(16)
    model = nn.Linear(2, 2)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(KeyError, match="'eval_acc' is not recorded.*eval_accuracy"):
        fit(model, tuple_loader(X, y), optimizer=sgd, loss_fn=F.cross_entropy, eval_loader=tuple_loader(X, y),
            metrics={"accuracy": accuracy}, monitor="eval_acc", device=CPU, progress=False)
    with pytest.raises(ValueError, match="grad_clip must be > 0.*got 0"):
        fit(model, tuple_loader(X, y), optimizer=sgd, loss_fn=F.cross_entropy, grad_clip=0, device=CPU, progress=False)
    with pytest.raises(ValueError, match=r"one number.*shape \(16,\).*reduction='mean'"):
        fit(model, tuple_loader(X, y), optimizer=sgd, loss_fn=lambda a, b: F.cross_entropy(a, b, reduction="none"),
            device=CPU, progress=False)


def test_flush_catches_a_nan_where_steps_are_not_checked_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """On accelerators the loss stays on the device between flushes: the flush must still stop fit."""
    import tlnlp.train as train

    real = train._train_step
    monkeypatch.setattr(train, "_train_step", lambda *a: real(*a[:-1], False))  # as on CUDA: no per-step check
    X, y = blobs(64)
    model = nn.Linear(2, 2)
    with pytest.raises(NonFiniteLossError, match="nan at step 2; the weights were updated with it") as err:
        fit(model, tuple_loader(X, y), optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=nan_at(2),
            device=CPU, progress=False)
    assert err.value.step == 2
