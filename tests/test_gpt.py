"""Tests of tlnlp.models.gpt, tlnlp.lm and tlnlp.recipes.gpt: GPT-2 equivalence, causality,
generation, LM data, metrics and the training recipe through fit.

The reference for the model is Hugging Face's ``GPT2LMHeadModel``, an independent
implementation of the same architecture: loaded with the same (random) weights, both must
produce the same logits.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tlnlp.lm import (
    RandomBlocks,
    SequentialBlocks,
    estimate_loss,
    evaluate_loss,
    get_batch,
    iter_blocks,
    split_train_val,
    strided_perplexity,
)
from tlnlp.models import Classifier, Output
from tlnlp.models.gpt import GPT, GPTConfig, GPTWeightsError
from tlnlp.optim import cosine_with_warmup, decay_groups
from tlnlp.recipes.gpt import LMTrainConfig, load_or_train_gpt, train_lm
from tlnlp.text.tokenizers import BPETokenizer, CharTokenizer, UnknownCharacterError, load_or_train_bpe
from tlnlp.train import evaluate

transformers = pytest.importorskip("transformers")

VOCAB, N_POS = 100, 64


@pytest.fixture(scope="module")
def hf_model():
    """A randomly initialised small GPT-2 (biases and LayerNorms perturbed so they matter)."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=2, n_head=2, n_embd=32, vocab_size=VOCAB, n_positions=N_POS, bos_token_id=0, eos_token_id=0
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


def small_gpt(attention: str = "sdpa", seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    config = dict(vocab_size=50, block_size=32, n_layer=2, n_head=4, n_embd=32, attention=attention)
    return GPT(GPTConfig(**{**config, **overrides})).eval()


@pytest.mark.parametrize("attention", ["sdpa", "manual"])
def test_logits_match_huggingface_gpt2(hf_model, attention):
    model = GPT.from_hf(hf_model, attention=attention)
    idx = torch.randint(VOCAB, (3, N_POS), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf_model(idx).logits
        out = model(idx)
    assert isinstance(out, Output) and "loss" not in out
    torch.testing.assert_close(out.logits, expected, atol=1e-5, rtol=0)


def test_loss_matches_huggingface_gpt2(hf_model):
    model = GPT.from_hf(hf_model)
    idx = torch.randint(VOCAB, (2, 20), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = hf_model(idx, labels=idx).loss  # HF shifts the labels itself
        loss = model(idx[:, :-1], idx[:, 1:]).loss  # positional (input_ids, labels) works too
    torch.testing.assert_close(loss, expected, atol=1e-5, rtol=0)


def test_labels_of_minus_100_are_left_out_of_the_loss():
    model = small_gpt()
    idx = torch.randint(50, (2, 10), generator=torch.Generator().manual_seed(8))
    labels = idx.clone()
    labels[:, 6:] = -100
    with torch.no_grad():
        logits = model(idx).logits
        expected = F.cross_entropy(logits[:, :6].reshape(-1, 50), idx[:, :6].reshape(-1))
        torch.testing.assert_close(model(input_ids=idx, labels=labels).loss, expected)


def test_loading_transposes_conv1d_weights(hf_model):
    model = GPT.from_hf(hf_model)
    hf_qkv = hf_model.transformer.h[0].attn.c_attn.weight  # Conv1D: (in, out)
    assert torch.equal(model.blocks[0].attn.qkv.weight, hf_qkv.t())
    assert model.lm_head.weight is model.tok_emb.weight  # still tied after loading


def test_loading_into_a_mismatched_config_raises_a_clear_error(hf_model):
    wrong = GPTConfig(vocab_size=VOCAB, block_size=N_POS, n_layer=2, n_head=2, n_embd=48)
    with pytest.raises(GPTWeightsError, match=r"(?s)shape mismatch.*tok_emb\.weight.*\(100, 48\).*\(100, 32\)"):
        GPT.from_hf(hf_model, config=wrong)
    too_deep = GPTConfig(vocab_size=VOCAB, block_size=N_POS, n_layer=3, n_head=2, n_embd=32)
    with pytest.raises(GPTWeightsError, match=r"missing in checkpoint: \['blocks\.2\."):
        GPT.from_hf(hf_model, config=too_deep)
    untied = {k: v.clone() for k, v in hf_model.state_dict().items()}
    untied["lm_head.weight"] += 1.0
    with pytest.raises(GPTWeightsError, match="ties them"):
        GPT(GPT.config_from_hf(hf_model.config)).load_hf_state_dict(untied)


def test_unsupported_gpt2_options_are_refused():
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=20, activation_function="relu")
    with pytest.raises(GPTWeightsError, match="activation_function"):
        GPT.config_from_hf(config)


@pytest.mark.parametrize("attention", ["sdpa", "manual"])
def test_changing_a_future_token_leaves_earlier_logits_unchanged(attention):
    model = small_gpt(attention)
    idx = torch.randint(50, (2, 24), generator=torch.Generator().manual_seed(0))
    changed = idx.clone()
    t = 15
    changed[:, t] = (changed[:, t] + 7) % 50
    with torch.no_grad():
        before = model(idx).logits
        after = model(changed).logits
    torch.testing.assert_close(after[:, :t], before[:, :t], atol=1e-6, rtol=0)
    assert (after[:, t:] - before[:, t:]).abs().max() > 1e-3  # and the change is seen from t on


def test_sdpa_and_manual_attention_agree():
    sdpa, manual = small_gpt("sdpa"), small_gpt("manual")
    manual.load_state_dict(sdpa.state_dict())
    idx = torch.randint(50, (4, 32), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(manual(idx).logits, sdpa(idx).logits, atol=1e-5, rtol=1e-5)


def test_attention_weights_are_causal_distributions():
    model = small_gpt()
    idx = torch.randint(50, (2, 12), generator=torch.Generator().manual_seed(4))
    weights = model.attention_weights(idx)
    assert len(weights) == model.config.n_layer
    for w in weights:
        assert w.shape == (2, model.config.n_head, 12, 12)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, model.config.n_head, 12))
        above_diagonal = torch.triu(torch.ones(12, 12, dtype=torch.bool), diagonal=1)
        assert torch.all(w[..., above_diagonal] == 0)
        assert torch.all(w[..., 0, 0] == 1)  # the first position can only attend to itself


def test_manual_attention_is_the_textbook_formula():
    """softmax(QKᵀ/√d + mask) V of one head, written out independently."""
    model = small_gpt(n_layer=1, n_head=1)
    attn = model.blocks[0].attn
    x = torch.randn(1, 6, 32)
    q, k, v = attn.qkv(x).split(32, dim=2)
    scores = q[0] @ k[0].T / math.sqrt(32)
    scores = scores + torch.triu(torch.full((6, 6), float("-inf")), diagonal=1)
    expected = attn.proj(F.softmax(scores, dim=-1) @ v[0])
    with torch.no_grad():
        got, _ = attn(x)
    torch.testing.assert_close(got[0], expected.detach(), atol=1e-5, rtol=1e-5)


def test_generate_is_reproducible_and_top_k_1_is_greedy():
    model = small_gpt()
    prompt = torch.randint(50, (2, 5), generator=torch.Generator().manual_seed(5))
    a = model.generate(prompt, 10, temperature=0.8, top_k=10, generator=torch.Generator().manual_seed(0))
    b = model.generate(prompt, 10, temperature=0.8, top_k=10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and torch.equal(a[:, :5], prompt)

    greedy = prompt.clone()
    with torch.no_grad():
        for _ in range(10):
            greedy = torch.cat([greedy, model(greedy).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    sampled = model.generate(prompt, 10, top_k=1, generator=torch.Generator().manual_seed(123))
    assert torch.equal(sampled, greedy)


def test_generate_crops_the_context_and_restores_training_mode():
    model = small_gpt(block_size=8).train()
    out = model.generate(torch.zeros(1, 1, dtype=torch.long), 20, generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 21) and model.training
    with pytest.raises(ValueError, match="temperature"):
        model.generate(out, 1, temperature=0.0)


def test_loss_at_initialisation_is_close_to_log_vocab():
    model = small_gpt(vocab_size=200)
    x, y = get_batch(torch.randint(200, (5000,)), 32, 16, torch.Generator().manual_seed(0))
    with torch.no_grad():
        loss = model(x, labels=y).loss
    assert abs(loss.item() - math.log(200)) < 0.1  # the small init makes the output nearly uniform


def test_batches_are_contiguous_blocks_shifted_by_one():
    data = torch.randint(1000, (500,), generator=torch.Generator().manual_seed(0))
    x, y = get_batch(data, block_size=16, batch_size=8, generator=torch.Generator().manual_seed(1))
    assert x.shape == y.shape == (8, 16)
    assert torch.equal(x[:, 1:], y[:, :-1])
    for row_x, row_y in zip(x, y):
        starts = [i for i in range(len(data) - 16) if torch.equal(data[i : i + 16], row_x)]
        assert starts and torch.equal(data[starts[0] + 1 : starts[0] + 17], row_y)
    x2, _ = get_batch(data, 16, 8, torch.Generator().manual_seed(1))
    assert torch.equal(x, x2)  # seeded: the same batch again
    with pytest.raises(ValueError, match="too few"):
        get_batch(data[:10], 16, 2)


def test_iter_blocks_predicts_every_token_once():
    data = torch.arange(23)
    ys = torch.cat([y.flatten() for _, y in iter_blocks(data, block_size=5, batch_size=3)])
    assert torch.equal(ys, torch.arange(1, 21))  # 4 full blocks; the partial one is dropped
    train, val = split_train_val(torch.arange(100))
    assert torch.equal(torch.cat([train, val]), torch.arange(100)) and len(val) == 10


def test_evaluate_loss_is_the_token_mean_cross_entropy():
    model = small_gpt()
    data = torch.randint(50, (200,), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        logits = model(data[:192].view(6, 32)).logits
    expected = F.cross_entropy(logits.reshape(-1, 50), data[1:193]).item()
    assert evaluate_loss(model, data, block_size=32, batch_size=4) == pytest.approx(expected, rel=1e-5)


def test_strided_perplexity_gives_each_token_its_window_of_context():
    model = small_gpt()
    data = torch.randint(50, (70,), generator=torch.Generator().manual_seed(7))
    L = 8
    # stride 1: token i is predicted from the (up to) L - 1 tokens before it, computed one by one
    nll = []
    with torch.no_grad():
        for i in range(1, len(data)):
            context = data[max(0, i - (L - 1)) : i].unsqueeze(0)
            logits = model(context).logits
            nll.append(F.cross_entropy(logits[0, -1], data[i]).item())
    expected = math.exp(sum(nll) / len(nll))
    assert strided_perplexity(model, data, context_length=L, stride=1) == pytest.approx(expected, rel=1e-5)
    # stride L - 1 on 1 + 9 (L - 1) tokens: nine windows overlapping by one token, all positions scored
    data = data[: 1 + 9 * (L - 1)]
    with torch.no_grad():
        windows = torch.stack([data[j * (L - 1) : j * (L - 1) + L] for j in range(9)])
        logits = model(windows).logits
    chunked = F.cross_entropy(logits[:, :-1].reshape(-1, 50), windows[:, 1:].reshape(-1)).item()
    assert strided_perplexity(model, data, L, stride=L - 1) == pytest.approx(math.exp(chunked), rel=1e-5)
    with pytest.raises(ValueError, match="stride"):
        strided_perplexity(model, data, L, stride=L)


def test_char_tokenizer_round_trips_and_names_unknown_characters():
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
    tok = CharTokenizer.from_text(text)
    assert tok.vocab_size == len(set(text))
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode("".join(sorted(set(text)))) == list(range(tok.vocab_size))  # sorted ids
    with pytest.raises(UnknownCharacterError, match="'Z'"):
        tok.encode("Z")
    with pytest.raises(KeyError):  # the protocol's unknown="error"
        tok.encode("Z")
    dropping = CharTokenizer.from_text(text, unknown="drop")
    assert dropping.encode("ZFirstZ") == tok.encode("First")
    assert tok.pack([text, "me"]).tolist() == tok.encode(text) + tok.encode("me")
    with pytest.raises(ValueError, match="no unknown-character id"):
        CharTokenizer.from_text(text, unknown="map")


def test_bpe_tokenizer_round_trips_any_text_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path))
    corpus = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"] * 30
    tok = load_or_train_bpe(corpus, vocab_size=300)
    unseen = "Zebras über the café!  \n 42"
    assert tok.decode(tok.encode(unseen)) == unseen  # byte-level: nothing is unknown
    assert len(tok.encode("the cat sat")) < len("the cat sat")  # merges learned
    cached = list((tmp_path / "artifacts").glob("bpe-*.json"))
    assert len(cached) == 1
    again = load_or_train_bpe(corpus, vocab_size=300)
    assert again.encode(unseen) == tok.encode(unseen)
    docs = tok.pack(["the cat", "the dog"])
    assert docs.tolist() == tok.encode("the cat") + [tok.eot_id] + tok.encode("the dog") + [tok.eot_id]
    assert isinstance(tok, BPETokenizer) and tok.vocab_size <= 300


def test_learning_rate_schedule_warms_up_then_follows_a_cosine():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
    scheduler = cosine_with_warmup(optimizer, warmup=100, decay_steps=1000, min_lr_ratio=0.1)
    lrs = []
    for _ in range(1200):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert all(a < b for a, b in zip(lrs[:100], lrs[1:101]))  # increasing during warm-up
    assert lrs[0] == pytest.approx(1e-3 / 101)
    assert lrs[100] == pytest.approx(1e-3)
    assert lrs[550] == pytest.approx(1e-4 + 0.5 * 9e-4)  # half-way: the cosine is at its mean
    assert lrs[325] == pytest.approx(1e-4 + 9e-4 * (1 + math.cos(math.pi / 4)) / 2)
    assert all(a >= b for a, b in zip(lrs[100:1000], lrs[101:1001]))
    assert lrs[1000] == lrs[1199] == pytest.approx(1e-4)


def test_decay_groups_exempt_vectors_and_count_tied_weights_once():
    model = small_gpt(bias=True)
    groups = decay_groups(model, weight_decay=0.1)
    decayed, exempt = ({id(p) for p in g["params"]} for g in groups)
    named = dict(model.named_parameters())  # tied lm_head.weight appears once, as tok_emb.weight
    assert decayed == {id(p) for n, p in named.items() if not n.endswith("bias") and ".ln_" not in n and "ln_f" not in n}
    assert exempt == {id(p) for n, p in named.items() if n.endswith("bias") or "ln_" in n}
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    model.tok_emb.weight.requires_grad_(False)
    assert id(model.tok_emb.weight) not in {id(p) for g in decay_groups(model, 0.1) for p in g["params"]}


def test_forward_features_feed_a_last_token_classifier_that_ignores_right_padding():
    gpt = small_gpt()
    clf = Classifier(gpt, num_labels=3, pool="last").eval()
    short = torch.tensor([[5, 6, 7]])
    padded = torch.tensor([[5, 6, 7, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    with torch.no_grad():
        expected = clf.head(gpt.forward_features(short)[:, -1])  # the last real token's final-LN state
        torch.testing.assert_close(clf(padded, attention_mask=mask).logits, expected)
        torch.testing.assert_close(clf(short).logits, expected)
        hidden = gpt.forward_features(short)
        torch.testing.assert_close(gpt.lm_head(hidden), gpt(short).logits)
    with pytest.raises(ValueError, match="padding on the right"):
        gpt.forward_features(padded, attention_mask=torch.tensor([[0, 0, 1, 1, 1]]))


def test_block_sources_give_the_batches_of_get_batch_and_iter_blocks():
    data = torch.arange(300)
    source = RandomBlocks(data, block_size=8, batch_size=4, num_batches=3, seed=5)
    first, second = list(source), list(source)
    g = torch.Generator().manual_seed(5)
    expected = [get_batch(data, 8, 4, g) for _ in range(6)]
    for batch, (x, y) in zip(first + second, expected):  # a second pass continues the stream
        assert torch.equal(batch["input_ids"], x) and torch.equal(batch["labels"], y)
    blocks = list(SequentialBlocks(data, block_size=8, batch_size=5))
    assert len(blocks) == len(SequentialBlocks(data, 8, 5))
    for batch, (x, y) in zip(blocks, iter_blocks(data, 8, 5), strict=True):
        assert torch.equal(batch["input_ids"], x) and torch.equal(batch["labels"], y)


def test_exact_loss_through_fit_evaluate_equals_evaluate_loss():
    model = small_gpt()
    data = torch.randint(50, (500,), generator=torch.Generator().manual_seed(9))
    through_fit = evaluate(model, SequentialBlocks(data, 32, batch_size=5), device="cpu")["loss"]  # last batch smaller
    assert through_fit == pytest.approx(evaluate_loss(model, data, 32, batch_size=5), rel=1e-6)
    noisy = evaluate(model, RandomBlocks(data, 32, 4, num_batches=3, seed=1), device="cpu")["loss"]
    assert noisy == pytest.approx(estimate_loss(model, data, 32, 4, 3, torch.Generator().manual_seed(1)), rel=1e-6)


def test_train_lm_learns_a_repeating_sequence():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=32, n_layer=1, n_head=2, n_embd=32))
    data = torch.arange(2000) % 11  # perfectly predictable after one token
    cfg = LMTrainConfig(max_iters=150, batch_size=8, block_size=32, lr=3e-3, warmup_iters=10, eval_interval=50, eval_iters=4)
    history = train_lm(model, data[:1800], data[1800:], cfg, progress=False, device="cpu")
    assert [r["step"] for r in history.records] == [0, 50, 100, 150]
    assert history.records[0]["eval_loss"] == pytest.approx(math.log(11), abs=0.2)
    assert history.last["eval_loss"] < 0.2
    assert len(history.step_losses) == 150 and history.last["ms_per_iter"] > 0 and not model.training


def test_train_lm_is_the_hand_written_nanogpt_step():
    """train_lm through fit takes exactly the steps of the loop it replaced, written out here."""
    cfg = LMTrainConfig(max_iters=12, batch_size=4, block_size=16, warmup_iters=3, eval_interval=12, seed=3)
    data = torch.randint(50, (600,), generator=torch.Generator().manual_seed(10))
    model, reference = small_gpt(block_size=16).train(), small_gpt(block_size=16).train()
    train_lm(model, data, None, cfg, progress=False, device="cpu")
    decayed = [p for p in reference.parameters() if p.dim() >= 2]
    optimizer = torch.optim.AdamW(
        [{"params": decayed, "weight_decay": cfg.weight_decay},
         {"params": [p for p in reference.parameters() if p.dim() < 2], "weight_decay": 0.0}],
        lr=cfg.lr, betas=cfg.betas,
    )
    g = torch.Generator().manual_seed(cfg.seed)
    for step in range(cfg.max_iters):
        if step < cfg.warmup_iters:
            lr = cfg.lr * (step + 1) / (cfg.warmup_iters + 1)
        else:
            progress = (step - cfg.warmup_iters) / (cfg.max_iters - cfg.warmup_iters)
            lr = cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(data, cfg.block_size, cfg.batch_size, g)
        reference(x, labels=y).loss.backward()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    for (name, got), want in zip(model.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4, msg=name)


def test_load_or_train_gpt_caches_one_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path))
    config = GPTConfig(vocab_size=11, block_size=16, n_layer=1, n_head=2, n_embd=16)
    recipe = LMTrainConfig(max_iters=6, batch_size=4, block_size=16, warmup_iters=1, eval_interval=3, exact_val=True)
    data = torch.arange(400) % 11
    model, history = load_or_train_gpt("tiny", config, recipe, data[:300], data[300:], device="cpu", progress=False)
    files = list((tmp_path / "artifacts").glob("tiny-*.safetensors"))
    assert len(files) == 1
    again, cached = load_or_train_gpt("tiny", config, recipe, data[:300], data[300:], device="cpu", progress=False)
    assert cached.records == history.records and cached.step_losses == history.step_losses
    for got, want in zip(again.state_dict().values(), model.state_dict().values()):
        assert torch.equal(got, want)
    assert again.lm_head.weight is again.tok_emb.weight and not again.training  # still tied after loading


def test_wikitext_is_detokenized_and_split_into_articles():
    from tlnlp.text.wikitext import detokenize_wikitext, wikitext_articles, wikitext_documents

    raw = (
        " \n = Valkyria Chronicles III = \n \n"
        " The game 's score was 1 @,@ 200 ( out of 2 @.@ 5 k ) ; critics don 't agree . \n"
        " = = Plot = = \n"
        ' The " Nameless " unit fights a well @-@ known army . \n'
        " = Tower Building = \n The tower is 10 @.@ 5 m tall . \n"
    )
    articles = wikitext_articles(raw)
    assert articles == [
        "Valkyria Chronicles III\n"
        "The game's score was 1,200 (out of 2.5 k); critics don't agree.\n"
        "Plot\n"
        'The "Nameless" unit fights a well-known army.',
        "Tower Building\nThe tower is 10.5 m tall.",
    ]
    assert detokenize_wikitext(" A <unk> , B . ") == "A <unk>, B."  # unknown-word markers are kept
    assert wikitext_articles(raw, detokenize=False)[1] == "= Tower Building =\nThe tower is 10 @.@ 5 m tall ."
    # documents of sentences for NSP: titles and headings dropped, <unk> made a BERT token
    assert wikitext_documents(raw + " It has a <unk> . Its roof is red . \n") == [
        ["The game's score was 1,200 (out of 2.5 k); critics don't agree.", 'The "Nameless" unit fights a well-known army.'],
        ["The tower is 10.5 m tall.", "It has a [UNK].", "Its roof is red."],
    ]
