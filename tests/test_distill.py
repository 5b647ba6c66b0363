"""tlnlp.distill: the KD loss against a hand computation, its T² scaling, layer-subset students, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from tlnlp.distill import (
    IGNORE_INDEX,
    DistillationLoss,
    Distiller,
    VocabularyMismatchError,
    check_vocabulary,
    distill_loader,
    predict_logits,
    soft_target_loss,
    student_from_layers,
)
from tlnlp.models import BiLSTMEncoder, Classifier
from tlnlp.text import TokenizedDataset
from tlnlp.train import fit


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _hand_loss(s: np.ndarray, t: np.ndarray, y: np.ndarray, T: float, alpha: float) -> float:
    """alpha T² mean_i KL(p_t || p_s) + (1 - alpha) mean over labelled rows of -log softmax(s)_y, in numpy."""
    pt, ps = _softmax(t / T), _softmax(s / T)
    kl = float(np.mean(np.sum(pt * (np.log(pt) - np.log(ps)), axis=1)))
    lab = y != IGNORE_INDEX
    ce = float(np.mean(-np.log(_softmax(s[lab])[np.arange(lab.sum()), y[lab]]))) if lab.any() else 0.0
    return alpha * T * T * kl + (1 - alpha) * ce


@pytest.mark.parametrize("T,alpha", [(1.0, 0.5), (2.0, 1.0), (4.0, 0.0), (3.0, 0.3)])
def test_kd_loss_matches_hand_computation(T: float, alpha: float) -> None:
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(6, 3)) * 2, rng.normal(size=(6, 3)) * 2
    y = np.array([0, 2, IGNORE_INDEX, 1, IGNORE_INDEX, 0])
    got = DistillationLoss(T, alpha)(torch.tensor(s), torch.tensor(t), torch.tensor(y))
    assert float(got) == pytest.approx(_hand_loss(s, t, y, T, alpha), rel=1e-6)


def test_unlabelled_batch_has_soft_term_only() -> None:
    s, t = torch.randn(4, 2, requires_grad=True), torch.randn(4, 2)
    y = torch.full((4,), IGNORE_INDEX)
    loss = DistillationLoss(2.0, alpha=0.5)(s, t, y)
    assert float(loss.detach()) == pytest.approx(0.5 * float(soft_target_loss(s.detach(), t, 2.0)), rel=1e-6)
    loss.backward()  # attached to the graph
    hard_only = DistillationLoss(2.0, alpha=0.0)(s, t, y)
    assert float(hard_only) == 0.0 and hard_only.requires_grad


def _soft_grad(s: torch.Tensor, t: torch.Tensor, T: float, scale: bool) -> float:
    s = s.clone().requires_grad_(True)
    soft_target_loss(s, t, T, scale=scale).backward()
    return float(s.grad.norm())


def test_t_squared_keeps_the_soft_gradient_of_order_one() -> None:
    torch.manual_seed(0)
    s, t = torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 4, dtype=torch.float64)
    temps = [4.0, 8.0, 16.0, 32.0, 64.0]
    raw = [_soft_grad(s, t, T, scale=False) for T in temps]
    scaled = [_soft_grad(s, t, T, scale=True) for T in temps]
    # Without the factor the gradient shrinks like 1/T²: doubling T divides it by about 4.
    for a, b in zip(raw, raw[1:]):
        assert a / b == pytest.approx(4.0, rel=0.1)
    # With it the gradient tends to a constant: the high-temperature limit of (p_s - p_t) T / batch,
    # ((s - mean s) - (t - mean t)) / (classes · batch), computed independently.
    centred = (s - s.mean(1, keepdim=True)) - (t - t.mean(1, keepdim=True))
    limit = float((centred / (s.shape[1] * s.shape[0])).norm())
    assert scaled[-1] == pytest.approx(limit, rel=0.01)
    assert max(scaled) / min(scaled) < 1.3


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, float("nan"), "2"])
def test_temperature_must_be_positive(bad: object) -> None:
    with pytest.raises(ValueError, match=r"temperature must be a number > 0.*got"):
        DistillationLoss(temperature=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="temperature must be a number > 0"):
        soft_target_loss(torch.zeros(1, 2), torch.zeros(1, 2), temperature=bad)  # type: ignore[arg-type]


def test_alpha_outside_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\].*1.5"):
        DistillationLoss(alpha=1.5)


def test_missing_terms_and_shape_mismatch_are_named() -> None:
    with pytest.raises(ValueError, match="needs teacher_logits"):
        DistillationLoss(alpha=0.5)(torch.zeros(2, 2), None, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="needs labels"):
        DistillationLoss(alpha=0.5)(torch.zeros(2, 2), torch.zeros(2, 2), None)
    with pytest.raises(ValueError, match=r"as many classes as the teacher"):
        soft_target_loss(torch.zeros(2, 2), torch.zeros(2, 3))


def _bert(layers: int = 4, vocab: int = 40) -> BertModel:
    torch.manual_seed(0)
    return BertModel(BertConfig(hidden_size=16, num_hidden_layers=layers, num_attention_heads=2,
                                intermediate_size=32, vocab_size=vocab)).eval()


def test_student_from_layers_copies_the_chosen_layers() -> None:
    teacher = _bert(4)
    student = student_from_layers(teacher, [1, 3])
    assert student.config.num_hidden_layers == 2 and teacher.config.num_hidden_layers == 4
    for i, j in enumerate([1, 3]):
        ts, ss = teacher.encoder.layer[j].state_dict(), student.encoder.layer[i].state_dict()
        assert ts.keys() == ss.keys() and all(torch.equal(ts[k], ss[k]) for k in ts)
    for k, v in teacher.embeddings.state_dict().items():
        assert torch.equal(v, student.embeddings.state_dict()[k])
    # A copy, not a view: training the student leaves the teacher alone.
    with torch.no_grad():
        student.encoder.layer[0].output.dense.weight.add_(1.0)
    assert not torch.equal(student.encoder.layer[0].output.dense.weight, teacher.encoder.layer[1].output.dense.weight)


def test_student_with_every_layer_computes_the_teachers_hidden_states() -> None:
    teacher = _bert(3)
    student = student_from_layers(teacher, range(3))
    ids, mask = torch.tensor([[2, 5, 7, 9], [3, 4, 0, 0]]), torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    with torch.no_grad():
        a = teacher(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        b = student(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    assert len(a) == len(b) and all(torch.allclose(x, y, atol=1e-6) for x, y in zip(a, b))
    # And a subset computes the chosen layers on top of each other: layer 2 applied to layer 0's output
    # (one unpadded sentence, so no attention mask is needed to run a layer by hand).
    sub = student_from_layers(teacher, [0, 2])
    ids, mask = ids[:1], mask[:1]
    with torch.no_grad():
        h = teacher.embeddings(input_ids=ids)
        for j in (0, 2):
            out = teacher.encoder.layer[j](h)
            h = out[0] if isinstance(out, tuple) else out
        got = sub(input_ids=ids).last_hidden_state
    assert torch.allclose(got[mask.bool()], h[mask.bool()], atol=1e-5)


def test_student_from_layers_of_a_classifier_body_without_pooler() -> None:
    clf = Classifier(_bert(3), num_labels=2, pool="mean")  # drops the body's unused pooler
    student = student_from_layers(clf.body, [2])
    assert student.pooler is None
    assert torch.equal(student.encoder.layer[0].attention.self.query.weight, clf.body.encoder.layer[2].attention.self.query.weight)


@pytest.mark.parametrize("layers,match", [([], "layers is empty"), ([0, 4], r"\[4\] are outside the teacher's 4 layers"),
                                          ([2, 1], "strictly increasing")])
def test_student_from_layers_refuses_bad_layers(layers: list[int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        student_from_layers(_bert(4), layers)


def test_student_from_layers_needs_a_hugging_face_model() -> None:
    with pytest.raises(TypeError, match="num_hidden_layers"):
        student_from_layers(torch.nn.Linear(2, 2), [0])


def test_vocabulary_mismatch_without_mapping_is_refused() -> None:
    teacher = _bert(2, vocab=40)
    student = Classifier(_bert(1, vocab=25), num_labels=2)
    with pytest.raises(VocabularyMismatchError, match=r"embeds 25 token ids but the teacher 40.*mapping="):
        Distiller(student, teacher=teacher)
    with pytest.raises(VocabularyMismatchError, match=r"mapping has 10 ids but the student embeds 25"):
        check_vocabulary(teacher, student, mapping=list(range(10)))
    # Its own vocabulary of the right size: fine (the teacher's logits are per sentence).
    Distiller(student, teacher=teacher, mapping=list(range(25)))
    Distiller(Classifier(student_from_layers(teacher, [1]), num_labels=2), teacher=teacher)


def test_distiller_trains_through_fit_on_precomputed_logits() -> None:
    torch.manual_seed(0)
    teacher = Classifier(_bert(2, vocab=40), num_labels=2).eval()
    ids = [[int(x) for x in torch.randint(1, 40, (n,))] for n in (3, 5, 4, 6, 2, 7, 3, 5)]
    data = TokenizedDataset(ids, [0, 1, 0, 1, IGNORE_INDEX, IGNORE_INDEX, 1, 0])
    logits = predict_logits(teacher, data, batch_size=3)
    # In the dataset's order, equal to running the teacher on each sentence alone.
    with torch.no_grad():
        alone = torch.cat([teacher(input_ids=torch.tensor([x])).logits for x in ids])
    assert torch.allclose(logits, alone, atol=1e-5)
    student = Classifier(BiLSTMEncoder(40, emb_dim=8, hidden_dim=8, dropout=0.0), num_labels=2, pool="max", dropout=0.0)
    model = Distiller(student, DistillationLoss(2.0, alpha=1.0))
    loader = distill_loader(data, logits, batch_size=4, seed=0)
    before = float(soft_target_loss(predict_logits(student, data), logits, 2.0))
    fit(model, loader, optimizer=torch.optim.Adam(model.parameters(), lr=0.05), max_steps=40, progress=False, device="cpu", seed=0)
    after = float(soft_target_loss(predict_logits(student, data), logits, 2.0))
    assert after < 0.2 * before


def test_distill_loader_checks_the_logits_fit_the_sentences() -> None:
    with pytest.raises(ValueError, match=r"3 sentences but teacher logits of shape \(2, 2\)"):
        distill_loader(TokenizedDataset([[1], [2], [3]], None), torch.zeros(2, 2), 2)
