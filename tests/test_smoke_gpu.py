"""The gpu path's machinery: smoke mode of the presets, the hub mirror ($TLNLP_MODEL_DIR), the stand-ins."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from tlnlp.config import Preset, PresetError, preset, smoke_mode
from tlnlp.models import GPT, ModelNotAvailableError, hub_source, load_encoder

STANDINS = Path(__file__).with_name("standins.py")


def _standins():
    spec = importlib.util.spec_from_file_location("standins", STANDINS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_pick_takes_names_from_the_preset_and_sizes_from_ci() -> None:
    p = Preset("gpu", smoke=True)
    assert p.pick(ci="minilm", cpu="minilm", gpu="bert-base-uncased") == "bert-base-uncased"
    assert p.pick(ci=16, cpu=64, gpu=4_096) == 16
    assert p.pick(ci=128, cpu=None, gpu=None) == 128  # None means "all": a size, so ci's
    assert p.pick(ci=[0, 1], cpu=list(range(10)), gpu=list(range(10))) == [0, 1]
    sizes = p.pick(ci=dict(sources=("a",), steps=20), cpu=dict(sources=("a", "b"), steps=450),
                   gpu=dict(sources=("a", "b", "c"), steps=4_000, extra=1))
    assert sizes == dict(sources=("a", "b", "c"), steps=20, extra=1)
    assert p.is_small and p.name == "gpu"


def test_without_smoke_pick_is_unchanged() -> None:
    assert Preset("gpu").pick(ci=16, cpu=64, gpu=4_096) == 4_096
    assert not Preset("gpu").is_small


def test_smoke_switch_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TLNLP_PRESET", "gpu")
    monkeypatch.setenv("TLNLP_SMOKE", "1")
    assert preset() == Preset("gpu", smoke=True)
    monkeypatch.setenv("TLNLP_SMOKE", "0")
    assert not smoke_mode()
    monkeypatch.setenv("TLNLP_SMOKE", "maybe")
    with pytest.raises(PresetError, match="TLNLP_SMOKE"):
        smoke_mode()


def test_hub_source_is_the_hub_id_without_a_mirror(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TLNLP_MODEL_DIR", raising=False)
    assert hub_source("bert-base-uncased") == "bert-base-uncased"


def test_a_missing_stand_in_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TLNLP_MODEL_DIR", str(tmp_path))
    with pytest.raises(ModelNotAvailableError, match=r"'bert-base-uncased'.*TLNLP_MODEL_DIR"):
        load_encoder("bert-base-uncased")
    with pytest.raises(ModelNotAvailableError, match=r"'gpt2'.*TLNLP_MODEL_DIR"):
        GPT.from_pretrained("gpt2")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    module = _standins()
    module.write_gpt2(folder / "gpt2", "the cat sat on the mat\n" * 50 + "a dog ran in the park\n" * 50, vocab_size=300)
    module.write_bert(folder / "bert-base-uncased")
    return folder


def test_gpt2_stand_in_loads_into_our_gpt_and_matches_transformers(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoTokenizer, GPT2LMHeadModel

    monkeypatch.setenv("TLNLP_MODEL_DIR", str(model_dir))
    assert hub_source("gpt2") == str(model_dir / "gpt2")
    ours = GPT.from_pretrained("gpt2").eval()
    theirs = GPT2LMHeadModel.from_pretrained(hub_source("gpt2"), use_safetensors=True).eval()
    tok = AutoTokenizer.from_pretrained(hub_source("gpt2"))
    ids = torch.tensor([tok.encode("the cat ran in the park")])
    assert tok.decode(ids[0].tolist()) == "the cat ran in the park"  # byte-level BPE round-trips
    with torch.no_grad():
        assert torch.allclose(ours(ids).logits, theirs(ids).logits, atol=1e-5)
    assert theirs.config.n_positions == 1024  # the chapter's strided perplexity uses 1,024-token windows


def test_bert_stand_in_has_bert_base_vocabulary_and_both_heads(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoTokenizer, BertForMaskedLM, BertForNextSentencePrediction

    monkeypatch.setenv("TLNLP_MODEL_DIR", str(model_dir))
    source = hub_source("bert-base-uncased")
    tok = AutoTokenizer.from_pretrained(source)
    assert len(tok) == 30_522 and tok.convert_tokens_to_ids("[MASK]") == 103  # bert-base-uncased's ids
    inputs = tok("a [MASK] sentence", "and another one", return_tensors="pt")
    assert BertForMaskedLM.from_pretrained(source)(**inputs).logits.shape[-1] == 30_522
    assert BertForNextSentencePrediction.from_pretrained(source)(**inputs).logits.shape == (1, 2)
    encoder = load_encoder("bert-base-uncased")  # chapters 6-9 at gpu
    assert encoder.encode(["hello world"]).shape[0] == 1


def test_a_missing_data_stand_in_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tlnlp.data import DataNotFoundError, load_wikitext2

    (tmp_path / "mirror" / "wikitext2").mkdir(parents=True)
    monkeypatch.setenv("TLNLP_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TLNLP_OFFLINE", "1")
    with pytest.raises(DataNotFoundError, match=r"wikitext2.*train\.txt|train\.txt.*wikitext2"):
        load_wikitext2("train")


@pytest.fixture
def standin_mirror(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The data mirror tests/standins.py writes from $TLNLP_DATA_DIR, made the active mirror (offline)."""
    import os

    source = Path(os.environ.get("TLNLP_DATA_DIR", ""))
    if not (source / "wikitext2" / "valid.txt").is_file():
        pytest.skip("needs the data mirror (TLNLP_DATA_DIR)")
    _standins().write_data(tmp_path / "mirror", source)
    monkeypatch.setenv("TLNLP_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TLNLP_OFFLINE", "1")
    return source


def test_data_stand_in_passes_the_registry_checks(standin_mirror: Path) -> None:
    from tlnlp.data import load_wikitext2

    source = standin_mirror
    assert load_wikitext2("train").startswith(" \n = Valkyria Chronicles III = \n")
    assert load_wikitext2("valid") == (source / "wikitext2" / "valid.txt").read_text(encoding="utf-8")


def _text8_standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import zipfile

    folder = tmp_path / "mirror" / "text8"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "text8.zip", "w") as archive:
        archive.writestr("text8", " the cat sat on the mat")
    (folder / "text8.zip.standin").write_text("stand-in\n")
    monkeypatch.setenv("TLNLP_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TLNLP_OFFLINE", "1")
    return folder


def test_a_marked_stand_in_is_taken_in_smoke_mode_with_a_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tlnlp.data import general_english_sentences, load_text8

    _text8_standin(tmp_path, monkeypatch)
    monkeypatch.setenv("TLNLP_SMOKE", "1")
    with pytest.warns(UserWarning, match=r"smoke mode: .*text8\.zip is a stand-in"):
        assert load_text8() == " the cat sat on the mat"
    assert general_english_sentences("text8") == [["the", "cat", "sat", "on", "the", "mat"]]


def test_a_stand_in_marker_changes_nothing_outside_smoke_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tlnlp.data import ChecksumError, load_text8

    _text8_standin(tmp_path, monkeypatch)
    monkeypatch.delenv("TLNLP_SMOKE", raising=False)
    with pytest.raises(ChecksumError, match=r"31,344,016 bytes"):
        load_text8()


def test_a_missing_text8_stand_in_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tlnlp.data import DataNotFoundError, load_text8

    folder = _text8_standin(tmp_path, monkeypatch)
    (folder / "text8.zip").unlink()
    monkeypatch.setenv("TLNLP_SMOKE", "1")
    with pytest.raises(DataNotFoundError, match=r"text8\.zip"):
        load_text8()


def test_standins_write_a_marked_text8(standin_mirror: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tlnlp.data import load_text8

    monkeypatch.setenv("TLNLP_SMOKE", "1")
    with pytest.warns(UserWarning, match="stand-in"):
        words = load_text8().split()
    assert len(words) > 100_000 and all(w.isalpha() and w.islower() for w in words[:1_000])
