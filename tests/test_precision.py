"""Precision that fits the machine (issue 14): the choice of bf16 or fp32 is honoured, checked, cached
and harmless. No test times anything: the probe's measurement is replaced where a decision matters."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tlnlp import precision
from tlnlp.adaptation import GradientReversal
from tlnlp.config import Preset, seed_everything
from tlnlp.train import accuracy, evaluate, fit

CPU = torch.device("cpu")
needs_bf16_kernels = pytest.mark.skipif(not precision.cpu_bf16_kernels(), reason="this CPU has no native bf16 kernels")


@pytest.fixture(autouse=True)
def fresh_decisions(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Every test starts with no cached decision, an empty cache folder and TLNLP_AMP unset."""
    monkeypatch.setattr(precision, "_decisions", {})
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(precision.AMP_ENV, raising=False)


class DtypeSpy(nn.Module):
    """A small MLP that remembers the dtype its first layer computed in (bf16 under autocast)."""

    def __init__(self, d_in: int = 16, width: int = 64, classes: int = 3) -> None:
        super().__init__()
        self.hidden = nn.Linear(d_in, width)
        self.out = nn.Linear(width, classes)
        self.seen: list[torch.dtype] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hidden(x)
        self.seen.append(h.dtype)
        return self.out(torch.relu(h))


def noisy_task(n: int, seed: int, d_in: int = 16, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlapping Gaussian classes: an MLP reaches well under 100 %, so precision could show."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d_in, generator=torch.Generator().manual_seed(1234)) * 0.6
    y = torch.arange(n) % classes
    return centres[y] + torch.randn(n, d_in, generator=g), y


def loader(X: torch.Tensor, y: torch.Tensor, shuffle: bool = False) -> DataLoader:
    return DataLoader(TensorDataset(X, y), batch_size=32, shuffle=shuffle)


def train(model: nn.Module, amp: object = "auto", seed: int = 0, epochs: int = 1):
    X, y = noisy_task(256, seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    return fit(model, loader(X, y, shuffle=True), optimizer=opt, loss_fn=F.cross_entropy, epochs=epochs,
               device=CPU, progress=False, seed=seed, amp=amp)


def no_probe(*args, **kwargs):
    raise AssertionError("the probe ran where the setting decides without measuring")


# --- the setting and its errors ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["fast", "fp16", "on", "1"])
def test_an_unknown_TLNLP_AMP_is_an_error_naming_the_variable_and_the_valid_values(monkeypatch, value) -> None:
    monkeypatch.setenv("TLNLP_AMP", value)
    for call in (precision.amp_setting, lambda: Preset("ci").describe(), lambda: train(DtypeSpy())):
        with pytest.raises(precision.PrecisionError) as err:
            call()
        assert "TLNLP_AMP" in str(err.value) and repr(value) in str(err.value)
        assert all(v in str(err.value) for v in ("auto", "bf16", "off"))


@pytest.mark.parametrize("value, expected", [("OFF", "off"), (" bf16 ", "bf16"), ("auto", "auto"), ("", "auto")])
def test_TLNLP_AMP_is_read_case_and_space_insensitively(monkeypatch, value, expected) -> None:
    monkeypatch.setenv("TLNLP_AMP", value)
    assert precision.amp_setting() == expected


def test_a_bad_amp_argument_is_an_error_naming_the_valid_values() -> None:
    with pytest.raises(precision.PrecisionError, match="'auto', 'bf16', 'fp16' or 'off'"):
        train(DtypeSpy(), amp="half")


def test_a_machine_without_bf16_kernels_runs_fp32_and_refuses_bf16_clearly(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: False)
    monkeypatch.setattr(precision, "probe_speedup", no_probe)
    model = DtypeSpy()
    history = train(model)  # auto: fp32, without a probe
    assert history.precision == "fp32" and set(model.seen) == {torch.float32}
    with pytest.raises(precision.PrecisionError, match="no native bf16 kernels"):
        train(DtypeSpy(), amp="bf16")
    monkeypatch.setenv("TLNLP_AMP", "bf16")
    with pytest.raises(precision.PrecisionError, match=r"\$TLNLP_AMP=bf16.*valid values: auto, bf16, off"):
        train(DtypeSpy())
    assert "no native bf16 kernels" in precision.describe(CPU)


def test_TLNLP_AMP_off_forces_fp32_exactly_as_before_without_probing(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: True)  # even where bf16 would pay
    monkeypatch.setattr(precision, "probe_speedup", no_probe)
    monkeypatch.setenv("TLNLP_AMP", "off")
    torch.manual_seed(0)
    forced = DtypeSpy()
    torch.manual_seed(0)
    plain = DtypeSpy()
    h_forced, h_plain = train(forced), train(plain, amp="off")
    assert h_forced.precision == h_plain.precision == "fp32" and set(forced.seen) == {torch.float32}
    assert h_forced.step_losses == h_plain.step_losses  # bit for bit the fp32 run
    assert "fp32 everywhere" in Preset("ci").describe()


def test_an_explicit_amp_argument_wins_over_the_variable(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: True)
    monkeypatch.setenv("TLNLP_AMP", "bf16")
    model = DtypeSpy()
    assert train(model, amp="off").precision == "fp32" and set(model.seen) == {torch.float32}


# --- the decision is honoured and cached ---------------------------------------------------------


@pytest.mark.parametrize("speedup, expected", [(2.0, torch.bfloat16), (1.0, torch.float32), (precision.MIN_SPEEDUP - 0.01, torch.float32)])
def test_auto_follows_the_probe_in_training_and_evaluation(monkeypatch, speedup, expected) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: True)
    monkeypatch.setattr(precision, "probe_speedup", lambda run, **kw: speedup)
    model = DtypeSpy()
    history = train(model)
    assert history.precision == {torch.bfloat16: "bf16", torch.float32: "fp32"}[expected]
    assert set(model.seen) == {expected}
    model.seen.clear()
    X, y = noisy_task(64, seed=5)
    evaluate(model, loader(X, y), metrics={"accuracy": accuracy}, loss_fn=F.cross_entropy, device=CPU)
    assert set(model.seen) == {expected}


def test_a_decision_is_measured_once_then_read_from_memory_and_from_disk(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: True)
    calls: list[int] = []
    monkeypatch.setattr(precision, "probe_speedup", lambda run, **kw: calls.append(1) or 3.0)
    train(DtypeSpy(), seed=0)
    train(DtypeSpy(), seed=1)  # same model shape: the same key
    assert len(calls) == 1
    monkeypatch.setattr(precision, "_decisions", {})  # a new process on the same machine
    assert train(DtypeSpy(), seed=2).precision == "bf16" and len(calls) == 1
    train(DtypeSpy(width=256), seed=0)  # another model size: measured anew
    assert len(calls) == 2


def test_a_corrupt_decisions_file_is_measured_again_and_rewritten(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: True)
    monkeypatch.setattr(precision, "probe_speedup", lambda run, **kw: 3.0)
    path = precision._disk_path()
    path.write_text("{not json", encoding="utf-8")
    assert train(DtypeSpy()).precision == "bf16"
    assert any(v == {"bf16": True, "speedup": 3.0} for v in __import__("json").loads(path.read_text()).values())


def test_the_probe_leaves_the_model_its_ramp_and_the_seeds_as_they_were(monkeypatch) -> None:
    """A real probe (real timings, whatever they say) on a model whose reversal layer counts its steps."""
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: True)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.Dropout(0.5), GradientReversal(max_steps=100), nn.Linear(32, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    X, y = noisy_task(32, seed=0)
    from tlnlp.train import _probe

    torch.manual_seed(7)
    np.random.seed(7)
    expected = torch.rand(3), np.random.rand(3)
    torch.manual_seed(7)
    np.random.seed(7)
    _probe(model, (X, y), F.cross_entropy, CPU, train=True)
    assert torch.equal(torch.rand(3), expected[0]) and np.array_equal(np.random.rand(3), expected[1])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert model[2].steps == 0  # the ramp did not advance


def test_describe_names_the_preset_the_device_the_policy_and_the_cpu(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: True)
    line = Preset("cpu").describe()
    assert line.startswith("preset: cpu, device: cpu") and "TLNLP_AMP=auto" in line
    assert f">= {precision.MIN_SPEEDUP}x faster" in line and precision.cpu_name() in line


def test_shape_keys_separate_what_trains_but_not_the_batch_size() -> None:
    model = DtypeSpy()
    key = precision.shape_key("train", model)
    assert precision.shape_key("eval", model) != key
    for p in model.hidden.parameters():
        p.requires_grad_(False)
    assert precision.shape_key("train", model) != key


def test_one_model_keeps_one_precision_whatever_its_later_batches(monkeypatch) -> None:
    """Runs over seeds stay comparable: the first batch decides, for every batch after it."""
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: True)
    speedups = iter([2.0, 1.0])  # a second probe would say fp32
    monkeypatch.setattr(precision, "probe_speedup", lambda run, **kw: next(speedups))
    model = DtypeSpy()
    X, y = noisy_task(256, seed=0)
    sizes = DataLoader(TensorDataset(X, y), batch_sampler=[list(range(0, 4)), list(range(4, 132)), list(range(132, 256))])
    history = fit(model, sizes, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=F.cross_entropy,
                  device=CPU, progress=False)
    assert history.precision == "bf16" and set(model.seen) == {torch.bfloat16}
    assert train(DtypeSpy(), seed=1).precision == "bf16"  # the same shape: the cached decision, no second probe


# --- bf16 is harmless where it is chosen -------------------------------------------------------------


@needs_bf16_kernels
def test_bf16_training_reaches_fp32_accuracy_within_seed_noise() -> None:
    """Five seeds in each precision on a task an MLP cannot solve perfectly: the means agree
    within three standard errors of their difference (or 2 points, whichever is larger)."""
    scores: dict[str, list[float]] = {"off": [], "bf16": []}
    X_test, y_test = noisy_task(600, seed=99)
    for amp in scores:
        for seed in range(5):
            torch.manual_seed(seed)
            model = DtypeSpy(width=128)
            assert train(model, amp=amp, seed=seed, epochs=8).precision == {"off": "fp32", "bf16": "bf16"}[amp]
            scores[amp].append(evaluate(model, loader(X_test, y_test), metrics={"accuracy": accuracy}, device=CPU, amp="off")["accuracy"])
    fp32, bf16 = statistics.mean(scores["off"]), statistics.mean(scores["bf16"])
    assert 0.5 < fp32 < 0.97  # a task where precision could matter
    se = (statistics.variance(scores["off"]) / 5 + statistics.variance(scores["bf16"]) / 5) ** 0.5
    assert abs(bf16 - fp32) <= max(3 * se, 0.02), (scores, se)


@needs_bf16_kernels
def test_bf16_autocast_on_cpu_changes_a_linear_layer_by_about_bf16_rounding() -> None:
    """An independent check that autocast really computes in bf16: the error is of bf16's size
    (8 bits of mantissa), not zero (fp32) and not garbage."""
    torch.manual_seed(0)
    layer = nn.Linear(256, 256)
    x = torch.randn(64, 256)
    exact = layer(x.double().float())
    with precision.autocast(CPU, torch.bfloat16):
        low = layer(x)
    assert low.dtype == torch.bfloat16
    rel = float((low.float() - exact).norm() / exact.norm())
    assert 1e-4 < rel < 2e-2


def test_the_probe_does_not_call_the_users_own_hooks(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: True)
    model = DtypeSpy()
    calls: list[int] = []
    model.hidden.register_forward_hook(lambda module, args, out: calls.append(1))
    history = train(model)  # 256 rows in batches of 32: 8 forward passes, and the probe's, unseen
    assert len(calls) == 8 and history.precision in ("bf16", "fp32")


def test_the_probe_drops_bookkeeping_hooks_from_its_copy() -> None:
    model = DtypeSpy()
    model.register_forward_hook(lambda module, args, out: None)
    model.hidden.register_forward_pre_hook(lambda module, args: None)
    (copied,) = precision.throwaway_copy(model)
    assert not copied._forward_hooks and not copied.hidden._forward_pre_hooks
    assert model._forward_hooks and model.hidden._forward_pre_hooks  # the original keeps its own
    x = torch.randn(4, 16)
    assert torch.equal(copied(x), model(x))


def test_a_model_that_cannot_be_copied_trains_in_fp32_with_a_warning(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: True)
    model = DtypeSpy()
    model.out = torch.nn.utils.weight_norm(model.out)  # its computed weight defeats deepcopy
    with pytest.warns(UserWarning, match="cannot copy DtypeSpy to probe bf16.*amp='bf16'"):
        history = train(model)
    assert history.precision == "fp32" and set(model.seen) == {torch.float32}


# --- Encoder.encode ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm():
    from tlnlp.models import load_encoder

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return load_encoder("minilm", device="cpu")


SENTENCES = ["a gripping, beautifully shot film", "the plot never comes together", "an utterly forgettable sequel",
             "warm, funny and wise", "i would not watch it again", "one of the year's best"]


def _encode_dtypes(monkeypatch, minilm, **kwargs) -> tuple[np.ndarray, set]:
    seen: set = set()
    real = precision.autocast
    monkeypatch.setattr(precision, "autocast", lambda device, dtype: seen.add(dtype) or real(device, dtype))
    return minilm.encode(SENTENCES, progress=False, **kwargs), seen


def test_encode_follows_the_setting_and_bf16_rows_match_fp32(monkeypatch, minilm) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: True)
    fp32, seen = _encode_dtypes(monkeypatch, minilm, amp="off")
    assert seen == {None}
    monkeypatch.setenv("TLNLP_AMP", "off")
    again, seen = _encode_dtypes(monkeypatch, minilm)
    assert seen == {None} and np.array_equal(again, fp32)  # TLNLP_AMP=off: bit for bit as before
    monkeypatch.setenv("TLNLP_AMP", "auto")
    monkeypatch.setattr(precision, "probe_speedup", lambda run, **kw: 2.0)
    bf16, seen = _encode_dtypes(monkeypatch, minilm)
    assert torch.bfloat16 in seen and bf16.dtype == np.float32
    cos = (bf16 * fp32).sum(1) / np.linalg.norm(bf16, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cos.min() > 0.995 and not np.array_equal(bf16, fp32)  # bf16 rounding, not another model


def test_matmul_peak_is_a_positive_rate_and_needs_linear_layers() -> None:
    assert precision.matmul_peak(nn.Sequential(nn.Linear(32, 48), nn.ReLU(), nn.Linear(48, 8)), rows=32, repeats=1) > 0
    with pytest.raises(ValueError, match="no nn.Linear"):
        precision.matmul_peak(nn.ReLU(), rows=8)


def test_the_encode_probe_runs_on_a_copy_unseen_by_the_users_hooks(monkeypatch, minilm) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: True)
    probed: list[int] = []

    def measured(run, **kw):  # the real passes of the probe, without timing them
        run(None), run(torch.bfloat16)
        probed.append(1)
        return 2.0

    monkeypatch.setattr(precision, "probe_speedup", measured)
    calls: list[int] = []
    handle = minilm.model.register_forward_hook(lambda module, args, out: calls.append(1))
    try:
        minilm.encode(SENTENCES, batch_size=4, progress=False)  # 6 sentences: 2 batches
    finally:
        handle.remove()
    assert probed == [1] and len(calls) == 2


def test_decisions_are_keyed_by_the_instruction_set_not_only_the_cpu_name(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: True)
    with_bf16 = precision._machine()
    monkeypatch.setattr(precision, "cpu_bf16_kernels", lambda: False)
    assert precision._machine() != with_bf16 and precision.cpu_name() in with_bf16
