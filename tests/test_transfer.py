"""Tests of tlnlp.transfer: counts are checked against hand counts from the model config,
schedules against the ULMFiT formulas written out independently here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel, BertConfig, BertModel

from tlnlp.config import seed_everything
from tlnlp.train import fit
from tlnlp.models import Classifier
from tlnlp.transfer import (
    GradualUnfreezer,
    LengthBucketSampler,
    PadCollator,
    StepTogether,
    TokenizedDataset,
    UnknownModuleError,
    add_lora,
    count_parameters,
    discriminative_lr_groups,
    freeze,
    layer_groups,
    make_loader,
    slanted_triangular,
    trainable_parameters,
    unfreeze,
)

H, I, V, P, N_LAYERS, N_LABELS = 16, 32, 60, 40, 3, 2


def tiny_config(layers: int = N_LAYERS) -> BertConfig:
    return BertConfig(
        hidden_size=H,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=I,
        vocab_size=V,
        max_position_embeddings=P,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )


def tiny_classifier(layers: int = N_LAYERS, seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    return Classifier(BertModel(tiny_config(layers)), num_labels=N_LABELS)


# Hand counts of a BERT layer and of its embeddings, from the config alone.
def per_layer(h: int, i: int) -> int:
    attention = 4 * (h * h + h)  # query, key, value, output dense
    layer_norms = 2 * (2 * h)  # after attention and after the feed-forward block
    feed_forward = (h * i + i) + (i * h + h)
    return attention + layer_norms + feed_forward


def embeddings(h: int, vocab: int, positions: int, types: int = 2) -> int:
    return (vocab + positions + types) * h + 2 * h  # three tables + LayerNorm


def head(h: int, labels: int) -> int:
    return h * labels + labels


def trainable_count(model: torch.nn.Module) -> int:
    return count_parameters(model, trainable_only=True)


# ---------------------------------------------------------------- which parameters train


def test_full_model_count_matches_config_and_pooler_is_removed():
    model = tiny_classifier()
    assert model.body.pooler is None  # unused by mean pooling: neither runs nor trains
    expected = embeddings(H, V, P) + N_LAYERS * per_layer(H, I) + head(H, N_LABELS)
    assert count_parameters(model) == trainable_count(model) == expected


def test_minilm_layer_groups_match_hand_counts():
    from tlnlp.models.encoders import offline_model_dir

    config = AutoConfig.from_pretrained(offline_model_dir())
    model = Classifier(AutoModel.from_config(config), num_labels=2)
    groups = layer_groups(model)
    h, i = config.hidden_size, config.intermediate_size
    assert [g.name for g in groups] == ["embeddings", *[f"layer.{k}" for k in range(config.num_hidden_layers)], "head"]
    assert groups[0].numel == embeddings(h, config.vocab_size, config.max_position_embeddings, config.type_vocab_size)
    assert all(g.numel == per_layer(h, i) for g in groups[1:-1])
    assert groups[-1].numel == head(h, 2)
    assert sum(g.numel for g in groups) == count_parameters(model)


def test_minilm_strategy_counts_match_hand_counts():
    """The trainable counts of chapter 6's table, from MiniLM's config alone."""
    from tlnlp.models.encoders import offline_model_dir

    config = AutoConfig.from_pretrained(offline_model_dir())
    h, i, n_layers, r = config.hidden_size, config.intermediate_size, config.num_hidden_layers, 8

    def fresh() -> Classifier:
        return Classifier(AutoModel.from_config(config), num_labels=2)

    full = fresh()
    total = embeddings(h, config.vocab_size, config.max_position_embeddings, config.type_vocab_size)
    total += n_layers * per_layer(h, i) + head(h, 2)
    assert trainable_count(full) == count_parameters(full) == total

    probe = fresh()
    freeze(probe)
    unfreeze(probe, "head")
    assert trainable_count(probe) == head(h, 2)

    top2 = fresh()
    freeze(top2)
    unfreeze(top2, [f"*.layer.{n_layers - 1}", f"*.layer.{n_layers - 2}", "head"])
    assert trainable_count(top2) == 2 * per_layer(h, i) + head(h, 2)

    lora = add_lora(fresh(), r=r, alpha=16, target_modules=("query", "value"))
    assert trainable_count(lora) == n_layers * 2 * (r * h + h * r) + head(h, 2)
    assert trainable_count(lora) / total < 0.02  # the chapter's "LoRA trains < 2 % of the parameters"


def test_probe_trains_only_the_head():
    model = tiny_classifier()
    freeze(model)
    assert unfreeze(model, "head") == ["head.1.weight", "head.1.bias"]
    assert trainable_count(model) == head(H, N_LABELS)
    assert [p.shape for p in trainable_parameters(model)] == [torch.Size([N_LABELS, H]), torch.Size([N_LABELS])]


@pytest.mark.parametrize("k", range(N_LAYERS + 1))
def test_top_k_layers_by_glob(k):
    model = tiny_classifier()
    freeze(model)
    unfreeze(model, [f"*.layer.{N_LAYERS - 1 - j}" for j in range(k)] + ["head"])
    assert trainable_count(model) == k * per_layer(H, I) + head(H, N_LABELS)


def test_layer_glob_does_not_match_a_longer_index():
    model = tiny_classifier(layers=12)
    names = freeze(model, "*.layer.1")
    assert names and all(".layer.1." in n for n in names)
    assert sum(dict(model.named_parameters())[n].numel() for n in names) == per_layer(H, I)


def test_unknown_name_lists_prefixes_and_suggests():
    model = tiny_classifier()
    with pytest.raises(UnknownModuleError) as err:
        freeze(model, ["body.encoder.layr.0"])
    message = str(err.value)
    assert "'body.encoder.layer.0'" in message  # the closest real name
    assert "Available prefixes:" in message and "head" in message and "body.embeddings" in message
    assert isinstance(err.value, LookupError)
    # nothing was changed by the failed call
    assert trainable_count(model) == count_parameters(model)


# ---------------------------------------------------------------- gradual unfreezing


def test_gradual_unfreezer_thaws_one_group_from_the_top_per_step():
    model = tiny_classifier()
    groups = layer_groups(model)
    names = [g.name for g in groups]
    assert names == ["embeddings", "layer.0", "layer.1", "layer.2", "head"]
    sizes = [embeddings(H, V, P)] + [per_layer(H, I)] * N_LAYERS + [head(H, N_LABELS)]
    unfreezer = GradualUnfreezer(groups, every=2)
    for n_steps in range(0, 2 * len(groups) + 3):
        if n_steps:
            unfrozen = unfreezer.step()
            assert (unfrozen is not None) == (n_steps % 2 == 0 and n_steps // 2 < len(groups))
        n_trainable = min(1 + n_steps // 2, len(groups))
        assert unfreezer.trainable_groups == names[len(names) - n_trainable :]
        assert trainable_count(model) == sum(sizes[len(sizes) - n_trainable :])
    assert unfreezer.done


def test_gradual_unfreezing_inside_fit_leaves_never_thawed_groups_untouched():
    model = tiny_classifier()
    groups = layer_groups(model)  # embeddings, layer.0..2, head
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD(discriminative_lr_groups(groups, base_lr=0.5, factor=1.0), lr=0.5)
    unfreezer = GradualUnfreezer(groups, every=1)
    batch = {"input_ids": torch.randint(1, V, (4, 6)), "attention_mask": torch.ones(4, 6, dtype=torch.long),
             "labels": torch.tensor([0, 1, 0, 1])}
    # 3 optimizer steps: head trains from step 1, layer.2 from step 2, layer.1 from step 3;
    # layer.0 is unfrozen after the last step and the embeddings never.
    fit(model, [batch] * 3, optimizer=optimizer, scheduler=StepTogether(unfreezer), progress=False,
        device="cpu", seed=0)
    changed = {g.name: any(not torch.equal(before[n], p) for n, p in g.named_params.items()) for g in groups}
    assert changed == {"embeddings": False, "layer.0": False, "layer.1": True, "layer.2": True, "head": True}
    assert unfreezer.trainable_groups == ["layer.0", "layer.1", "layer.2", "head"]


# ---------------------------------------------------------------- learning rates


def test_discriminative_lrs_are_base_over_factor_powers():
    groups = layer_groups(tiny_classifier())
    base = 1e-3
    param_groups = discriminative_lr_groups(groups, base_lr=base, factor=2.6, weight_decay=0.01)
    top = len(groups) - 1
    for k, (group, pg) in enumerate(zip(groups, param_groups)):
        assert pg["name"] == group.name and pg["weight_decay"] == 0.01
        assert pg["lr"] == pytest.approx(base / 2.6 ** (top - k), rel=1e-12)
        assert pg["params"] == group.params
    # each layer's rate is the next layer's divided by 2.6
    rates = [pg["lr"] for pg in param_groups]
    assert all(lower == pytest.approx(upper / 2.6) for lower, upper in zip(rates, rates[1:]))
    optimizer = torch.optim.AdamW(param_groups)
    assert [g["name"] for g in optimizer.param_groups] == [g.name for g in groups]


@pytest.mark.parametrize("factor", [0, -2.6])
def test_discriminative_lrs_reject_non_positive_factor(factor):
    with pytest.raises(ValueError, match="factor must be > 0"):
        discriminative_lr_groups(layer_groups(tiny_classifier()), base_lr=1e-3, factor=factor)


def ulmfit_lr(t: int, T: int, lr_max: float, cut_frac: float, ratio: float) -> float:
    """Howard & Ruder (2018), eq. (3), written out."""
    cut = math.floor(T * cut_frac)
    p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / cut_frac - 1))
    return lr_max * (1 + p * (ratio - 1)) / ratio


@pytest.mark.parametrize("T, cut_frac, ratio", [(200, 0.1, 32), (50, 0.2, 10)])
def test_slanted_triangular_follows_ulmfit(T, cut_frac, ratio):
    p1, p2 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [p1], "lr": 0.01}, {"params": [p2], "lr": 0.0026}])
    scheduler = slanted_triangular(optimizer, total_steps=T, cut_frac=cut_frac, ratio=ratio)
    seen = [[], []]
    for _ in range(T + 1):
        for k in range(2):
            seen[k].append(optimizer.param_groups[k]["lr"])
        optimizer.step()
        scheduler.step()
    for k, lr_max in enumerate((0.01, 0.0026)):
        expected = [ulmfit_lr(t, T, lr_max, cut_frac, ratio) for t in range(T + 1)]
        np.testing.assert_allclose(seen[k], expected, rtol=1e-9)
        cut = math.floor(T * cut_frac)
        assert int(np.argmax(seen[k])) == cut and seen[k][cut] == pytest.approx(lr_max)
        assert seen[k][0] == pytest.approx(lr_max / ratio) and seen[k][T] == pytest.approx(lr_max / ratio)


def test_slanted_triangular_rejects_bad_arguments():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    for kwargs in ({"total_steps": 1}, {"total_steps": 10, "cut_frac": 1.0}, {"total_steps": 10, "ratio": 0.5}):
        with pytest.raises(ValueError):
            slanted_triangular(optimizer, **kwargs)


# ---------------------------------------------------------------- LoRA


def test_lora_adapters_only_on_query_and_value_and_only_lora_and_head_train():
    r = 4
    model = add_lora(tiny_classifier(), r=r, alpha=8, target_modules=("query", "value"))
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    lora = {n: p for n, p in trainable.items() if ".lora_" in n}
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in lora} == {"query", "value"}
    assert len(lora) == N_LAYERS * 2 * 2  # layers x {query, value} x {A, B}
    for n, p in lora.items():
        assert p.shape == ((r, H) if ".lora_A." in n else (H, r))
    others = [n for n in trainable if n not in lora]
    assert others and all(".head." in n for n in others)
    assert trainable_count(model) == N_LAYERS * 2 * (2 * r * H) + head(H, N_LABELS)
    assert not any(".lora_" in n for n, _ in model.named_parameters() if ".key." in n or ".dense." in n)


def test_lora_starts_from_the_pretrained_function():
    base = tiny_classifier().eval()
    ids = torch.randint(1, V, (3, 7))
    with torch.no_grad():
        expected = base(input_ids=ids).logits
        wrapped = add_lora(base, r=4).eval()  # B = 0: the adapted model computes the same function
        np.testing.assert_allclose(wrapped(input_ids=ids).logits.numpy(), expected.numpy(), rtol=1e-6, atol=1e-6)


def test_lora_unknown_target_names_the_linear_layers():
    with pytest.raises(ValueError, match="q_lin.*linear layers end in:.*query"):
        add_lora(tiny_classifier(), target_modules=("q_lin",))


# ---------------------------------------------------------------- batching


def test_bucket_sampler_yields_every_index_once_with_low_spread():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, size=1000)
    sampler = LengthBucketSampler(lengths, batch_size=32, shuffle=True, bucket_batches=10, seed=0)
    epochs = [list(sampler) for _ in range(2)]
    for batches in epochs:
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(1000))
        assert len(batches) == len(sampler)
        assert all(len(b) <= 32 for b in batches)
    assert epochs[0] != epochs[1]  # a new order every epoch
    # batches hold similar lengths: far less spread than random batches of the same size
    spread = np.mean([np.ptp(lengths[b]) for b in epochs[0]])
    random_batches = np.array_split(rng.permutation(1000), len(epochs[0]))
    random_spread = np.mean([np.ptp(lengths[b]) for b in random_batches])
    assert spread < 0.25 * random_spread
    # the same seed gives the same batches
    assert list(LengthBucketSampler(lengths, 32, shuffle=True, bucket_batches=10, seed=0)) == epochs[0]


@pytest.mark.parametrize("n, drop_last", [(100, False), (100, True), (7, False), (64, True)])
def test_bucket_sampler_len_and_drop_last(n, drop_last):
    sampler = LengthBucketSampler(np.arange(n) % 13, batch_size=8, shuffle=True, bucket_batches=3, seed=1,
                                  drop_last=drop_last)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    if drop_last:
        assert all(len(b) == 8 for b in batches)
    else:
        assert sorted(i for b in batches for i in b) == list(range(n))


def test_padding_does_not_change_predictions():
    """Dynamic padding + mean pooling: a sentence scores the same alone or padded in a batch."""
    model = tiny_classifier().eval()
    data = TokenizedDataset([[2, 5, 9, 3], [2, 7, 3], [2, 4, 4, 8, 11, 6, 3]], labels=[0, 1, 1])
    batch = next(iter(make_loader(data, batch_size=3, shuffle=False, pad_token_id=0)))
    assert batch["input_ids"].shape == (3, 7) and batch["attention_mask"].sum().item() == 14
    with torch.no_grad():
        together = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        for row in range(3):
            n = int(batch["attention_mask"][row].sum())
            alone = model(input_ids=batch["input_ids"][row : row + 1, :n]).logits
            np.testing.assert_allclose(together[row].numpy(), alone[0].numpy(), rtol=1e-5, atol=1e-5)


def test_pad_collator_layout():
    batch = PadCollator(pad_token_id=9)([{"input_ids": [1], "labels": 1}, {"input_ids": [1, 2, 3], "labels": 0}])
    assert batch["input_ids"].tolist() == [[1, 9, 9], [1, 2, 3]]
    assert batch["attention_mask"].tolist() == [[1, 0, 0], [1, 1, 1]]
    assert batch["labels"].dtype == torch.long


# ---------------------------------------------------------------- determinism


def short_fine_tuning(seed: int) -> tuple[list[float], dict[str, torch.Tensor]]:
    seed_everything(seed)
    model = tiny_classifier(seed=seed)
    rng = np.random.default_rng(0)
    data = TokenizedDataset([list(rng.integers(1, V, size=rng.integers(3, 12))) for _ in range(48)],
                            labels=rng.integers(0, 2, size=48).tolist())
    loader = make_loader(data, batch_size=8, shuffle=True)  # shuffling seeded by fit(seed=...)
    groups = layer_groups(model)
    optimizer = torch.optim.AdamW(discriminative_lr_groups(groups, base_lr=1e-3))
    scheduler = slanted_triangular(optimizer, total_steps=2 * len(loader))
    history = fit(model, loader, optimizer=optimizer, scheduler=scheduler, epochs=2, progress=False,
                  device="cpu", seed=seed)
    return history.step_losses, {k: v.clone() for k, v in model.state_dict().items()}


def test_short_fine_tuning_is_deterministic_given_a_seed():
    losses_a, state_a = short_fine_tuning(seed=3)
    losses_b, state_b = short_fine_tuning(seed=3)
    losses_c, _ = short_fine_tuning(seed=4)
    assert losses_a == losses_b
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert losses_a != losses_c
