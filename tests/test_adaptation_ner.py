"""Token-level DANN, tag encoding and entity F1, against independent computations."""

import pytest
import torch
from torch import nn

from tlnlp.adaptation import (
    DomainAdversarialLoss,
    GradientReversal,
    TokenDomainAdversarialTagger,
    coarse_tag,
    domain_discriminator,
    encode_tagged,
    entity_f1,
    token_domain_mask,
)
from tlnlp.data import TaggedSentence, load_crossner
from tlnlp.models import TokenClassifier, load_encoder


@pytest.fixture(scope="module")
def tok():
    return load_encoder("minilm").tokenizer


def test_alignment_on_hand_written_examples(tok):
    s = [TaggedSentence(["Paris", "embeddings", "rock"], ["B-location", "O", "B-misc"])]
    data = encode_tagged(tok, s, ["O", "B-location", "B-misc"])
    pieces = tok.convert_ids_to_tokens(data.input_ids[0])
    assert pieces == ["[CLS]", "paris", "em", "##bed", "##ding", "##s", "rock", "[SEP]"]
    assert data.labels[0] == [-100, 1, 0, -100, -100, -100, 2, -100]


def test_alignment_errors_name_the_problem(tok):
    with pytest.raises(ValueError, match="known tags"):
        encode_tagged(tok, [TaggedSentence(["Bob"], ["B-politician"])], ["O", "B-person"])
    bad = TaggedSentence(["Bob"], ["O"])
    bad.tags = ["O", "O"]
    with pytest.raises(ValueError, match="1 tokens but 2 tags"):
        encode_tagged(tok, [bad], ["O"])


def test_unknown_domain_lists_the_valid_ones():
    with pytest.raises(ValueError, match="medicine") as err:
        load_crossner("medicine", "train")
    for domain in ("politics", "science", "music", "literature", "ai"):
        assert domain in str(err.value)


def test_entity_f1_agrees_with_seqeval_classification_report_on_a_toy_case():
    from seqeval.metrics import classification_report

    gold = [["B-person", "I-person", "O", "B-location", "I-location"], ["O", "B-misc"]]
    pred = [["B-person", "I-person", "O", "B-location", "O"], ["B-misc", "B-misc"]]
    report = classification_report(gold, pred, output_dict=True)
    # by hand: gold {per(0,1), loc(3,4), misc(6)}; predicted {per(0,1), loc(3), misc(5), misc(6)}: 2 correct
    precision, recall = 2 / 4, 2 / 3
    assert report["micro avg"]["f1-score"] == pytest.approx(2 * precision * recall / (precision + recall))
    assert entity_f1(gold, pred) == pytest.approx(report["micro avg"]["f1-score"])


def test_entity_f1_agrees_with_hand_counted_spans():
    gold = [["B-person", "I-person", "O", "B-location"], ["B-misc", "O"]]
    pred = [["B-person", "I-person", "O", "B-organisation"], ["B-misc", "O"]]
    # spans: gold {per(0,1), loc(3), misc(0)}, predicted {per(0,1), org(3), misc(0)}: 2 correct of 3 and 3
    assert entity_f1(gold, pred) == pytest.approx(2 / 3)
    # a truncated span is wrong as a whole (token-level scores would give it partial credit)
    assert entity_f1([["B-person", "I-person"]], [["B-person", "O"]]) == 0.0
    with pytest.raises(ValueError, match="predict one tag per word"):
        entity_f1([["O", "O"]], [["O"]])


def test_coarse_tags():
    assert coarse_tag("I-politicalparty") == "I-organisation"
    assert coarse_tag("B-algorithm") == "B-misc"
    with pytest.raises(ValueError, match="BIO"):
        coarse_tag("person")


def test_token_domain_mask_drops_specials_and_padding():
    ids = torch.tensor([[101, 5, 6, 102], [101, 7, 102, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    assert token_domain_mask(ids, mask, [101, 102, 0]).tolist() == [[False, True, True, False], [False, True, False, False]]


def _model(grl=True):
    torch.manual_seed(0)
    tagger = TokenClassifier(nn.Embedding(20, 4), num_labels=3, dropout=0.0)
    rev = GradientReversal(scale=0.5) if grl else None  # no ramp: a constant lambda = 0.5
    return TokenDomainAdversarialTagger(tagger, DomainAdversarialLoss(domain_discriminator(4), rev), special_ids=[0, 1, 2])


def test_reversed_gradient_sign_and_scale_at_token_level():
    """The body receives -lambda times the gradient the domain loss alone would give it, on real tokens only."""
    batch = dict(input_ids=torch.tensor([[1, 5, 6, 2, 0]]), attention_mask=torch.tensor([[1, 1, 1, 1, 0]]),
                 target_input_ids=torch.tensor([[1, 7, 8, 9, 2]]), target_attention_mask=torch.ones(1, 5, dtype=torch.long))
    dann, plain = _model(), _model(grl=False)
    plain.load_state_dict(dann.state_dict())
    lam = dann.adversary.grl.scale_now
    assert lam == pytest.approx(0.5)
    out_d, out_p = dann(**batch), plain(**batch)
    assert out_d.domain_loss.item() == pytest.approx(out_p.domain_loss.item())
    # independent computation: the domain loss on the hand-picked real tokens (5, 6 | 7, 8, 9)
    emb = plain.tagger.body.weight
    ref = nn.functional.cross_entropy(plain.adversary.domain_head(emb[[5, 6, 7, 8, 9]]), torch.tensor([0, 0, 1, 1, 1]))
    assert out_p.domain_loss.item() == pytest.approx(ref.item(), rel=1e-6)
    gd = torch.autograd.grad(dann.adversary(*_real(dann, batch)), dann.tagger.body.weight)[0]
    gp = torch.autograd.grad(plain.adversary(*_real(plain, batch)), plain.tagger.body.weight)[0]
    assert torch.allclose(gd, -lam * gp, atol=1e-7)
    assert gp[[5, 6, 7, 8, 9]].abs().sum() > 0
    assert gp[[0, 1, 2]].abs().sum() == 0  # specials and padding get no domain gradient
    # the domain head itself still learns to separate the domains: same gradient in both models
    hd = torch.autograd.grad(dann.adversary(*_real(dann, batch)), dann.adversary.domain_head[0].weight)[0]
    hp = torch.autograd.grad(plain.adversary(*_real(plain, batch)), plain.adversary.domain_head[0].weight)[0]
    assert torch.allclose(hd, hp, atol=1e-7)


def _real(model, batch):
    s = model.hidden(batch["input_ids"], batch["attention_mask"])
    t = model.hidden(batch["target_input_ids"], batch["target_attention_mask"])
    return (s[token_domain_mask(batch["input_ids"], batch["attention_mask"], model.special_ids)],
            t[token_domain_mask(batch["target_input_ids"], batch["target_attention_mask"], model.special_ids)])


def test_tagging_loss_ignores_minus_100_and_target_has_no_labels():
    model = _model()
    out = model(torch.tensor([[1, 5, 6, 2]]), labels=torch.tensor([[-100, 2, -100, -100]]),
                target_input_ids=torch.tensor([[1, 7, 2, 0]]))
    ref = nn.functional.cross_entropy(out.logits[0, 1:2], torch.tensor([2]))
    assert out.tagging_loss.item() == pytest.approx(ref.item(), rel=1e-6)
    with pytest.raises(ValueError, match="one tag id"):
        model(torch.tensor([[1, 5, 6, 2]]), labels=torch.tensor([[0, 1]]), target_input_ids=torch.tensor([[1, 7, 2, 0]]))
