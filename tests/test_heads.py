"""tlnlp.models.heads: poolings against numpy computations, the one Classifier on each body kind,
and its errors; tlnlp.models.Output's contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from tlnlp.models import Classifier, Output, PoolingError
from tlnlp.models.heads import body_width, concat_pool, last_token_pool, max_pool, mean_pool

RNG = np.random.default_rng(0)
HIDDEN = RNG.normal(size=(3, 5, 4)).astype(np.float32)
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])  # right, none, left padding


def _rows(mask_row: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask_row)


def test_poolings_match_numpy_over_the_real_tokens() -> None:
    h, m = torch.from_numpy(HIDDEN), torch.from_numpy(MASK)
    for i in range(3):
        real = HIDDEN[i, _rows(MASK[i])]
        np.testing.assert_allclose(mean_pool(h, m)[i].numpy(), real.mean(0), rtol=1e-6)
        np.testing.assert_allclose(max_pool(h, m)[i].numpy(), real.max(0), rtol=1e-6)
        np.testing.assert_allclose(last_token_pool(h, m)[i].numpy(), real[-1], rtol=1e-6)
        np.testing.assert_allclose(
            concat_pool(h, m)[i].numpy(), np.concatenate([real[-1], real.max(0), real.mean(0)]), rtol=1e-6
        )


def test_padding_does_not_change_a_pooled_vector() -> None:
    h = torch.from_numpy(HIDDEN)
    padded = h.clone()
    padded[0, 3:] = 1e6  # garbage on the padded positions of row 0
    m = torch.from_numpy(MASK)
    for pool in (mean_pool, max_pool, last_token_pool, concat_pool):
        torch.testing.assert_close(pool(padded, m)[0], pool(h, m)[0])


def test_an_all_padding_row_is_refused() -> None:
    with pytest.raises(PoolingError, match="no real token"):
        mean_pool(torch.zeros(1, 3, 2), torch.zeros(1, 3))


def _tiny_bert() -> BertModel:
    torch.manual_seed(0)
    return BertModel(BertConfig(hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16, vocab_size=30))


def test_classifier_mean_on_bert_equals_the_head_on_the_mean_of_the_last_hidden_states() -> None:
    bert = _tiny_bert()
    ids, mask = torch.tensor([[2, 5, 7, 0]]), torch.tensor([[1, 1, 1, 0]])
    clf = Classifier(bert, num_labels=3, pool="mean").eval()
    hidden = bert(input_ids=ids, attention_mask=mask).last_hidden_state[0, :3]
    linear = clf.head[-1]
    expected = linear(hidden.mean(0))
    torch.testing.assert_close(clf(ids, attention_mask=mask).logits[0], expected)


def test_pooler_keeps_berts_pretrained_pooler_and_other_poolings_drop_it() -> None:
    bert = _tiny_bert()
    ids = torch.tensor([[2, 5, 7]])
    clf = Classifier(bert, num_labels=2, pool="pooler").eval()
    torch.testing.assert_close(clf.features(ids), bert(input_ids=ids).pooler_output)
    assert Classifier(_tiny_bert(), num_labels=2, pool="cls").body.pooler is None
    with pytest.raises(PoolingError, match="pool='pooler' needs a body with a pretrained pooler"):
        Classifier(torch.nn.Embedding(5, 3), num_labels=2, pool="pooler")


def test_classifier_on_an_embedding_layer_is_a_bag_of_embeddings() -> None:
    torch.manual_seed(0)
    emb = torch.nn.Embedding(10, 4, padding_idx=0)
    clf = Classifier(emb, num_labels=2, pool="mean", dropout=0.0)
    ids, mask = torch.tensor([[3, 4, 0]]), torch.tensor([[1, 1, 0]])
    expected = clf.head[-1](emb.weight[[3, 4]].mean(0))
    torch.testing.assert_close(clf(ids, attention_mask=mask).logits[0], expected)


def test_classifier_loss_is_the_cross_entropy_of_its_logits() -> None:
    clf = Classifier(torch.nn.Embedding(10, 4), num_labels=3)
    ids, labels = torch.tensor([[1, 2], [3, 4]]), torch.tensor([0, 2])
    out = clf(ids, labels=labels)
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, labels))


def test_concat_pooling_and_a_hidden_layer_size_the_head() -> None:
    clf = Classifier(torch.nn.Embedding(10, 4), num_labels=2, pool="concat", hidden=5)
    linears = [m for m in clf.head if isinstance(m, torch.nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(12, 5), (5, 2)]


def test_clear_errors_for_bodies_the_head_cannot_use() -> None:
    class Opaque(torch.nn.Module):
        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            return input_ids.float().sum(1)  # (B,): nothing to pool

    with pytest.raises(PoolingError, match="pass hidden_size="):
        Classifier(Opaque(), num_labels=2)
    clf = Classifier(Opaque(), num_labels=2, hidden_size=1)
    with pytest.raises(PoolingError, match="cannot pool the output of Opaque"):
        clf(torch.tensor([[1, 2]]))
    with pytest.raises(PoolingError, match="unknown pool 'avg'; choose one of mean, cls"):
        Classifier(torch.nn.Embedding(3, 2), num_labels=2, pool="avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_labels must be an int >= 2"):
        Classifier(torch.nn.Embedding(3, 2), num_labels=1)
    with pytest.raises(TypeError, match="pass encoder.model"):

        class Wrapper:
            model = torch.nn.Embedding(3, 2)

        Classifier(Wrapper(), num_labels=2)  # type: ignore[arg-type]


def test_body_width_reads_each_kind_of_body() -> None:
    assert body_width(_tiny_bert()) == 8
    assert body_width(torch.nn.Embedding(3, 6)) == 6


def test_output_reads_by_name_and_refuses_tuple_unpacking() -> None:
    out = Output(logits=torch.ones(2), loss=None)
    assert out.loss is None and "loss" not in out and out["logits"].shape == (2,)
    with pytest.raises(TypeError, match="read by name"):
        logits, loss = out  # noqa: F841  (the old GPT contract)
    assert dict(out.items()).keys() == {"logits"}


def test_fit_refuses_an_output_it_cannot_read() -> None:
    from tlnlp.train import fit

    class OldContract(torch.nn.Module):  # returns (logits, loss) like the book's GPT used to
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Linear(2, 2)

        def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits = self.w(input_ids.float())
            return logits, torch.nn.functional.cross_entropy(logits, labels)

    model = OldContract()
    batch = {"input_ids": torch.ones(2, 2), "labels": torch.tensor([0, 1])}
    with pytest.raises(TypeError, match=r"cannot read the model's output, a tuple of 2 items.*tlnlp.models.Output"):
        fit(model, [batch], optimizer=torch.optim.SGD(model.parameters(), lr=0.1), progress=False, device="cpu")


def test_an_output_rebuilt_from_its_items_keeps_its_fields_as_accelerate_rebuilds_it() -> None:
    """Trainer(bf16=True) casts outputs back to fp32 with accelerate, which rebuilds a dict as
    type(out)({...}); an Output must survive that with its loss (it lost it before issue 14)."""
    from accelerate.utils import convert_to_fp32

    from tlnlp.models.output import Output

    out = Output(logits=torch.ones(2, 3, dtype=torch.bfloat16), loss=torch.tensor(0.5, dtype=torch.bfloat16), hidden=torch.zeros(1))
    back = convert_to_fp32(out)
    assert isinstance(back, Output) and sorted(back.keys()) == ["hidden", "logits", "loss"]
    assert back.loss.dtype == torch.float32 and back.logits.dtype == torch.float32 and float(back.loss) == 0.5
