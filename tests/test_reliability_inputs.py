"""More wrong inputs that must be named, not passed on (issue 13); the rest are in test_reliability_api.py."""

from __future__ import annotations

import pytest
import torch

from tlnlp.experiment import describe
from tlnlp.models import Classifier
from tlnlp.text import TokenizedDataset, build_vocab, make_loader, tokenize


class WordTokenizer:
    """A stand-in for a Hugging Face tokenizer: enough of its call signature for tokenize()."""

    model_max_length = 16

    def __call__(self, texts, truncation=True, max_length=None):
        return {"input_ids": [[101] + [len(w) for w in t.split()][: max_length - 2] + [102] for t in texts]}


def test_tokenize_refuses_a_max_length_beyond_the_models_positions():
    with pytest.raises(ValueError, match="max_length=64 is longer than the tokenizer's model_max_length=16.*<= 16"):
        tokenize(WordTokenizer(), ["a b"], max_length=64)
    assert tokenize(WordTokenizer(), ["a bb"], max_length=16).input_ids == [[101, 1, 2, 102]]


def test_a_bool_label_is_not_taken_for_a_class_id():
    with pytest.raises(ValueError, match=r"label 0 is True \(a bool\)"):
        TokenizedDataset([[1, 2], [3]], [True, 0])


def test_an_empty_token_sequence_is_refused_with_its_index():
    """An all-padding row would make mean pooling divide by zero: NaN features, silently."""
    with pytest.raises(ValueError, match=r"1 token sequences are empty \(first at index \[2\]\).*unknown='map'"):
        TokenizedDataset([[1], [2], []], [0, 1, 0])


def test_make_loader_takes_a_tokenized_dataset_only():
    with pytest.raises(TypeError, match="takes a TokenizedDataset, got list.*tokenize"):
        make_loader([[1, 2], [3]], batch_size=2, shuffle=False)


def test_a_misspelt_unknown_policy_is_named_before_the_words_are_counted():
    with pytest.raises(ValueError, match=r"unknown='ignore'; choose one of map, drop, error"):
        build_vocab([["a"]], unknown="ignore")


def test_describe_says_when_it_leaves_nan_seeds_out():
    with pytest.warns(UserWarning, match="1 of 3 values are NaN and left out"):
        assert describe([0.8, float("nan"), 0.82]) == describe([0.8, 0.82])


def test_classifier_names_token_ids_its_body_has_no_row_for():
    model = Classifier(torch.nn.Embedding(10, 4), num_labels=2)
    with pytest.raises(ValueError, match=r"token id 12, but the Embedding's embedding has 10 rows \(ids 0..9\): tokenize with"):
        model(input_ids=torch.tensor([[1, 12]]))
    with pytest.raises(ValueError, match="token id -1"):
        model(input_ids=torch.tensor([[1, -1]]))
    with pytest.raises(TypeError, match="input_ids must be an integer tensor of token ids, got torch.float32"):
        model(input_ids=torch.tensor([[1.0, 2.0]]))
    assert model(input_ids=torch.tensor([[1, 9]])).logits.shape == (1, 2)


def test_classifier_refuses_a_dropout_that_is_not_a_probability():
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\).*got 1.5"):
        Classifier(torch.nn.Embedding(10, 4), num_labels=2, dropout=1.5)
