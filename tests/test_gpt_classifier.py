"""AuxLMClassifier: GPT-1's L_task + λ L_LM, checked against independent computations."""

import pytest
import torch
from torch.nn import functional as F

from tlnlp.models.gpt import GPT, GPTConfig
from tlnlp.models.gpt_classifier import AuxLMClassifier, masked_lm_loss
from tlnlp.models.heads import Classifier


def _gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, n_embd=8)).eval()


def test_lm_term_is_the_gpts_own_loss_on_each_unpadded_text():
    gpt = _gpt()
    clf = AuxLMClassifier(gpt, num_labels=2, lm_weight=1.0).eval()
    ids = torch.tensor([[1, 2, 3, 4, 0, 0], [5, 6, 7, 8, 9, 10]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1] * 6])
    out = clf(ids, attention_mask=mask, labels=torch.tensor([0, 1]))
    # independent: each text alone, unpadded, through GPT.forward with shifted labels; token-weighted mean
    losses, counts = [], []
    for row, m in zip(ids, mask):
        real = row[m.bool()][None]
        losses.append(gpt(real[:, :-1], labels=real[:, 1:]).loss * (real.shape[1] - 1))
        counts.append(real.shape[1] - 1)
    assert torch.isclose(out.lm_loss, sum(losses) / sum(counts), atol=1e-6)
    assert torch.isclose(out.loss, out.task_loss + out.lm_loss, atol=1e-6)


def test_zero_weight_is_the_plain_last_token_classifier():
    gpt = _gpt()
    aux = AuxLMClassifier(gpt, num_labels=3, lm_weight=0.0).eval()
    plain = Classifier(gpt, num_labels=3, pool="last").eval()
    plain.head.load_state_dict(aux.head.state_dict())
    ids, mask, y = torch.tensor([[1, 2, 3, 0]]), torch.tensor([[1, 1, 1, 0]]), torch.tensor([2])
    assert torch.allclose(aux(ids, mask, y).loss, plain(ids, attention_mask=mask, labels=y).loss)
    assert "lm_loss" not in aux(ids, mask, y)


def test_masked_lm_loss_ignores_padding_targets_and_refuses_bad_input():
    logits = torch.randn(1, 4, 5)
    ids = torch.tensor([[1, 2, 3, 0]])
    expected = F.cross_entropy(logits[0, :2], ids[0, 1:3])
    assert torch.isclose(masked_lm_loss(logits, ids, torch.tensor([[1, 1, 1, 0]])), expected)
    with pytest.raises(ValueError):
        masked_lm_loss(logits[:, :3], ids)
    with pytest.raises(ValueError):
        masked_lm_loss(logits, ids, torch.tensor([[1, 0, 0, 0]]))


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError):
        AuxLMClassifier(torch.nn.Embedding(3, 4), num_labels=2)
    with pytest.raises(ValueError):
        AuxLMClassifier(_gpt(), num_labels=2, lm_weight=-1)
