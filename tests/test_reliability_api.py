"""What a user who passes the wrong thing sees (issue 13): a clear error naming the value and the fix.

One test per case found by walking the public entry points of text, transfer, heads, lm,
experiment, embeddings, optim, plot and report with wrong types, empty inputs, out-of-range
values, mismatched shapes and NaN. Each was a silent wrong result, a crash deep inside a
dependency, or an unclear message before.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from tlnlp.embeddings import GloVeConfig, WordVectors, nearest_neighbours, to_embedding_layer
from tlnlp.experiment import compare, describe, margin_from_spread, run_over_seeds, summarize
from tlnlp.lm import (
    NonFiniteLossError,
    RandomBlocks,
    SequentialBlocks,
    evaluate_loss,
    get_batch,
    iter_blocks,
    perplexity,
    split_train_val,
)
from tlnlp.models import Classifier, Output
from tlnlp.models.heads import PoolingError
from tlnlp.optim import cosine_with_warmup, decay_groups
from tlnlp.report import glue
from tlnlp.text import (
    BPETokenizer,
    CharTokenizer,
    PadCollator,
    TokenizedDataset,
    build_vocab,
    make_loader,
    simple_tokenize,
    tokenize,
)
from tlnlp.transfer import configure, freeze, slanted_triangular


@pytest.fixture(scope="module")
def hf_tokenizer(tmp_path_factory):
    from transformers import BertTokenizerFast

    vocab = tmp_path_factory.mktemp("tok") / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "fine", "film", "dull"]))
    return BertTokenizerFast(str(vocab))


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train(["the cat sat on the mat"] * 20, vocab_size=280)


# -- text: tokenize and batching -------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, float("nan"), 3])
def test_tokenize_names_the_text_that_is_not_a_string(hf_tokenizer, bad):
    with pytest.raises(TypeError, match=r"text 1 is .*not a string; drop or fill missing texts"):
        tokenize(hf_tokenizer, ["a fine film", bad])


def test_tokenize_names_a_text_with_a_lone_surrogate(hf_tokenizer):
    with pytest.raises(ValueError, match=r"text 1 holds '\\udce9' at position 4.*read the file with its real encoding"):
        tokenize(hf_tokenizer, ["a film", "bad \udce9"])


def test_tokenize_refuses_no_texts(hf_tokenizer):
    with pytest.raises(ValueError, match="got no texts"):
        tokenize(hf_tokenizer, [])


def test_tokenize_refuses_a_max_length_with_no_room_for_text(hf_tokenizer):
    with pytest.raises(ValueError, match=r"max_length=1 leaves no room.*adds 2 special tokens"):
        tokenize(hf_tokenizer, ["a fine film"], max_length=1)
    with pytest.raises(ValueError, match="max_length must be an int >= 1, got 0"):
        tokenize(hf_tokenizer, ["a fine film"], max_length=0)


@pytest.mark.parametrize(
    ("labels", "error", "pattern"),
    [
        ([0.5, 1], ValueError, r"label 0 is 0.5 \(float\), not a class index"),
        ([None, 1], ValueError, r"label 0 is None .*drop rows without a label"),
        (["pos", "neg"], ValueError, r"label 0 is 'pos' .*map names to ids first"),
        ([-1, 1], ValueError, r"label 0 is -1; labels are class indices"),
        ("10", TypeError, r"got the string '10'"),
        ([1], ValueError, r"2 texts but 1 labels; give one label per text"),
    ],
)
def test_tokenize_checks_labels(hf_tokenizer, labels, error, pattern):
    with pytest.raises(error, match=pattern):
        tokenize(hf_tokenizer, ["a film", "dull"], labels=labels)


def test_whole_float_labels_from_pandas_are_ints():
    assert TokenizedDataset([[1], [2]], np.array([1.0, 0.0])).labels == [1, 0]


def test_tokenized_dataset_refuses_a_string():
    with pytest.raises(TypeError, match="list of token-id lists, got 'abc'"):
        TokenizedDataset("abc")


@pytest.mark.parametrize(("size", "error"), [(2.0, TypeError), (None, TypeError), (True, TypeError), (0, ValueError)])
def test_make_loader_checks_batch_size(size, error):
    with pytest.raises(error, match="batch_size must be an int >= 1"):
        make_loader(TokenizedDataset([[1], [2]]), size, shuffle=True)


def test_make_loader_takes_numpy_ints():
    assert len(list(make_loader(TokenizedDataset([[1], [2]]), np.int64(1), shuffle=False))) == 2


def test_make_loader_on_an_empty_dataset_says_so():
    with pytest.raises(ValueError, match="the dataset is empty"):
        make_loader(TokenizedDataset([]), 2, shuffle=True)


def test_pad_collator_without_a_pad_token_says_what_to_pass():
    with pytest.raises(ValueError, match=r"pad_token_id is None.*pad_token_id=tokenizer.eos_token_id"):
        PadCollator(None)


# -- text: vocabulary, words, character and BPE tokenizers ----------------------------------


def test_build_vocab_refuses_a_missing_sentence_instead_of_skipping_it():
    with pytest.raises(TypeError, match=r"got None \(NoneType\); drop missing texts"):
        build_vocab([["a"], None], min_count=1)


def test_build_vocab_refuses_a_word_that_is_not_a_string():
    with pytest.raises(TypeError, match=r"the word None \(NoneType\) is not a string"):
        build_vocab([["a", None]], min_count=1)


def test_build_vocab_refuses_one_sentence_not_wrapped_in_a_list():
    with pytest.raises(TypeError, match=r"got \['hello', 'world'\]; wrap one sentence in a list"):
        build_vocab(["hello", "world"], min_count=1)


@pytest.mark.parametrize("min_count", [None, 1.5, 0])
def test_build_vocab_checks_min_count(min_count):
    with pytest.raises(ValueError, match=f"min_count must be an int >= 1, got {min_count}"):
        build_vocab([["a"]], min_count=min_count)


def test_build_vocab_refuses_specials_given_as_one_string():
    with pytest.raises(TypeError, match=r"got the string '<pad>'; pass \('<pad>',\)"):
        build_vocab([["a"]], min_count=1, specials="<pad>")


@pytest.mark.parametrize("ids", [[5], [-1]])
def test_vocab_decode_refuses_ids_outside_it(ids):
    vocab = build_vocab([["a", "b"]], min_count=1)
    with pytest.raises(ValueError, match=rf"id {ids[0]} is outside the vocabulary range\(0, 2\)"):
        vocab.decode(ids)


def test_vocab_methods_refuse_a_string_for_a_list():
    vocab = build_vocab([["a", "b"]], min_count=1)
    with pytest.raises(TypeError, match="got 'a b'; wrap one sentence"):
        vocab.unknown_rate("a b")
    with pytest.raises(TypeError, match=r"got the string 'cd'; pass \['cd'\]"):
        vocab.extend("cd")
    with pytest.raises(TypeError, match="got None"):
        vocab.encode(None)


@pytest.mark.parametrize(("text", "hint"), [(None, "drop or fill"), (["a b"], "tokenise each text"), (b"a b", "decode")])
def test_simple_tokenize_refuses_non_strings(text, hint):
    with pytest.raises(TypeError, match=f"takes one string, got {type(text).__name__}; {hint}"):
        simple_tokenize(text)


def test_char_tokenizer_from_a_list_or_nothing():
    with pytest.raises(TypeError, match=r"takes one string, got list; for several texts pass ''.join\(texts\)"):
        CharTokenizer.from_text(["ab", "ba"])
    with pytest.raises(ValueError, match="got no characters"):
        CharTokenizer.from_text("")


@pytest.mark.parametrize("ids", [[5], [-1]])
def test_char_tokenizer_decode_refuses_ids_outside_it(ids):
    with pytest.raises(ValueError, match=rf"id {ids[0]} is outside the vocabulary range\(0, 2\)"):
        CharTokenizer("ab").decode(ids)


def test_char_tokenizer_pack_names_a_missing_text():
    with pytest.raises(TypeError, match="CharTokenizer.pack\\(\\): text 1 is None"):
        CharTokenizer("ab").pack(["ab", None])


def test_bpe_train_refuses_a_string_no_texts_and_a_missing_text():
    with pytest.raises(TypeError, match=r"got a single string; pass \[text\]"):
        BPETokenizer.train("hello world", vocab_size=300)
    with pytest.raises(ValueError, match="got no texts"):
        BPETokenizer.train([], vocab_size=300)
    with pytest.raises(TypeError, match="text 1 is None"):
        BPETokenizer.train(["a", None], vocab_size=300)


def test_bpe_encode_and_pack_name_the_bad_text(bpe):
    with pytest.raises(TypeError, match=r"encode\(\) takes one string, got None"):
        bpe.encode(None)
    with pytest.raises(ValueError, match=r"holds '\\udce9' at position 2"):
        bpe.encode("a \udce9")
    with pytest.raises(ValueError, match=r"pack\(\): text 1 holds '\\udce9'"):
        bpe.pack(["a", "b \udce9"])


@pytest.mark.parametrize("bad", [-1, 100_000])
def test_bpe_decode_refuses_ids_outside_it(bpe, bad):
    with pytest.raises(ValueError, match=rf"id {bad} is outside the vocabulary range\(0, {bpe.vocab_size}\)"):
        bpe.decode([bad])


def test_bpe_load_of_a_missing_or_broken_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer file at .*missing.json"):
        BPETokenizer.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json is not a tokenizer file.*delete it and train again"):
        BPETokenizer.load(broken)


# -- the Classifier ---------------------------------------------------------------------------


def test_classifier_takes_numpy_ints_and_refuses_widths_below_one():
    assert Classifier(nn.Embedding(10, 4), np.int64(3)).num_labels == 3
    with pytest.raises(ValueError, match="hidden_size must be an int >= 1 .*got 0"):
        Classifier(nn.Sequential(nn.Embedding(5, 3)), 2, hidden_size=0)
    with pytest.raises(ValueError, match="hidden must be an int >= 1 .*got 0"):
        Classifier(nn.Embedding(5, 3), 2, hidden=0)


def test_classifier_says_when_its_hidden_size_is_wrong():
    clf = Classifier(nn.Sequential(nn.Embedding(5, 3)), 2, hidden_size=4)
    with pytest.raises(PoolingError, match="returns vectors of width 3, but the head was built for 4: pass hidden_size"):
        clf(torch.tensor([[1, 2]]))


def test_classifier_with_an_unreadable_width_asks_for_hidden_size():
    with pytest.raises(PoolingError, match=r"cannot tell how wide the vectors of a Sequential are.*pass hidden_size"):
        Classifier(nn.Sequential(nn.Embedding(5, 3)), 2)


@pytest.mark.parametrize(
    ("labels", "pattern"),
    [
        (torch.tensor([3, 0]), r"got label 3: the classifier has num_labels=3"),
        (torch.tensor([-1, 0]), r"got label -1"),
        (torch.tensor([1]), r"got shape \(1,\) for a batch of 2 texts"),
        (torch.tensor([1.0, 0.0]), r"got dtype torch.float32; convert with labels.long\(\)"),
        ([1, 0], r"got list; pass torch.tensor\(labels\)"),
    ],
)
def test_classifier_explains_labels_cross_entropy_refuses(labels, pattern):
    clf = Classifier(nn.Embedding(10, 4), 3)
    with pytest.raises(ValueError, match=pattern):
        clf(torch.tensor([[1, 2], [3, 4]]), labels=labels)


def test_classifier_refuses_one_dimensional_and_empty_input():
    clf = Classifier(nn.Embedding(10, 4), 3)
    with pytest.raises(PoolingError, match=r"got \(2,\); for one text use input_ids.unsqueeze\(0\)"):
        clf(torch.tensor([1, 2]))
    with pytest.raises(PoolingError, match=r"no tokens \(shape \(2, 0, 4\)\).*drop empty texts"):
        clf(torch.zeros(2, 0, dtype=torch.long))


def test_output_is_not_unpacked_like_a_tuple():
    with pytest.raises(TypeError, match="read by name"):
        logits, loss = Output(logits=torch.zeros(1), loss=torch.zeros(()))


# -- transfer strategies, schedules and optimizers --------------------------------------------


def _clf() -> Classifier:
    return Classifier(nn.Embedding(10, 4), 2)


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), "1e-3", None, 0, -1])
def test_configure_refuses_a_learning_rate_that_is_not_a_positive_number(lr):
    with pytest.raises(ValueError, match=rf"lr must be a finite number > 0 .*got {re.escape(repr(lr))}"):
        configure(_clf(), "full", lr=lr, total_steps=10)


def test_configure_takes_numpy_step_counts_and_names_a_float():
    assert configure(_clf(), "full", lr=1e-3, total_steps=np.int64(10)).scheduler is not None
    with pytest.raises(ValueError, match=r"total_steps must be an int >= 2 .*got 10.0"):
        configure(_clf(), "full", lr=1e-3, total_steps=10.0)


def test_configure_top_k_on_a_body_without_layers_names_the_strategies_that_work():
    with pytest.raises(ValueError, match=r"needs a body with a stack of layers.*use 'probe', 'full' or 'gradual'"):
        configure(_clf(), "top-1", lr=1e-3, total_steps=10)


def test_configure_refuses_a_non_module_and_a_lora_target_string():
    with pytest.raises(TypeError, match="takes the model .*got NoneType"):
        configure(None, "full", lr=1e-3, total_steps=10)
    with pytest.raises(TypeError, match=r"got the string 'query'; pass \('query',\)"):
        configure(_clf(), "lora", lr=1e-3, total_steps=10, lora_targets="query")


def test_configure_factor_nan_is_refused():
    with pytest.raises(ValueError, match="factor must be a finite number > 0"):
        configure(_clf(), "gradual", lr=1e-3, total_steps=10, factor=float("nan"))


def test_freeze_refuses_names_that_are_not_strings():
    with pytest.raises(TypeError, match="names must be strings .*got None"):
        freeze(_clf(), [None])


def test_slanted_triangular_takes_numpy_ints():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    slanted_triangular(optimizer, np.int64(10))


@pytest.mark.parametrize("warmup", [1.5, float("nan")])
def test_cosine_with_warmup_refuses_fractional_steps(warmup):
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match=f"warmup must be an int .*got {warmup}"):
        cosine_with_warmup(optimizer, warmup, 10)


@pytest.mark.parametrize("decay", [-0.1, float("nan")])
def test_decay_groups_refuses_negative_or_nan_decay(decay):
    with pytest.raises(ValueError, match=f"weight_decay must be a finite number >= 0 .*got {decay}"):
        decay_groups(nn.Linear(2, 2), decay)


# -- language-model batches and metrics -------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: get_batch(torch.arange(50), 0, 2), ValueError, "block_size must be an int >= 1, got 0"),
        (lambda: get_batch(torch.arange(50), 4, 0), ValueError, "batch_size must be an int >= 1, got 0"),
        (lambda: get_batch([1, 2, 3, 4, 5], 2, 2), TypeError, r"got list; convert it with torch.as_tensor"),
        (lambda: get_batch(torch.arange(50.0), 4, 2), TypeError, r"got dtype torch.float32; convert it with data.long\(\)"),
        (lambda: list(iter_blocks(torch.arange(10), 0, 2)), ValueError, "block_size must be an int >= 1"),
        (lambda: SequentialBlocks(torch.arange(10), 2, 0), ValueError, "batch_size must be an int >= 1"),
        (lambda: SequentialBlocks(torch.arange(10), -1, 2), ValueError, "block_size must be an int >= 1, got -1"),
        (lambda: RandomBlocks(torch.arange(50), 4, 0), ValueError, "batch_size must be an int >= 1"),
        (lambda: RandomBlocks(torch.arange(50).view(5, 10), 4, 2), ValueError, r"got shape \(5, 10\); flatten it"),
        (lambda: split_train_val(torch.arange(3), 0.1), ValueError, "leave 0 for training and 3 for validation"),
    ],
)
def test_lm_batches_check_their_inputs(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


class _NaNLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, labels=None):
        return Output(loss=torch.tensor(float("nan")))


def test_perplexity_of_a_nan_loss_is_an_error_not_nan():
    with pytest.raises(NonFiniteLossError, match="loss is NaN.*diverged"):
        perplexity(_NaNLM(), torch.arange(60) % 7, 8)
    with pytest.raises(NonFiniteLossError, match=r"evaluate_loss\(\)"):
        evaluate_loss(_NaNLM(), torch.arange(60) % 7, 8)


# -- experiments over seeds -------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), None, float("inf")])
def test_margin_and_compare_refuse_a_failed_run_instead_of_returning_nan(bad):
    with pytest.raises(ValueError, match=r"a\[1\] is (nan|inf) .*a run failed or diverged"):
        margin_from_spread([0.8, bad], [0.7, 0.6])
    with pytest.raises(ValueError, match=r"a\[1\] is"):
        compare([0.8, bad], [0.7, 0.6])


def test_margin_with_one_seed_says_to_run_more():
    with pytest.raises(ValueError, match=r"got shapes \(1,\) and \(2,\).*run more seeds"):
        compare([0.8], [0.7, 0.6])


@pytest.mark.parametrize("k", [-2, float("nan")])
def test_margin_refuses_a_k_that_is_not_positive(k):
    with pytest.raises(ValueError, match=f"k .* must be a finite number > 0, e.g. 2, got {k}"):
        margin_from_spread([0.8, 0.9], [0.7, 0.6], k=k)


def test_compare_words_must_be_a_dict():
    with pytest.raises(TypeError, match="words must be a dict outcome -> word.*got 'better'"):
        compare([0.8, 0.9], [0.7, 0.6], words="better")


def test_describe_refuses_a_string_and_an_infinite_score():
    with pytest.raises(TypeError, match="got the string '0.5'"):
        describe("0.5")
    with pytest.raises(ValueError, match=r"infinite score \(inf\): a run diverged"):
        describe([1.0, float("inf")])


def test_summarize_with_swapped_columns_says_so():
    df = pd.DataFrame({"method": ["a", "b"], "acc": [0.8, 0.5]})
    with pytest.raises(TypeError, match=r"value column 'method' holds .* not numbers; did you swap by= and value="):
        summarize(df, "acc", "method")


def test_run_over_seeds_checks_seeds_and_refuses_to_overwrite_columns():
    assert run_over_seeds(lambda seed: {"a": seed}, np.int64(2), progress=False)["a"].tolist() == [0, 1]
    for seeds in ("3", None):
        with pytest.raises(TypeError, match=f"seeds must be an int n .*got {seeds!r}"):
            run_over_seeds(lambda seed: {"a": 1}, seeds, progress=False)
    with pytest.raises(ValueError, match="'seed' is set by seeds="):
        run_over_seeds(lambda seed: {"a": 1}, 2, seed=[1], progress=False)
    with pytest.raises(ValueError, match=r"returned \['n'\], which would overwrite"):
        run_over_seeds(lambda seed, n: {"n": 5}, 1, n=[1, 2], progress=False)


# -- word vectors -----------------------------------------------------------------------------


def test_word_vectors_refuse_nan_rows_and_a_string_of_words():
    with pytest.raises(ValueError, match=r"the vector of 'b' \(row 1\) holds NaN or inf"):
        WordVectors(["a", "b"], np.array([[1.0, 0.0], [np.nan, 1.0]]))
    with pytest.raises(TypeError, match="got the string 'ab'"):
        WordVectors("ab", np.eye(2))


def test_most_similar_never_returns_the_word_itself():
    wv = WordVectors(["a", "b", "c"], np.eye(3))
    assert [w for w, _ in wv.most_similar("a", topn=10)] == ["b", "c"]


def test_embedding_helpers_refuse_a_string_for_a_word_list():
    wv = WordVectors(["a", "b", "c"], np.eye(3))
    with pytest.raises(TypeError, match=r"got the string 'ab'; pass \['ab'\]"):
        nearest_neighbours(wv, "ab")
    with pytest.raises(TypeError, match="vocab must be a list of words .*got the string 'abc'"):
        to_embedding_layer(wv, "abc")


def test_glove_config_refuses_a_nan_learning_rate():
    with pytest.raises(ValueError, match="GloVeConfig.lr must be a finite number > 0, got nan"):
        GloVeConfig(lr=float("nan"))


# -- plots and glue ---------------------------------------------------------------------------


def test_smooth_and_plot_history_check_their_inputs():
    from tlnlp.plot import plot_history, smooth

    with pytest.raises(TypeError, match="window must be an int .*got 2.5"):
        smooth([1.0, 2.0, 3.0], 2.5)
    with pytest.raises(ValueError, match=r"non-empty 1-D sequence of values, got shape \(0,\)"):
        smooth([], 3)
    with pytest.raises(TypeError, match=r"History objects \(what fit\(\) returns\).*got NoneType"):
        plot_history(None)
    with pytest.raises(ValueError, match="got no histories"):
        plot_history([])


def test_glue_names_a_nan_and_a_bad_format(capsys):
    with pytest.warns(UserWarning, match=r"glue\('acc'\): the value is NaN, so the prose will cite 'nan'"):
        glue("acc", float("nan"), fmt=".3f")
    assert capsys.readouterr().out == "acc = nan\n"
    with pytest.raises(ValueError, match=r"glue\('acc'\): cannot format 0.5 .*fmt='%.3f'.*no '%' prefix"):
        glue("acc", 0.5, fmt="%.3f")
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        glue(None, 0.5)
    glue("acc", torch.tensor(0.5), fmt=".2f")
    assert capsys.readouterr().out == "acc = 0.50\n"
