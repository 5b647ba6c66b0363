"""Presets, seeding and the cache directory."""

import random

import numpy as np
import pytest
import torch

from tlnlp import config
from tlnlp.config import PRESETS, Preset, PresetError, cache_dir, preset, preset_name, seed_everything


def test_env_var_selects_preset(monkeypatch):
    for name in PRESETS:
        monkeypatch.setenv("TLNLP_PRESET", name.upper())  # case-insensitive
        assert preset().name == name


def test_unknown_preset_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TLNLP_PRESET", "laptop")
    with pytest.raises(PresetError) as err:
        preset()
    message = str(err.value)
    assert "'laptop'" in message and all(name in message for name in PRESETS)


def test_auto_preset_follows_cuda(monkeypatch):
    monkeypatch.delenv("TLNLP_PRESET", raising=False)
    monkeypatch.setattr(config, "_cuda_available", lambda: True)
    assert preset_name() == "gpu"
    monkeypatch.setattr(config, "_cuda_available", lambda: False)
    assert preset_name() == "cpu"


def test_pick_returns_the_active_presets_value():
    assert Preset("ci").pick(ci=1, cpu=2, gpu=3) == 1
    assert Preset("gpu").pick(ci=1, cpu=2, gpu=3) == 3


def test_pick_missing_or_misspelt_preset_is_an_error():
    with pytest.raises(PresetError, match="no value for the active preset 'gpu'"):
        Preset("gpu").pick(ci=1, cpu=2)
    with pytest.raises(PresetError, match="unknown preset"):
        Preset("cpu").pick(ci=1, cpu=2, gpus=3)
    with pytest.raises(PresetError):
        Preset("tiny")


def test_seed_everything_makes_all_generators_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    seed_everything(7)
    a = draw()
    seed_everything(7)
    b = draw()
    seed_everything(8)
    c = draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    assert a[0] != c[0] and not torch.equal(a[2], c[2])


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True, np.bool_(False), 2**32, None])
def test_seed_everything_rejects_bad_seeds_before_touching_any_generator(bad):
    random.seed(123)
    expected = random.Random(123).random()
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*32\), got"):
        seed_everything(bad)
    assert random.random() == expected  # Python's generator was not reseeded by the refused call


def test_seed_everything_accepts_numpy_integers_as_their_value():
    seed_everything(np.int64(5))
    a = np.random.rand(), torch.rand(1)
    seed_everything(5)
    assert a[0] == np.random.rand() and torch.equal(a[1], torch.rand(1))
    seed_everything(2**32 - 1)  # the largest seed NumPy takes


def test_cache_dir_honours_env_and_creates(monkeypatch, tmp_path):
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path / "c"))
    path = cache_dir("data", "sst2")
    assert path == tmp_path / "c" / "data" / "sst2" and path.is_dir()


def test_device_can_be_forced(monkeypatch):
    monkeypatch.setenv("TLNLP_DEVICE", "cpu")
    assert config.device().type == "cpu"


@pytest.mark.parametrize("value", ["gpu", "cuda0", "tpu"])
def test_an_unknown_device_names_the_variable_and_the_valid_values(monkeypatch, value):
    monkeypatch.setenv("TLNLP_DEVICE", value)
    with pytest.raises(ValueError, match=rf"\$TLNLP_DEVICE='{value}' is not a device torch knows: use cpu, cuda"):
        config.device()


def test_a_device_this_machine_lacks_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("TLNLP_DEVICE", "cuda")
    with pytest.raises(ValueError, match="TLNLP_DEVICE='cuda' but this machine has no cuda device: unset"):
        config.device()
