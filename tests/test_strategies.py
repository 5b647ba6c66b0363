"""tlnlp.transfer.configure: each strategy on each kind of body the book has, checked by which
parameters train (counted from the model's own parameter names, not from configure's code)."""

from __future__ import annotations

from typing import Callable

import pytest
import torch
from torch import nn
from transformers import BertConfig, BertForPreTraining, BertModel

from tlnlp.models import GPT, Classifier, GPTConfig
from tlnlp.models.lstm import LSTMConfig, LSTMEncoder
from tlnlp.train import fit
from tlnlp.transfer import STRATEGIES, UnknownStrategyError, configure, count_parameters, transfer_groups


def hf_bert() -> nn.Module:
    return BertModel(BertConfig(hidden_size=16, num_hidden_layers=3, num_attention_heads=2, intermediate_size=32, vocab_size=40))


def bag_of_embeddings() -> nn.Module:
    return nn.Embedding(40, 16, padding_idx=0)


def lstm_encoder() -> nn.Module:
    return LSTMEncoder(LSTMConfig(vocab_size=40, emb_dim=16, hidden_dim=16, n_layers=3))


def gpt() -> nn.Module:
    return GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=3, n_head=2, n_embd=16))


def mini_bert_body() -> nn.Module:
    """The body chapter 5 pretrains: a BertForPreTraining's encoder, pooled by its NSP-trained pooler."""
    config = BertConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, vocab_size=40)
    return BertForPreTraining(config).bert


# body factory, pooling, name of the stack of layers in the body (None: no stack), LoRA-able,
# prefixes of body parameters above the stack (they train with the top layer)
BODIES: dict[str, tuple[Callable[[], nn.Module], str, str | None, bool, tuple[str, ...]]] = {
    "hf-bert": (hf_bert, "mean", "body.encoder.layer", True, ()),
    "mini-bert": (mini_bert_body, "pooler", "body.encoder.layer", True, ("body.pooler.",)),
    "lstm": (lstm_encoder, "concat", "body.layers", False, ()),
    "gpt": (gpt, "last", "body.blocks", True, ("body.ln_f.",)),
    "embedding": (bag_of_embeddings, "mean", None, False, ()),
}


def make(kind: str, seed: int = 0) -> Classifier:
    factory, pool = BODIES[kind][:2]
    torch.manual_seed(seed)
    return Classifier(factory(), num_labels=2, pool=pool)


def trainable(model: nn.Module) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


def head_names(model: nn.Module) -> set[str]:
    return {name for name, _ in model.named_parameters() if name.startswith("head.")}


def layer_of(name: str, stack: str) -> int | None:
    if not name.startswith(stack + "."):
        return None
    return int(name[len(stack) + 1 :].split(".")[0])


@pytest.mark.parametrize("kind", BODIES)
def test_probe_trains_the_head_only(kind: str) -> None:
    model, _, _ = configure(make(kind), "probe", lr=1e-3, total_steps=10)
    assert trainable(model) == head_names(model)


@pytest.mark.parametrize("kind", BODIES)
def test_full_trains_everything(kind: str) -> None:
    model = make(kind)
    nn.Module.requires_grad_(model, False)  # whatever was frozen before
    model, optimizer, _ = configure(model, "full", lr=1e-3, total_steps=10)
    assert trainable(model) == {n for n, _ in model.named_parameters()}
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == count_parameters(model)


@pytest.mark.parametrize("kind", BODIES)
def test_top_k_trains_the_top_layers_and_the_head(kind: str) -> None:
    stack, above = BODIES[kind][2], BODIES[kind][4]
    model = make(kind)
    if stack is None:
        with pytest.raises(ValueError, match="needs a body with a stack of layers.*use .probe., .full. or .gradual."):
            configure(model, "top-1", lr=1e-3, total_steps=10)
        return
    n_layers = 1 + max(l for n, _ in model.named_parameters() if (l := layer_of(n, stack)) is not None)
    model, _, _ = configure(model, "top-2", lr=1e-3, total_steps=10)
    expected = head_names(model) | {
        n
        for n, _ in model.named_parameters()
        if ((l := layer_of(n, stack)) is not None and l >= n_layers - 2) or n.startswith(above)
    }
    assert trainable(model) == expected


@pytest.mark.parametrize("kind", BODIES)
def test_gradual_thaws_from_the_top_with_rates_falling_by_the_factor(kind: str) -> None:
    steps = 12
    model, optimizer, scheduler = configure(make(kind), "gradual", lr=1e-3, total_steps=steps, schedule="constant")
    groups = transfer_groups(model)
    assert trainable(model) == head_names(model)  # the head first
    rates = [g["lr"] for g in optimizer.param_groups]
    assert rates[-1] == pytest.approx(1e-3)
    assert all(a * 2.6 == pytest.approx(b) for a, b in zip(rates, rates[1:]))
    thawed = []
    for _ in range(steps):
        scheduler.step()
        thawed.append(len([g for g in groups if g.trainable]))
    assert thawed == sorted(thawed) and thawed[-1] == len(groups)  # one more group at a time, all by the end
    assert trainable(model) == {n for n, _ in model.named_parameters()}


@pytest.mark.parametrize("kind", BODIES)
def test_lora_trains_adapters_and_the_head_or_says_why_it_cannot(kind: str) -> None:
    loraable = BODIES[kind][3]
    if not loraable:
        with pytest.raises(ValueError, match="found no attention projections"):
            configure(make(kind), "lora", lr=1e-3, total_steps=10)
        return
    base_total = count_parameters(make(kind))
    model, _, _ = configure(make(kind), "lora", lr=1e-3, total_steps=10)
    names = trainable(model)
    assert names and all("lora_" in n or ".head." in n for n in names)
    assert any("lora_A" in n for n in names) and any("head" in n for n in names)
    assert count_parameters(model, trainable_only=True) < 0.2 * base_total


@pytest.mark.parametrize("kind", BODIES)
@pytest.mark.parametrize("strategy", ["probe", "full", "top-1", "gradual", "lora"])
def test_every_setup_trains_under_fit(kind: str, strategy: str) -> None:
    if (strategy == "lora" and not BODIES[kind][3]) or (strategy == "top-1" and BODIES[kind][2] is None):
        pytest.skip("refused with a clear error (tested above)")
    model, optimizer, scheduler = configure(make(kind), strategy, lr=1e-2, total_steps=6)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    torch.manual_seed(0)
    ids = torch.randint(1, 40, (8, 5))
    batches = [{"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.arange(8) % 2}]
    history = fit(model, batches, optimizer=optimizer, scheduler=scheduler, max_steps=6, progress=False, device="cpu")
    assert len(history.step_losses) == 6
    moved = [n for n, p in model.named_parameters() if n in before and not torch.equal(p, before[n])]
    assert any("head" in n for n in moved)


def test_unknown_strategy_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownStrategyError) as err:
        configure(make("embedding"), "freeze-all", lr=1e-3, total_steps=10)
    assert all(name in str(err.value) for name in STRATEGIES)
    assert isinstance(err.value, ValueError)


def test_a_model_without_the_named_head_is_refused_with_its_modules() -> None:
    net = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 2))
    with pytest.raises(ValueError, match=r"no module named 'head'.*\['0', '1'\]"):
        configure(net, "probe", lr=1e-3, total_steps=10)
    model, _, _ = configure(net, "probe", lr=1e-3, total_steps=10, head="1")
    assert trainable(model) == {"1.weight", "1.bias"}


def test_bad_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="total_steps must be an int >= 2"):
        configure(make("embedding"), "full", lr=1e-3, total_steps=1)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        configure(make("embedding"), "full", lr=0.0, total_steps=5)
    with pytest.raises(ValueError, match="unknown schedule"):
        configure(make("embedding"), "full", lr=1e-3, total_steps=5, schedule="cosine")
