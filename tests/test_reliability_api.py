"""Wrong input to the public API gets an error that names the value and the fix (issue 13).

Each case here was, before, a silent wrong result (a float label truncated to 0, NaN seeds
dropped or compared as "within the noise", float "token ids" batched as inputs) or an error
from deep inside a dependency that named neither the offending item nor the fix.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tlnlp.experiment import compare, describe, margin_from_spread
from tlnlp.lm import RandomBlocks, SequentialBlocks, get_batch, iter_blocks
from tlnlp.text import TokenizedDataset, Vocab, build_vocab, make_loader, tokenize


class WordTokenizer:
    """A stand-in for a Hugging Face tokenizer: enough of its call signature for tokenize()."""

    model_max_length = 16

    def __call__(self, texts, truncation=True, max_length=None):
        for text in texts:
            if not isinstance(text, str):
                raise TypeError("TextEncodeInput must be Union[TextInputSequence, Tuple[InputSequence, InputSequence]]")
        return {"input_ids": [[101] + [len(w) for w in t.split()][: max_length - 2] + [102] for t in texts]}


@pytest.mark.parametrize(
    ("texts", "error", "match"),
    [
        (["fine", None], TypeError, r"text 1 is NoneType \(None\), not a string: drop or fill"),
        (["fine", 3.5], TypeError, r"text 1 is float"),
        (["fine", "b\udcff c"], ValueError, r"text 1 \('b\\udcff c'\) holds a character that is not valid Unicode.*UTF-8"),
        ([], ValueError, "got no texts"),
        ("a film", TypeError, r"single string; pass \[text\]"),
    ],
)
def test_tokenize_names_the_bad_text_by_index(texts, error, match):
    with pytest.raises(error, match=match):
        tokenize(WordTokenizer(), texts)


def test_tokenize_refuses_a_max_length_the_model_cannot_read():
    with pytest.raises(ValueError, match="max_length=64 is longer than the tokenizer's model_max_length=16.*<= 16"):
        tokenize(WordTokenizer(), ["a b"], max_length=64)
    with pytest.raises(ValueError, match="max_length must be an int >= 2"):
        tokenize(WordTokenizer(), ["a b"], max_length=0)
    assert tokenize(WordTokenizer(), ["a bb"], max_length=16).input_ids == [[101, 1, 2, 102]]


@pytest.mark.parametrize("bad", [[0.5, 1], [float("nan"), 1], [True, 0], ["pos", "neg"]])
def test_labels_that_are_not_integer_ids_are_refused_not_truncated(bad):
    with pytest.raises(ValueError, match=r"label 0 is .*integer class ids.*labelled_texts"):
        TokenizedDataset([[1, 2], [3]], bad)


def test_integer_labels_of_any_kind_are_accepted_as_their_values():
    for labels in ([1, 0], np.array([1, 0]), torch.tensor([1, 0]), [1.0, 0.0], np.array([1, 0], dtype=np.int8)):
        assert TokenizedDataset([[1], [2]], labels).labels == [1, 0]


def test_an_empty_token_sequence_is_refused_with_its_index():
    with pytest.raises(ValueError, match=r"1 token sequences are empty \(first at index \[2\]\).*unknown='map'"):
        TokenizedDataset([[1], [2], []], [0, 1, 0])


def test_make_loader_takes_a_tokenized_dataset_only():
    with pytest.raises(TypeError, match="takes a TokenizedDataset, got list.*tokenize"):
        make_loader([[1, 2], [3]], batch_size=2, shuffle=False)


def test_vocab_inputs_are_checked_before_counting():
    with pytest.raises(ValueError, match=r"unknown='ignore'; choose one of map, drop, error"):
        build_vocab([["a"]], unknown="ignore")
    with pytest.raises(TypeError, match="single string"):
        build_vocab("a text", min_count=1)
    vocab = build_vocab([["a", "b"]], min_count=1, specials=("<unk>",), unknown="map")
    with pytest.raises(TypeError, match="got NoneType: drop or fill missing texts"):
        vocab.encode(None)
    assert isinstance(vocab, Vocab)


@pytest.mark.parametrize("make", [
    lambda d: RandomBlocks(d, 4, 2),
    lambda d: SequentialBlocks(d, 4, 2),
    lambda d: list(iter_blocks(d, 4, 2)),
    lambda d: get_batch(d, 4, 2),
])
def test_token_streams_must_be_integer_ids(make):
    with pytest.raises(ValueError, match=r"integer token ids, got dtype torch.float32: convert with .long\(\)"):
        make(torch.rand(50))
    with pytest.raises(TypeError, match="1-D torch tensor of token ids, got list"):
        make(list(range(50)))


def test_block_and_batch_sizes_must_be_positive_ints():
    with pytest.raises(ValueError, match="block_size must be an int >= 1, got 0"):
        SequentialBlocks(torch.arange(50), 0, 2)
    with pytest.raises(ValueError, match=r"batch_size must be an int >= 1, got 2.5"):
        RandomBlocks(torch.arange(50), 4, 2.5)


def test_a_nan_seed_is_never_compared_as_within_the_noise():
    """Before: compare() said '+nan points (within the noise; 2 s.e. = nan)'."""
    with pytest.raises(ValueError, match=r"sample a holds nan at index 1 \(of 3\).*fix or drop it"):
        compare([0.8, float("nan"), 0.82], [0.7, 0.71, 0.72])
    with pytest.raises(ValueError, match=r"sample b holds inf at index 0"):
        margin_from_spread([0.8, 0.81], [float("inf"), 0.7])
    with pytest.raises(ValueError, match="k must be a finite number > 0"):
        margin_from_spread([0.8, 0.81], [0.7, 0.71], k=0)


def test_describe_says_when_it_leaves_nan_seeds_out():
    with pytest.warns(UserWarning, match="1 of 3 values are NaN and left out"):
        assert describe([0.8, float("nan"), 0.82]) == describe([0.8, 0.82])


# --- the one head --------------------------------------------------------------------------


def test_classifier_names_a_batch_its_body_cannot_read():
    from tlnlp.models import Classifier

    model = Classifier(torch.nn.Embedding(10, 4), num_labels=2)
    with pytest.raises(ValueError, match=r"token id 12, but the Embedding's embedding has 10 rows \(ids 0..9\): tokenize with"):
        model(input_ids=torch.tensor([[1, 12]]))
    with pytest.raises(ValueError, match="token id -1"):
        model(input_ids=torch.tensor([[1, -1]]))
    with pytest.raises(TypeError, match="input_ids must be an integer tensor of token ids, got torch.float32"):
        model(input_ids=torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"label 5 is outside 0..1: the Classifier was built with num_labels=2"):
        model(input_ids=torch.tensor([[1, 2]]), labels=torch.tensor([5]))
    with pytest.raises(ValueError, match=r"labels must be a \(2,\) integer tensor"):
        model(input_ids=torch.tensor([[1, 2], [3, 4]]), labels=torch.tensor([1]))
    ignored = model(input_ids=torch.tensor([[1, 2], [3, 4]]), labels=torch.tensor([1, -100]))
    assert torch.isfinite(ignored.loss)


def test_classifier_head_settings_are_checked_where_it_is_built():
    from tlnlp.models import Classifier

    with pytest.raises(ValueError, match="hidden must be None .* got 0"):
        Classifier(torch.nn.Embedding(10, 4), num_labels=2, hidden=0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\).*got 1.5"):
        Classifier(torch.nn.Embedding(10, 4), num_labels=2, dropout=1.5)


def test_glue_refuses_names_prose_cannot_cite_and_says_which_value_it_cannot_format():
    from tlnlp.report import glue

    with pytest.raises(ValueError, match="glue name must be a non-empty word"):
        glue("", 1)
    with pytest.raises(ValueError, match="glue name must be .* got 'two words'"):
        glue("two words", 1)
    with pytest.raises(ValueError, match=r"glue\('acc'\): cannot format str 'high' with fmt='.3f'"):
        glue("acc", "high", ".3f")
    with pytest.warns(UserWarning, match=r"glue\('acc'\): the value is nan"):
        glue("acc", float("nan"), ".3f")
