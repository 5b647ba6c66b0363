"""tlnlp.distill.relations (MiniLM's attention and value relations) against transformers' own
attention probabilities and hand-computed KL divergences."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import BertConfig, BertModel

from tlnlp.distill import minilm_losses, relation_kl, self_attention_relations, student_from_layers


def bert(layers: int = 3, seed: int = 0) -> BertModel:
    torch.manual_seed(seed)
    config = BertConfig(hidden_size=16, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=32,
                        vocab_size=40, initializer_range=0.5, attn_implementation="eager")  # sharp, unlike layers
    return BertModel(config).eval()


IDS = torch.tensor([[2, 7, 9, 11, 3, 0], [2, 5, 3, 0, 0, 0]])
MASK = (IDS != 0).long()


@pytest.mark.parametrize("layer", [-1, 0])
def test_attention_is_what_transformers_itself_computes(layer: int) -> None:
    body = bert()
    attention, _ = self_attention_relations(body, IDS, MASK, layer=layer)
    with torch.no_grad():
        theirs = body(input_ids=IDS, attention_mask=MASK, output_attentions=True).attentions[layer]
    torch.testing.assert_close(attention, theirs, atol=1e-6, rtol=1e-5)


def test_value_relations_are_the_softmax_of_scaled_value_products() -> None:
    body = bert()
    _, values = self_attention_relations(body, IDS, MASK)
    with torch.no_grad():  # the last layer's input, its value projection, split into 2 heads of 8
        hidden = body(input_ids=IDS, attention_mask=MASK, output_hidden_states=True).hidden_states[-2]
        v = body.encoder.layer[-1].attention.self.value(hidden).view(2, 6, 2, 8).transpose(1, 2)
    for b in range(2):
        n = int(MASK[b].sum())
        for h in range(2):
            rows = v[b, h]  # (tokens, 8)
            expected = torch.softmax(rows @ rows[:n].T / math.sqrt(8), dim=-1)  # every row, over the real keys only
            torch.testing.assert_close(values[b, h, :, :n], expected, atol=1e-6, rtol=1e-5)
            assert float(values[b, h, :, n:].abs().sum()) == 0.0  # no weight on padding


def test_relation_kl_is_the_mean_row_kl_over_heads_and_real_rows() -> None:
    g = torch.Generator().manual_seed(0)
    teacher = torch.softmax(torch.randn(2, 3, 4, 4, generator=g), -1)
    student = torch.softmax(torch.randn(2, 3, 4, 4, generator=g), -1)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    rows = [F.kl_div(student[b, h, i].log(), teacher[b, h, i], reduction="sum")
            for b in range(2) for h in range(3) for i in range(4) if mask[b, i]]
    assert relation_kl(teacher, student, mask) == pytest.approx(float(torch.stack(rows).mean()), rel=1e-5)
    assert relation_kl(teacher, teacher, mask) == pytest.approx(0.0, abs=1e-7)
    changed = student.clone()
    changed[1, :, 3] = torch.softmax(torch.randn(3, 4, generator=g), -1)  # a padding row: left out
    assert relation_kl(teacher, changed, mask) == relation_kl(teacher, student, mask)


def test_a_body_matches_itself_and_a_layer_copied_student_differs() -> None:
    teacher = bert(layers=3)
    assert minilm_losses(teacher, teacher, IDS, MASK) == (0.0, 0.0)
    student = student_from_layers(teacher, [2])  # the teacher's own last layer on the embeddings
    attention, values = minilm_losses(teacher, student, IDS, MASK)
    assert attention > 0 and values > 0


def test_bodies_that_are_not_bert_and_mismatched_heads_are_refused() -> None:
    with pytest.raises(TypeError, match="needs a BERT-family body.*got Linear"):
        self_attention_relations(torch.nn.Linear(2, 2), IDS, MASK)
    with pytest.raises(ValueError, match="give the student as many attention heads as the teacher"):
        relation_kl(torch.ones(1, 2, 3, 3) / 3, torch.ones(1, 4, 3, 3) / 3, torch.ones(1, 3))


def test_the_body_keeps_its_training_mode() -> None:
    body = bert().train()
    self_attention_relations(body, IDS, MASK)
    assert body.training
