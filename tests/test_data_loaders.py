"""Loaders against the counts documented in the mirror's SOURCE.md files, bad input, sampling.

Expected counts are the ones SOURCE.md (or the benchmark's publication) states, or are
recomputed here from the raw files by other means.
"""

from __future__ import annotations

import html
import json
import os
import re
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tlnlp.data import (
    ChecksumError,
    DataNotFoundError,
    TextClassificationData,
    amazon_domains,
    crossner_domains,
    general_english_sentences,
    gensim_test_file,
    google_analogies_path,
    load_amazon_reviews,
    load_clinc150,
    load_clinc150_domains,
    load_crossner,
    load_sst2,
    load_text8,
    load_tinyshakespeare,
    load_wikipedia_head500,
    load_wikitext2,
    load_wnut17,
    load_word_similarity,
    read_conll,
    sample_labelled,
    wikitext2_paragraphs,
)
from tlnlp.text import simple_tokenize

MIRROR = os.environ.get("TLNLP_DATA_DIR")
needs_mirror = pytest.mark.skipif(not MIRROR, reason="set TLNLP_DATA_DIR to the local data mirror (e.g. ../shared/data)")
BIO = re.compile(r"^(O|[BI]-[\w-]+)$")


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    """Never download, never touch the user's cache."""
    monkeypatch.setenv("TLNLP_OFFLINE", "1")
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path / "cache"))


# --- bad input (no mirror needed: arguments are checked before any file is opened) ---


@pytest.mark.parametrize(
    ("load", "bad", "valid"),
    [
        (load_sst2, "validation", ["train", "dev", "test"]),
        (load_wnut17, "valid", ["train", "dev", "test"]),
        (lambda split: load_crossner("ai", split), "training", ["train", "dev", "test"]),
        (load_clinc150, "dev", ["train", "val", "test", "oos_train", "oos_val", "oos_test"]),
        (load_wikitext2, "validation", ["valid", "test", "train"]),
        (load_word_similarity, "wordsim", ["wordsim353", "simlex999"]),
    ],
)
def test_unknown_split_lists_the_valid_ones(load, bad, valid):
    with pytest.raises(ValueError) as caught:
        load(bad)
    message = str(caught.value)
    assert repr(bad) in message and all(v in message for v in valid)


def test_unknown_domains_are_rejected_with_a_suggestion():
    with pytest.raises(ValueError, match="Did you mean 'politics'"):
        load_crossner("politic", "train")
    with pytest.raises(ValueError, match="books, dvd, electronics, kitchen"):
        load_amazon_reviews(["movies"])
    with pytest.raises(ValueError, match="head500"):
        general_english_sentences(include=("wikipedia",))


def test_without_mirror_and_offline_loaders_explain_how_to_get_the_data(monkeypatch, tmp_path):
    monkeypatch.setenv("TLNLP_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(DataNotFoundError, match="TLNLP_DATA_DIR.*sst2/dev.tsv"):
        load_sst2("dev")


def test_text8_copy_of_the_wrong_size_is_rejected(monkeypatch, tmp_path):
    fake = tmp_path / "mirror" / "text8" / "text8.zip"
    fake.parent.mkdir(parents=True)
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("text8", " anarchism originated as a term")
    monkeypatch.setenv("TLNLP_DATA_DIR", str(tmp_path / "mirror"))
    with pytest.raises(ChecksumError, match=r"31,344,016 bytes"):
        load_text8()


def test_read_conll_handles_blank_variants_and_reports_bad_lines(tmp_path):
    good = tmp_path / "good.conll"
    good.write_text("-DOCSTART-\tO\n\nI\tO\nmet\tO\nBob\tB-person\n\t\nin\tO\nOslo\tB-location\n\n\n")
    assert [(s.tokens, s.tags) for s in read_conll(good)] == [
        (["I", "met", "Bob"], ["O", "O", "B-person"]),
        (["in", "Oslo"], ["O", "B-location"]),
    ]
    bad = tmp_path / "bad.conll"
    bad.write_text("I\tO\nmet\n")
    with pytest.raises(ValueError, match="line 2"):
        read_conll(bad)


# --- loaders against the mirror ---


@needs_mirror
def test_sst2_counts_and_label_balance_match_source_md():
    expected = {"train": (29_780, 37_569), "dev": (428, 444), "test": (917, 904)}  # SOURCE.md
    for split, (negative, positive) in expected.items():
        data = load_sst2(split)
        assert len(data) == negative + positive
        assert np.bincount(data.labels).tolist() == [negative, positive]
        assert data.labels.dtype == np.int64
        assert all(text == text.strip() and text for text in data.texts)
    train = load_sst2("train")
    assert train.texts[0] == "hide new secretions from the parental units"  # the raw line has a space before TAB


def test_text_classification_subset_keeps_texts_and_labels_aligned():
    data = TextClassificationData(["a", "b", "c", "d"], [0, 1, 1, 0], ("neg", "pos"))
    part = data.subset(np.array([3, 1]))
    assert part.texts == ["d", "b"] and part.labels.tolist() == [0, 1] and part.label_names == ("neg", "pos")
    with pytest.raises(ValueError):
        TextClassificationData(["a"], [2], ("neg", "pos"))


@needs_mirror
def test_amazon_reviews_parse_the_raw_files():
    reviews = load_amazon_reviews()
    assert len(reviews) == 8_000
    assert reviews.groupby(["domain", "label"]).size().to_dict() == {
        (domain, label): 1_000 for domain in amazon_domains() for label in (0, 1)
    }
    assert (reviews.rating[reviews.label == 1] >= 4).all() and (reviews.rating[reviews.label == 0] <= 2).all()
    assert not reviews.text.str.contains(r"\s{2,}|</?review", regex=True).any()
    # Entities are unescaped once: only the source's double-escaped ones (&amp;quot;) leave one behind.
    raw = "".join(p.read_text(encoding="utf-8") for p in (Path(MIRROR) / "amazon_multidomain" / "raw").rglob("*.review"))
    parsed = reviews.title + " " + reviews.text
    for entity in ("&quot;", "&amp;", "&#8217;"):
        assert raw.count(entity) > 0 and parsed.str.count(entity).sum() == raw.count("&amp;" + entity[1:])
    # Independent derivation: the mirror's reviews.jsonl (same order, entities left escaped).
    with open(Path(MIRROR) / "amazon_multidomain" / "reviews.jsonl", encoding="utf-8") as stream:
        derived = [json.loads(line) for line in stream]
    clean = lambda text: " ".join(html.unescape(text).split())  # noqa: E731
    assert [clean(d["text"]) for d in derived] == reviews.text.tolist()
    assert [(d["domain"], d["label"], d["rating"]) for d in derived] == list(
        zip(reviews.domain, reviews.label, reviews.rating)
    )
    assert load_amazon_reviews(["kitchen"]).domain.unique().tolist() == ["kitchen"]


@needs_mirror
def test_ner_sentence_counts_match_source_md():
    expected = {  # CrossNER SOURCE.md: train/dev/test sentences
        "conll2003": (14_041, 3_250, 3_453), "politics": (200, 541, 651), "science": (200, 450, 543),
        "music": (100, 380, 465), "literature": (100, 400, 416), "ai": (100, 350, 431),
    }
    assert set(crossner_domains()) == set(expected)
    for domain, counts in expected.items():
        assert tuple(len(load_crossner(domain, split)) for split in ("train", "dev", "test")) == counts
    assert tuple(len(load_wnut17(split)) for split in ("train", "dev", "test")) == (3_394, 1_009, 1_287)
    conll_types = {tag[2:] for s in load_crossner("conll2003", "train") for tag in s.tags if tag != "O"}
    assert conll_types == {"person", "location", "organisation", "misc"}
    wnut_tags = [tag for s in load_wnut17("train") for tag in s.tags]
    assert all(BIO.match(tag) for tag in wnut_tags)
    assert {tag[2:] for tag in wnut_tags if tag != "O"} == {
        "person", "location", "group", "creative-work", "corporation", "product"
    }


@needs_mirror
def test_clinc150_counts_and_domains():
    sizes = {"train": 15_000, "val": 3_000, "test": 4_500, "oos_train": 100, "oos_val": 100, "oos_test": 1_000}
    per_intent = {"train": 100, "val": 20, "test": 30}
    for split, size in sizes.items():
        data = load_clinc150(split)
        assert len(data) == size
        counts = Counter(data.intents)
        if split in per_intent:
            assert len(counts) == 150 and set(counts.values()) == {per_intent[split]} and "oos" not in counts
        else:
            assert set(counts) == {"oos"}
    domains = load_clinc150_domains()
    assert len(domains) == 10 and all(len(intents) == 15 for intents in domains.values())
    assert {i for intents in domains.values() for i in intents} == set(load_clinc150("train").intents)


@needs_mirror
def test_text_corpora_match_source_md():
    valid, test = load_wikitext2("valid"), load_wikitext2("test")
    assert (len(valid.splitlines()), len(valid.split())) == (3_760, 213_886)
    assert (len(test.splitlines()), len(test.split())) == (4_358, 241_211)
    shakespeare = load_tinyshakespeare()
    assert len(shakespeare) == 1_115_394 and shakespeare.startswith("First Citizen:")


def test_word_similarity_files_parse_every_non_comment_line():
    for name, published in (("wordsim353", 353), ("simlex999", 999)):
        pairs = load_word_similarity(name)
        lines = gensim_test_file(f"{name}.tsv" if name == "wordsim353" else f"{name}.txt").read_text().splitlines()
        assert len(pairs) == published == sum(1 for line in lines if line.strip() and not line.startswith("#"))
        assert all(isinstance(w1, str) and isinstance(w2, str) and 0 <= s <= 10 for w1, w2, s in pairs)
    assert ("tiger", "cat", 7.35) in load_word_similarity("wordsim353")


def test_gensim_benchmarks_are_found():
    questions = google_analogies_path().read_text().splitlines()
    assert sum(line.startswith(":") for line in questions) == 14
    assert sum(len(line.split()) == 4 for line in questions) == 19_544
    articles = load_wikipedia_head500()
    assert len(articles) == 250 and all(articles)
    with pytest.raises(FileNotFoundError, match="no-such-file"):
        gensim_test_file("no-such-file.txt")


@needs_mirror
def test_general_english_pool_is_the_tokenised_sources_without_eval_splits():
    valid_only = general_english_sentences(include=("wikitext2_valid",))
    assert all(token == token.lower() and token != "unk" for s in valid_only for token in s)  # <unk> dropped
    assert valid_only[0][:3] == ["homarus", "gammarus", "known"]  # first paragraph, heading dropped
    conll = general_english_sentences(include=("conll2003_train",))
    assert conll[0] == simple_tokenize(" ".join(load_crossner("conll2003", "train")[0].tokens))
    pool = general_english_sentences()
    assert len(pool) == 250 + len(valid_only) + 8_000 + len(conll)
    test_paragraphs = {tuple(simple_tokenize(line)) for line in load_wikitext2("test").splitlines() if len(line) > 200}
    assert not test_paragraphs & {tuple(s) for s in pool}, "WikiText-2 test is an evaluation split"
    # the held-out paragraphs chapters evaluate on: every non-heading line of the test split, <unk> removed
    test_lines = [line for line in load_wikitext2("test").splitlines() if line.strip()]
    paragraphs = wikitext2_paragraphs("test")
    assert paragraphs[0].startswith("Robert   is an English film")  # the article's title heading is gone
    assert not any(p.startswith("=") or "<unk>" in p for p in paragraphs)
    body = [line for line in test_lines if not line.strip().startswith("=")]
    n_words = sum(len(line.split()) - line.split().count("<unk>") for line in body)
    assert sum(len(p.split()) for p in paragraphs) == n_words  # no text lost but the <unk> markers


# --- sample_labelled ---

LABELS = np.array([0] * 500 + [1] * 300 + [2] * 200)


def test_sample_labelled_is_balanced_and_reproducible():
    for n in (3, 30, 31, 32, 90):
        idx = sample_labelled(LABELS, n, seed=0)
        counts = np.bincount(LABELS[idx], minlength=3)
        assert len(idx) == n == len(set(idx.tolist())) and counts.max() - counts.min() <= (n % 3 > 0)
        assert np.array_equal(idx, sample_labelled(LABELS, n, seed=0))
    assert not np.array_equal(sample_labelled(LABELS, 30, seed=0), sample_labelled(LABELS, 30, seed=1))


def test_sample_labelled_nests_smaller_samples_in_larger_ones():
    for balanced in (True, False):
        small = set(sample_labelled(LABELS, 16, seed=3, balanced=balanced).tolist())
        large = set(sample_labelled(LABELS, 64, seed=3, balanced=balanced).tolist())
        assert small <= large


def test_sample_labelled_unbalanced_follows_the_label_distribution():
    idx = sample_labelled(LABELS, 600, seed=0, balanced=False)
    shares = np.bincount(LABELS[idx], minlength=3) / 600
    assert np.allclose(shares, [0.5, 0.3, 0.2], atol=0.05)  # hypergeometric sd < 0.02


@pytest.mark.parametrize(
    ("n", "balanced", "message"),
    [(1_001, True, "only 1000"), (2, True, "at least one example per class"), (0, True, "positive"),
     (700, True, "not enough examples"), (2.5, False, "positive integer")],
)
def test_sample_labelled_rejects_impossible_sizes(n, balanced, message):
    with pytest.raises(ValueError, match=message):
        sample_labelled(LABELS, n, seed=0, balanced=balanced)
