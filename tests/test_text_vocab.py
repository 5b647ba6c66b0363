"""The one word vocabulary: counting, specials, the three unknown-word policies, LM streams."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from tlnlp.text import EOS, PAD, UNK, EmptyVocabularyError, TextEncoder, Vocab, build_vocab, simple_tokenize

SENTENCES = [["the", "cat", "sat"], ["the", "dog", "sat", "down"], ["a", "cat"]]
SPECIALS = (PAD, UNK, EOS)


def test_build_vocab_keeps_frequent_words_in_count_order_after_the_specials() -> None:
    counts = Counter(w for s in SENTENCES for w in s)
    v = build_vocab(SENTENCES, min_count=2, specials=SPECIALS, unknown="map")
    expected = sorted((w for w in counts if counts[w] >= 2), key=lambda w: -counts[w])
    assert v.words == SPECIALS + tuple(expected)
    assert v.counts.tolist() == [0, 0, 0] + [counts[w] for w in expected]
    assert (v.pad_id, v.unk_id, v.eos_id) == (0, 1, 2) and v.vocab_size == len(v) == 6
    assert isinstance(v, TextEncoder)
    # max_size counts words, not specials; ties keep first appearance
    assert build_vocab(SENTENCES, min_count=1, max_size=3, specials=SPECIALS).words == SPECIALS + ("the", "cat", "sat")
    assert build_vocab(SENTENCES, min_count=1).pad_id is None


def test_the_three_unknown_policies() -> None:
    text = ["the", "bird", "sat"]
    dropped = build_vocab(SENTENCES, min_count=1, unknown="drop")
    assert dropped.decode(dropped.encode(text)) == ["the", "sat"]
    mapped = build_vocab(SENTENCES, min_count=1, specials=SPECIALS, unknown="map")
    assert mapped.decode(mapped.encode(text)) == ["the", UNK, "sat"]
    strict = build_vocab(SENTENCES, min_count=1, unknown="error")
    with pytest.raises(KeyError, match="'bird'"):
        strict.encode(text)
    assert strict.decode(strict.encode(["a", "dog"])) == ["a", "dog"]
    with pytest.raises(ValueError, match="<unk>"):
        build_vocab(SENTENCES, min_count=1, unknown="map")  # nothing to map to
    with pytest.raises(ValueError, match="choose one of"):
        Vocab(("a",), unknown="ignore")  # type: ignore[arg-type]


def test_pack_is_every_text_then_eos_and_encode_corpus_tracks_sentences() -> None:
    v = build_vocab(SENTENCES, min_count=1, specials=SPECIALS, unknown="map")
    texts = [["the", "cat"], ["a", "zebra"]]
    stream = v.pack(texts)
    assert stream.dtype == torch.long
    assert v.decode(stream.tolist()) == ["the", "cat", EOS, "a", UNK, EOS]
    corpus = build_vocab(SENTENCES, min_count=2).encode_corpus(texts)
    assert corpus.ids.tolist() == [0, 1] and corpus.sentence_ids.tolist() == [0, 0] and len(corpus) == 2
    assert v.unknown_rate(texts) == pytest.approx(1 / 4)


def test_extend_appends_new_words_and_keeps_existing_ids() -> None:
    v = build_vocab(SENTENCES, min_count=2, specials=SPECIALS, unknown="map")
    grown = v.extend(["dog", "the", "down"], counts=[1, 99, 1])
    assert grown.words[: len(v)] == v.words and grown.words[len(v) :] == ("dog", "down")
    assert all(grown[w] == v[w] for w in v.words)
    assert grown.counts.tolist() == v.counts.tolist() + [1, 1]
    assert grown.unknown == "map" and grown.specials == SPECIALS


def test_bad_input_raises_clear_errors() -> None:
    with pytest.raises(EmptyVocabularyError, match="min_count"):
        build_vocab(SENTENCES, min_count=10)
    with pytest.raises(TypeError, match="tokenise"):
        build_vocab(["a sentence as a string"], min_count=1)
    with pytest.raises(TypeError, match="simple_tokenize"):
        build_vocab(SENTENCES, min_count=1).encode("the cat")
    with pytest.raises(ValueError, match="unique"):
        Vocab(("a", "b", "a"))
    with pytest.raises(ValueError, match="first"):
        Vocab(("a", PAD), specials=(PAD,))
    with pytest.raises(KeyError, match="not in the vocabulary"):
        build_vocab(SENTENCES, min_count=1)["zebra"]
    with pytest.raises(ValueError, match="counts"):
        Vocab(("a", "b"), np.array([1]))


def test_a_special_spelled_in_the_text_is_not_counted_twice() -> None:
    v = build_vocab([["<unk>", "a", "<unk>"]], min_count=1, specials=SPECIALS, unknown="map")
    assert v.words == SPECIALS + ("a",)


def test_simple_tokenize_lowercases_and_keeps_inner_apostrophes() -> None:
    assert simple_tokenize("Don't PANIC -- it's 42!") == ["don't", "panic", "it's", "42"]
    assert simple_tokenize("Café au lait", lowercase=False) == ["Café", "au", "lait"]
