"""Reliability of model loading (issue 13): a model loads whole and fitting its tokenizer, or fails clearly.

Fixtures are the packaged MiniLM and tiny randomly-initialised BERT / GPT-2 folders written to
``tmp_path`` (2 layers, hidden 32, an 11-word tokenizer); nothing touches the network.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from tlnlp.models import GPT, Encoder, ModelLoadError, ModelNotAvailableError, load_encoder, offline_model_dir
from tlnlp.models.encoders import check_loading_info, check_tokenizer_fits
from tlnlp.models.gpt import GPTWeightsError

WORDS = ["a", "charming", "dull", "film", "the", "movie"]
BERT_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS


def bert_config(**overrides: int) -> "object":
    from transformers import BertConfig

    sizes = dict(vocab_size=len(BERT_VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=64, max_position_embeddings=64)
    return BertConfig(**{**sizes, **overrides})


def save_bert(folder: Path, *, model: bool = True, tokenizer: bool = True, head: bool = False) -> Path:
    """A tiny random BERT (and its word-level tokenizer) saved with save_pretrained."""
    from transformers import BertForMaskedLM, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    if model:
        (BertForMaskedLM if head else BertModel)(bert_config()).save_pretrained(folder)
    else:
        bert_config().save_pretrained(folder)
    if tokenizer:
        BertTokenizer(vocab={w: i for i, w in enumerate(BERT_VOCAB)}).save_pretrained(folder)
    return folder


def save_gpt2(folder: Path, *, tokenizer: bool = True) -> Path:
    """A tiny random GPT-2 (and a word-level tokenizer) saved with save_pretrained."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {w: i for i, w in enumerate(["<|endoftext|>"] + WORDS)}
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(vocab), n_positions=32, n_layer=2, n_head=2, n_embd=32,
                        bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    if tokenizer:
        backend = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
        backend.pre_tokenizer = pre_tokenizers.Whitespace()
        PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>",
                                unk_token="<|endoftext|>").save_pretrained(folder)
    return folder


def edit_weights(folder: Path, edit) -> None:  # noqa: ANN001
    path = folder / "model.safetensors"
    save_file(edit(load_file(str(path))), str(path), metadata={"format": "pt"})


@pytest.fixture(scope="module")
def minilm() -> Encoder:
    return load_encoder("minilm", device="cpu")


# ----- case 1: a folder without tokenizer files; Encoder.save_pretrained -------------------------


def test_model_folder_without_tokenizer_is_refused_naming_the_fix(tmp_path: Path) -> None:
    folder = save_bert(tmp_path / "bert", tokenizer=False)
    with pytest.raises(ModelLoadError, match=r"(?s)'.*bert'.*no tokenizer.*\[UNK\].*enc\.tokenizer\.save_pretrained"):
        load_encoder(folder, device="cpu")


def test_gpt2_folder_without_tokenizer_is_refused(tmp_path: Path) -> None:
    folder = save_gpt2(tmp_path / "gpt2", tokenizer=False)
    with pytest.raises(ModelLoadError, match=r"no tokenizer.*tokenizer\.save_pretrained"):
        load_encoder(str(folder), device="cpu")
    assert isinstance(GPT.from_pretrained(folder), GPT)  # the GPT itself needs no tokenizer


@pytest.mark.parametrize("save", [save_bert, save_gpt2])
def test_tiny_folders_with_their_tokenizer_load_and_tell_words_apart(tmp_path: Path, save) -> None:  # noqa: ANN001
    enc = load_encoder(save(tmp_path / "model"), device="cpu")
    assert len(enc.tokenizer) == enc.model.get_input_embeddings().num_embeddings
    X = enc.encode(["a charming film", "a dull film"], progress=False)
    assert X.shape == (2, 32) and not np.allclose(X[0], X[1])


def test_stand_in_tokenizer_far_smaller_than_the_embedding_is_refused(tmp_path: Path) -> None:
    from transformers import BertTokenizer

    folder = save_bert(tmp_path / "bert", tokenizer=False)
    BertTokenizer().save_pretrained(folder)  # special tokens only: what transformers made up before
    with pytest.raises(ModelLoadError, match=r"(?s)has only 5 tokens for an embedding of 11 rows.*tokenizer\.save_pretrained"):
        load_encoder(folder, device="cpu")


def test_encoder_save_pretrained_round_trips_the_embeddings(tmp_path: Path, minilm: Encoder) -> None:
    texts = ["a charming film", "a dull film"]
    folder = minilm.save_pretrained(tmp_path / "saved")
    again = load_encoder(folder, device="cpu")
    np.testing.assert_allclose(again.encode(texts, progress=False), minilm.encode(texts, progress=False), atol=1e-6)
    X = again.encode(texts, progress=False)
    assert not np.allclose(X[0], X[1])  # the real tokenizer came along: the words differ
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]  # no temporary folder left


def test_save_pretrained_that_fails_leaves_nothing_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    enc = load_encoder(save_bert(tmp_path / "bert"), device="cpu")

    def broken(folder: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(enc.tokenizer, "save_pretrained", broken)
    with pytest.raises(OSError, match="disk full"):
        enc.save_pretrained(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bert"]  # no "out", no .part


def test_save_pretrained_refuses_a_file_target(tmp_path: Path) -> None:
    enc = load_encoder(save_bert(tmp_path / "bert"), device="cpu")
    target = tmp_path / "weights.bin"
    target.write_text("x")
    with pytest.raises(ValueError, match=r"weights\.bin.*is a file; pass a folder"):
        enc.save_pretrained(target)


# ----- case 2: every expected tensor present, the architecture checked, the tokenizer fits -------


def test_gpt_from_the_minilm_folder_is_refused_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("weights were read before the architecture was checked")

    monkeypatch.setattr(transformers.GPT2LMHeadModel, "from_pretrained", never)
    with pytest.raises(GPTWeightsError, match=r"'bert' config, not a GPT-2.*load_encoder"):
        GPT.from_pretrained(str(offline_model_dir()))
    with pytest.raises(GPTWeightsError, match="'bert'"):
        GPT.from_pretrained("minilm")


def test_gpt2_folder_with_tensors_removed_is_refused_naming_them(tmp_path: Path) -> None:
    folder = save_gpt2(tmp_path / "gpt2")
    edit_weights(folder, lambda sd: {k: v for k, v in sd.items() if not k.startswith("transformer.h.1.mlp.")})
    with pytest.raises(GPTWeightsError, match=r"(?s)4 tensors the model needs.*transformer\.h\.1\.mlp\.c_fc\.bias.*save the model again"):
        GPT.from_pretrained(folder)
    assert isinstance(GPTWeightsError("x"), ValueError)


def test_encoder_folder_missing_a_layer_is_refused(tmp_path: Path) -> None:
    folder = save_bert(tmp_path / "bert")
    edit_weights(folder, lambda sd: {k: v for k, v in sd.items() if not k.startswith("encoder.layer.1.")})
    with pytest.raises(ModelLoadError, match=r"(?s)16 tensors the model needs.*encoder\.layer\.1\..*config\.json"):
        load_encoder(folder, device="cpu")


def test_config_with_fewer_layers_than_the_weights_is_refused(tmp_path: Path) -> None:
    folder = save_bert(tmp_path / "bert")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 1}))
    with pytest.raises(ModelLoadError, match=r"have no place in the model \(encoder\.layer\.1\."):
        load_encoder(folder, device="cpu")


def test_tensor_of_another_shape_is_refused_with_both_shapes(tmp_path: Path) -> None:
    folder = save_bert(tmp_path / "bert")
    edit_weights(folder, lambda sd: {**sd, "embeddings.position_embeddings.weight": torch.zeros(16, 32)})
    with pytest.raises(ModelLoadError, match=r"embeddings\.position_embeddings\.weight: checkpoint \(16, 32\), model \(64, 32\)"):
        load_encoder(folder, device="cpu")


def test_legitimately_absent_tensors_load(tmp_path: Path, minilm: Encoder) -> None:
    # the packaged MiniLM stores position_ids, a buffer: it loads with nothing missing
    assert minilm.model.pooler is not None
    # an MLM checkpoint: its head (cls.*) is dropped, its pooler is absent and removed, not left random
    enc = load_encoder(save_bert(tmp_path / "mlm", head=True), device="cpu")
    assert enc.model.pooler is None
    assert enc.encode(["a film"], progress=False).shape == (1, 32)


def test_tokenizer_larger_than_the_embedding_is_refused(tmp_path: Path, minilm: Encoder) -> None:
    small = load_encoder(save_bert(tmp_path / "bert"), device="cpu")
    with pytest.raises(ModelLoadError, match=r"30522 tokens but the model's embedding has only 11 rows.*resize_token_embeddings"):
        check_tokenizer_fits(minilm.tokenizer, small.model, "mixed")
    # the same through load_encoder: MiniLM's tokenizer files copied into the tiny model's folder
    folder = tmp_path / "bert"
    for file in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        (folder / file).write_bytes((offline_model_dir() / file).read_bytes())
    with pytest.raises(ModelLoadError, match=r"'.*bert'.*30522 tokens.*11 rows"):
        load_encoder(folder, device="cpu")


def test_special_token_id_beyond_the_embedding_is_refused(tmp_path: Path) -> None:
    enc = load_encoder(save_bert(tmp_path / "bert"), device="cpu")
    enc.model.resize_token_embeddings(4)  # now smaller than the tokenizer
    with pytest.raises(ModelLoadError, match=r"11 tokens but the model's embedding has only 4 rows"):
        check_tokenizer_fits(enc.tokenizer, enc.model, "tiny")

    class Stub:
        pad_token_id, cls_token_id = 0, 9

        def __len__(self) -> int:
            return 3

    with pytest.raises(ModelLoadError, match=r"cls_token_id=9, outside the model's embedding of 4 rows"):
        check_tokenizer_fits(Stub(), enc.model, "tiny")


def test_check_loading_info_accepts_a_clean_report(minilm: Encoder) -> None:
    check_loading_info(minilm.model, {"missing_keys": {"embeddings.position_ids"}, "unexpected_keys": {"cls.predictions.bias"},
                                      "mismatched_keys": set()}, "minilm")


# ----- case 3: offline, one resolution path that fails fast with guidance ------------------------


@pytest.mark.parametrize("flag", ["TLNLP_OFFLINE", "HF_HUB_OFFLINE"])
def test_gpt_from_pretrained_offline_fails_fast_naming_model_and_fix(monkeypatch: pytest.MonkeyPatch, flag: str) -> None:
    for var in ("TLNLP_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(flag, "1")
    start = time.perf_counter()
    with pytest.raises(ModelNotAvailableError, match=r"(?s)'no-such-user/tlnlp-gpt2-uncached'.*TLNLP_OFFLINE.*GPT2LMHeadModel\.save_pretrained"):
        GPT.from_pretrained("no-such-user/tlnlp-gpt2-uncached")
    with pytest.raises(ModelNotAvailableError, match=r"'no-such-user/tlnlp-bert-uncached'.*load_encoder\(\"minilm\"\)"):
        load_encoder("no-such-user/tlnlp-bert-uncached", device="cpu")
    assert time.perf_counter() - start < 5


# ----- case 4: names, texts and max_length ------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_name_is_refused_not_read_as_the_current_folder(name: str) -> None:
    with pytest.raises(ValueError, match=r"empty model name.*'\.'"):
        load_encoder(name)
    with pytest.raises(ValueError, match=r"GPT\.from_pretrained\(\) got an empty model name"):
        GPT.from_pretrained(name)


@pytest.mark.parametrize("name", [None, 3, ["minilm"]])
def test_name_of_the_wrong_type_is_a_type_error(name: object) -> None:
    with pytest.raises(TypeError, match=rf"load_encoder\(\) takes a model name or a folder path.*got {type(name).__name__}.*load_encoder\(\"minilm\"\)"):
        load_encoder(name)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"GPT\.from_pretrained\(\"gpt2\"\)"):
        GPT.from_pretrained(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["./my_modle", "/tmp/does/not/exist", "~/no_such_tlnlp_model", "../x/y/z"])
def test_local_path_typo_says_the_folder_does_not_exist(name: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ModelNotAvailableError, match=rf"the local folder '{name}' does not exist.*typo"):
        load_encoder(name)
    with pytest.raises(ModelNotAvailableError, match="does not exist"):
        GPT.from_pretrained(name)
    assert time.perf_counter() - start < 2


def test_a_file_instead_of_a_folder_is_refused(tmp_path: Path) -> None:
    folder = save_bert(tmp_path / "bert")
    with pytest.raises(ModelLoadError, match=r"model\.safetensors', a file, not a folder.*config\.json"):
        load_encoder(folder / "model.safetensors")


def test_encode_names_the_index_and_type_of_a_non_string(minilm: Encoder) -> None:
    with pytest.raises(TypeError, match=r"texts\[2\] is NoneType None"):
        minilm.encode(["a film", "a dull film", None], progress=False)  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"texts\[0\] is bytes b'a film'"):
        minilm.encode([b"a film"], progress=False)  # type: ignore[list-item]


def test_encode_names_the_index_of_a_surrogate_escaped_text(minilm: Encoder) -> None:
    with pytest.raises(ValueError, match=r"texts\[1\] holds '\\udcff' at character 1.*real encoding"):
        minilm.encode(["fine", "a\udcff b"], progress=False)
    assert minilm.encode(["café ☕"], progress=False).shape == (1, 384)  # valid non-ASCII is fine


@pytest.mark.parametrize("max_length", [513, 10_000])
def test_max_length_beyond_the_positions_is_refused_up_front(minilm: Encoder, max_length: int) -> None:
    assert minilm.max_positions == 512
    with pytest.raises(ValueError, match=rf"max_length={max_length} is beyond what 'minilm' reads: it has 512 positions"):
        minilm.encode(["a film"], max_length=max_length, progress=False)


@pytest.mark.parametrize("max_length", [0, 1, 12.5, "128", True])
def test_max_length_must_be_an_int_of_at_least_two(minilm: Encoder, max_length: object) -> None:
    with pytest.raises(ValueError, match=rf"max_length must be an int >= 2.*got {max_length!r}"):
        minilm.encode(["a film"], max_length=max_length, progress=False)  # type: ignore[arg-type]


@pytest.mark.parametrize("batch_size", [0, 2.0, True])
def test_batch_size_must_be_a_positive_int(minilm: Encoder, batch_size: object) -> None:
    with pytest.raises(ValueError, match=rf"batch_size must be an int >= 1, got {batch_size!r}"):
        minilm.encode(["a film"], batch_size=batch_size, progress=False)  # type: ignore[arg-type]


# ----- other entry points: missing and corrupted files -------------------------------------------


def test_folder_without_config_is_refused_naming_its_files(tmp_path: Path) -> None:
    folder = save_bert(tmp_path / "bert")
    (folder / "config.json").unlink()
    with pytest.raises(ModelLoadError, match=r"holds no config\.json.*it has: model\.safetensors.*save_pretrained"):
        load_encoder(folder, device="cpu")


def test_folder_without_safetensors_weights_is_refused(tmp_path: Path) -> None:
    folder = save_bert(tmp_path / "bert")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match=r"only pytorch_model\.bin \(a pickle.*model\.safetensors only"):
        load_encoder(folder, device="cpu")
    with pytest.raises(ModelLoadError, match=r"only pytorch_model\.bin"):
        GPT.from_pretrained(folder)
    # a from-scratch model needs only the config and the tokenizer
    assert not load_encoder(folder, random_init=True, device="cpu").pretrained


def test_truncated_weights_are_reported_as_a_corrupted_folder(tmp_path: Path) -> None:
    folder = save_bert(tmp_path / "bert")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelLoadError, match=r"could not read the saved model in '.*bert'.*save the model again"):
        load_encoder(folder, device="cpu")


def test_corrupted_config_is_reported_as_a_corrupted_folder(tmp_path: Path) -> None:
    folder = save_gpt2(tmp_path / "gpt2")
    (folder / "config.json").write_text('{"model_type": "gpt2", ')
    with pytest.raises(ModelLoadError, match=r"could not read the saved model in '.*gpt2'.*save_pretrained"):
        GPT.from_pretrained(folder)


def test_gpt_from_hf_refuses_another_architecture() -> None:
    from transformers import BertModel

    with pytest.raises(GPTWeightsError, match=r"'bert' config, not a GPT-2"):
        GPT.from_hf(BertModel(bert_config()))  # type: ignore[arg-type]


def test_gpt_from_hf_takes_a_model_not_a_name() -> None:
    with pytest.raises(TypeError, match=r"from_hf\(\) takes a loaded transformers GPT-2 model, got str.*GPT\.from_pretrained\('gpt2'\)"):
        GPT.from_hf("gpt2")  # type: ignore[arg-type]


def test_gpt_load_hf_state_dict_takes_a_state_dict() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    hf = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=20, n_positions=16))
    model = GPT(GPT.config_from_hf(hf.config))
    with pytest.raises(TypeError, match=r"takes a state dict, got GPT2LMHeadModel: pass hf_model\.state_dict\(\)"):
        model.load_hf_state_dict(hf)  # type: ignore[arg-type]


def test_gpt_from_a_bare_gpt2_model_gives_the_same_logits() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=20, n_positions=16)).eval()
    ids = torch.tensor([[1, 5, 7, 2]])
    with torch.no_grad():
        ours = GPT.from_hf(hf.transformer)(ids).logits  # GPT2Model: names without "transformer."
        np.testing.assert_allclose(ours.numpy(), hf(ids).logits.numpy(), atol=1e-5)


def test_gpt_from_pretrained_checks_attention_before_loading(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"attention must be 'sdpa' or 'manual', got 'flash'"):
        GPT.from_pretrained(save_gpt2(tmp_path / "gpt2"), attention="flash")  # type: ignore[arg-type]


@pytest.mark.parametrize(("device", "message"), [("gpu", r"'gpu' is not a device torch knows: use cpu, cuda"),
                                                  (3.5, r"3\.5 is not a device torch knows"),
                                                  ("mps:0" if torch.cuda.is_available() else "cuda:0",
                                                   r"this machine has no (mps|cuda) device: pass device='cpu'")])
def test_load_encoder_checks_the_device_before_loading(device: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_encoder("minilm", device=device)


def test_encoder_built_by_hand_checks_that_its_tokenizer_fits(tmp_path: Path, minilm: Encoder) -> None:
    small = load_encoder(save_bert(tmp_path / "bert"), device="cpu")
    with pytest.raises(ModelLoadError, match=r"'by hand' has 30522 tokens but the model's embedding has only 11 rows"):
        Encoder("by hand", tokenizer=minilm.tokenizer, model=small.model)


def test_folder_whose_model_is_in_a_subfolder_names_it(tmp_path: Path) -> None:
    save_bert(tmp_path / "st" / "0_Transformer")
    (tmp_path / "st" / "modules.json").write_text("[]")
    with pytest.raises(ModelLoadError, match=r"no config\.json.*subfolder '0_Transformer' holds one.*st/0_Transformer'"):
        load_encoder(tmp_path / "st", device="cpu")
    assert load_encoder(tmp_path / "st" / "0_Transformer", device="cpu").hidden_size == 32


def test_count_parameters_of_an_encoder_points_to_its_model(minilm: Encoder) -> None:
    from tlnlp.models import count_parameters

    with pytest.raises(TypeError, match=r"got Encoder: pass enc\.model"):
        count_parameters(minilm)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"got str: pass a torch\.nn\.Module"):
        count_parameters("minilm")  # type: ignore[arg-type]


def test_gpt2_weights_with_more_layers_than_the_config_are_refused(tmp_path: Path) -> None:
    folder = save_gpt2(tmp_path / "gpt2")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "n_layer": 1}))
    with pytest.raises(GPTWeightsError, match=r"have no place in the model \(transformer\.h\.1\."):
        GPT.from_pretrained(folder)
