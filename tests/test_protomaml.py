"""Episodic prototypical networks and ProtoMAML, checked against computations done by hand."""

import pytest
import torch

from tlnlp.meta import ProtoMAML, Task, proto_head, protonet_logits, protonet_loss


def _task(seed: int = 0, n_way: int = 3, k: int = 2, q: int = 4, dim: int = 5) -> Task:
    g = torch.Generator().manual_seed(seed)
    return Task(torch.randn(n_way * k, dim, generator=g), torch.arange(n_way).repeat(k),
                torch.randn(n_way * q, dim, generator=g), torch.arange(n_way).repeat(q))


def test_protonet_loss_is_cross_entropy_of_distances_computed_by_loops() -> None:
    task, embed = _task(), torch.nn.Linear(5, 4)
    z_s, z_q = embed(task.support_x), embed(task.query_x)
    protos = [z_s[task.support_y == c].mean(0) for c in range(3)]
    total = 0.0
    for z, y in zip(z_q, task.query_y):
        scores = torch.stack([-((z - c) ** 2).sum() for c in protos])
        total = total - (scores[y] - torch.logsumexp(scores, 0))
    assert torch.allclose(protonet_loss(embed, task, 3), total / len(z_q), atol=1e-5)


def test_proto_head_gives_the_prototype_softmax() -> None:
    task = _task(1)
    w, b = proto_head(task.support_x, task.support_y, 3)
    by_head = torch.softmax(task.query_x @ w.T + b, -1)
    by_distance = torch.softmax(protonet_logits(torch.nn.Identity(), task, 3), -1)
    assert torch.allclose(by_head, by_distance, atol=1e-5)


def test_protomaml_inner_step_matches_the_closed_form_softmax_gradient() -> None:
    task, alpha = _task(2), 0.3
    learner = ProtoMAML(torch.nn.Identity(), n_way=3, inner_lr=alpha, inner_steps=1)
    fast = learner.adapt(task.support_x, task.support_y)
    w, b = proto_head(task.support_x, task.support_y, 3)
    p = torch.softmax(task.support_x @ w.T + b, -1)
    residual = (p - torch.nn.functional.one_hot(task.support_y, 3).float()) / len(task.support_y)  # d CE / d logits
    assert torch.allclose(fast["head.weight"], w - alpha * residual.T @ task.support_x, atol=1e-5)
    assert torch.allclose(fast["head.bias"], b - alpha * residual.sum(0), atol=1e-5)


def test_protomaml_without_inner_steps_is_the_prototypical_network() -> None:
    task, embed = _task(3), torch.nn.Linear(5, 4)
    learner = ProtoMAML(embed, n_way=3, inner_lr=0.1, inner_steps=0)
    logits = learner.predict(learner.adapt(task.support_x, task.support_y), task.query_x)
    assert torch.equal(logits.argmax(-1), protonet_logits(embed, task, 3).argmax(-1))


def test_protomaml_meta_gradient_reaches_embed_through_the_prototypes_and_matches_finite_differences() -> None:
    task = _task(4)
    embed = torch.nn.Linear(5, 2).double()
    task = Task(*(t.double() if t.is_floating_point() else t for t in task))
    learner = ProtoMAML(embed, n_way=3, inner_lr=0.05, inner_steps=2)
    learner.meta_loss([task]).backward()
    grad = embed.weight.grad[0, 0].item()
    eps = 1e-6
    losses = []
    for shift in (eps, -2 * eps):  # the inner loop needs gradients, so only the nudge is under no_grad
        with torch.no_grad():
            embed.weight[0, 0] += shift
        losses.append(learner.meta_loss([task]).item())
    up, down = losses
    assert abs(grad - (up - down) / (2 * eps)) < 1e-6


def test_protomaml_rejects_bad_settings() -> None:
    import pytest

    with pytest.raises(ValueError, match="n_way"):
        ProtoMAML(torch.nn.Identity(), n_way=1, inner_lr=0.1)
    with pytest.raises(ValueError, match="adapt_embed"):
        ProtoMAML(torch.nn.Identity(), n_way=3, inner_lr=0.1, adapt_embed=True)


def test_top_layers_on_cached_hidden_states_reproduce_the_encoders_mean_pooled_output() -> None:
    from transformers import BertConfig, BertModel

    from tlnlp.meta import TopLayers, hidden_below

    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                intermediate_size=32)).eval()

    class _Tok:  # a tokenizer stand-in: each text is a list of token ids already
        def __call__(self, texts, max_length, **_):
            ids = torch.zeros(len(texts), max_length, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, t in enumerate(texts):
                ids[i, :len(t)], mask[i, :len(t)] = torch.tensor(t), 1
            from transformers import BatchEncoding
            return BatchEncoding({"input_ids": ids, "attention_mask": mask})

    class _Enc:
        tokenizer, model = _Tok(), bert

    texts = [[1, 4, 9], [2, 7, 7, 7, 3], [5]]
    cache = hidden_below(_Enc(), texts, top=2, max_length=8)
    top = TopLayers(bert.encoder.layer[-2:], n_way=2).eval()
    rows = cache[[0, 1, 2]]
    pooled = top.pooled(**rows)
    for i, t in enumerate(texts):  # independent: the whole encoder on one unpadded text, mean over its tokens
        expected = bert(input_ids=torch.tensor([t])).last_hidden_state[0].mean(0)
        assert torch.allclose(pooled[i], expected, atol=1e-4)


def test_top_layers_floor_a_near_constant_features_sd_so_inner_steps_stay_finite() -> None:
    """A pooled feature with sd ~1e-32 (MiniLM's top layer has one) must not blow the layer's gradients up."""
    from transformers import BertConfig, BertModel

    from tlnlp.meta import MAML, SD_FLOOR, TopLayers

    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=32)).eval()
    sd = torch.full((16,), 0.5)
    sd[3] = 1e-32
    top = TopLayers(bert.encoder.layer[-1:], n_way=2, scale=(torch.zeros(16), sd)).eval()
    assert top.sd[3].item() == pytest.approx(SD_FLOOR * 0.5) and top.sd[0].item() == 0.5
    hidden, mask = torch.randn(4, 5, 16), torch.ones(4, 5, dtype=torch.long)
    learner = MAML(top, inner_lr={"head": 0.5, "layers": 1e-3}, inner_steps=5, first_order=True)
    fast = learner.adapt({"hidden": hidden, "mask": mask}, torch.tensor([0, 1, 0, 1]))
    assert all(bool(torch.isfinite(p).all()) for p in fast.values())
    with pytest.raises(ValueError, match="sd must be finite and not all zero"):
        TopLayers(bert.encoder.layer[-1:], n_way=2, scale=(torch.zeros(16), torch.zeros(16)))
