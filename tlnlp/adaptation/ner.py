"""Named-entity recognition across domains: tag encoding, entity-level F1 (seqeval), token-level DANN.

The sentence-level DANN of :mod:`tlnlp.adaptation.dann` has one feature vector per example.
A tagger has one per *token*, so the domain head here classifies every real token of the
source and target batches: special tokens (``[CLS]``, ``[SEP]``) and padding are left out,
and the target batches carry no labels at all (the domain label comes from which loader a
batch came from). The pieces, each one job:

- :func:`encode_tagged`: BIO tag strings -> ids, aligned to word-pieces by
  :func:`tlnlp.multitask.align_word_labels` (continuation pieces, specials, padding: ``-100``);
- :func:`coarse_tag`: CrossNER's fine entity types folded onto CoNLL-2003's four;
- :func:`entity_f1`: span-level micro F1 from ``seqeval`` (the CoNLL score), and
  :func:`predict_tags` to get word-level tag strings from a tagger;
- :func:`token_domain_mask` and :class:`TokenDomainAdversarialTagger`: DANN at token level,
  trained by :func:`tlnlp.train.fit` on :func:`tlnlp.adaptation.pair_domains` batches.

Introduced in the chapter on NER across domains.

>>> entity_f1([["B-person", "I-person", "O"]], [["B-person", "I-person", "O"]])
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..models.heads import TokenClassifier, _run_body
from ..models.output import Output
from ..multitask.tokens import IGNORE, TaggedTokens, align_word_labels
from .dann import DomainAdversarialLoss

__all__ = [
    "COARSE_TYPES",
    "coarse_tag",
    "encode_tagged",
    "entity_f1",
    "predict_tags",
    "token_domain_mask",
    "TokenDomainAdversarialTagger",
]

COARSE_TYPES: dict[str, str] = {
    "person": "person", "politician": "person", "scientist": "person", "musicalartist": "person",
    "writer": "person", "researcher": "person",
    "location": "location", "country": "location",
    "organisation": "organisation", "politicalparty": "organisation", "university": "organisation",
    "band": "organisation",
}
"""CrossNER's fine types that are a kind of CoNLL person/location/organisation; every other type is ``misc``."""


def coarse_tag(tag: str) -> str:
    """Fold a CrossNER BIO tag onto CoNLL-2003's four types (person, location, organisation, misc).

    A politician is a person, a country a location, a political party, university or band an
    organisation; every other domain type (song, algorithm, award...) becomes ``misc``.

    Example:
        >>> [coarse_tag(t) for t in ["B-politician", "I-country", "B-song", "O", "B-person"]]
        ['B-person', 'I-location', 'B-misc', 'O', 'B-person']
    """
    if tag == "O":
        return tag
    if len(tag) < 3 or tag[1] != "-" or tag[0] not in "BI":
        raise ValueError(f"{tag!r} is not a BIO tag: expected 'O' or 'B-<type>'/'I-<type>'")
    return f"{tag[:2]}{COARSE_TYPES.get(tag[2:], 'misc')}"


def encode_tagged(
    tokenizer: Any, sentences: Sequence[Any], tag_names: Sequence[str], max_length: int = 128
) -> TaggedTokens:
    """Word-piece ids and aligned tag ids of tagged sentences (anything with ``tokens`` and ``tags``).

    Each word's tag goes to its first piece; continuation pieces, special tokens and padding
    get ``-100`` (see :func:`tlnlp.multitask.align_word_labels`).

    Raises:
        ValueError: a tag not in ``tag_names`` (the message lists them), or a sentence whose
            tags do not match its tokens.

    Example:
        >>> from tlnlp.data import TaggedSentence
        >>> from tlnlp.models import load_encoder
        >>> tok = load_encoder("minilm").tokenizer
        >>> encode_tagged(tok, [TaggedSentence(["Lindbergh", "flew"], ["B-person", "O"])], ["O", "B-person"]).labels
        [[-100, 1, -100, -100, 0, -100]]
    """
    index = {name: i for i, name in enumerate(tag_names)}
    ids = []
    for n, sentence in enumerate(sentences):
        tokens, tags = list(sentence.tokens), list(sentence.tags)
        if len(tokens) != len(tags):
            raise ValueError(f"sentence {n} has {len(tokens)} tokens but {len(tags)} tags: give one tag per token")
        unknown = [t for t in tags if t not in index]
        if unknown:
            raise ValueError(
                f"sentence {n} has tag {unknown[0]!r}, not among the {len(index)} known tags {list(index)}: "
                "map the tags first (e.g. coarse_tag) or pass the full tag list"
            )
        ids.append([index[t] for t in tags])
    return align_word_labels(tokenizer, [s.tokens for s in sentences], ids, max_length)


def entity_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float:
    """Span-level micro F1 (CoNLL's score), computed by ``seqeval``: an entity counts only if its type and both ends match.

    Raises:
        ValueError: different numbers of sentences, or a sentence whose two tag lists differ in length.

    Example:
        >>> entity_f1([["B-person", "I-person", "O", "B-location"]], [["B-person", "O", "O", "B-location"]])
        0.5
    """
    from seqeval.metrics import f1_score

    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted ones")
    for n, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {n}: {len(g)} gold tags but {len(p)} predicted: predict one tag per word")
    return float(f1_score([list(g) for g in gold], [list(p) for p in predicted]))


@torch.no_grad()
def predict_tags(
    tagger: nn.Module, data: TaggedTokens, tag_names: Sequence[str], batch_size: int = 32
) -> list[list[str]]:
    """Word-level tag strings: the argmax of each word's first piece (the positions labelled in ``data``).

    Example:
        >>> tagger = TokenClassifier(nn.Embedding(10, 4), num_labels=2)
        >>> predict_tags(tagger, TaggedTokens([[1, 2, 3]], [[-100, 0, 1]]), ["O", "B-x"])[0].__len__()
        2
    """
    was_training = tagger.training
    tagger.eval()
    device = next(tagger.parameters()).device
    out: list[list[str]] = []
    try:
        for start in range(0, len(data), batch_size):
            rows = range(start, min(start + batch_size, len(data)))
            width = max(len(data.input_ids[i]) for i in rows)
            ids = torch.zeros((len(rows), width), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, i in enumerate(rows):
                ids[r, : len(data.input_ids[i])] = torch.tensor(data.input_ids[i])
                mask[r, : len(data.input_ids[i])] = 1
            best = tagger(ids.to(device), attention_mask=mask.to(device)).logits.argmax(-1).cpu()
            for r, i in enumerate(rows):
                out.append([tag_names[int(best[r, p])] for p, lab in enumerate(data.labels[i]) if lab != IGNORE])
    finally:
        tagger.train(was_training)
    return out


def token_domain_mask(
    input_ids: torch.Tensor, attention_mask: torch.Tensor | None, special_ids: Sequence[int]
) -> torch.Tensor:
    """The tokens a token-level domain head should see: real (unpadded) and not special.

    Example:
        >>> token_domain_mask(torch.tensor([[101, 7, 8, 102, 0]]), torch.tensor([[1, 1, 1, 1, 0]]), [101, 102, 0])
        tensor([[False,  True,  True, False, False]])
    """
    keep = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    for special in special_ids:
        keep = keep & (input_ids != int(special))
    return keep


class TokenDomainAdversarialTagger(nn.Module):
    """A tagger trained on labelled source sentences while a token-level domain head shapes its features.

    Article 003's ``DomainAdaptiveNER``, corrected: the domain head classifies every *token*
    (not one vector per sentence), behind a gradient reversal, from source tokens and tokens
    of *unlabelled* target batches; special tokens and padding never reach it
    (:func:`token_domain_mask`), and the tagging loss ignores ``-100``.

    ``forward`` takes :func:`tlnlp.adaptation.pair_domains` batches (``input_ids``,
    ``attention_mask``, ``labels``, ``target_input_ids``, ``target_attention_mask``) and
    returns ``loss = tagging loss + trade_off * token domain loss``. Without target inputs it
    is the plain tagger, so :func:`tlnlp.train.evaluate` and :func:`predict_tags` work on it.

    Arguments:
        tagger: a :class:`tlnlp.models.TokenClassifier`.
        adversary: a :class:`DomainAdversarialLoss` over ``(tokens, dim)`` features.
        special_ids: token ids the domain head must not see (``tokenizer.all_special_ids``).
        trade_off: the weight of the domain loss (0: source only).

    Example:
        >>> from tlnlp.adaptation import GradientReversal, domain_discriminator
        >>> model = TokenDomainAdversarialTagger(TokenClassifier(nn.Embedding(9, 4), num_labels=3),
        ...     DomainAdversarialLoss(domain_discriminator(4), GradientReversal()), special_ids=[0, 1])
        >>> out = model(torch.tensor([[1, 5, 6, 0]]), labels=torch.tensor([[-100, 2, 0, -100]]),
        ...             target_input_ids=torch.tensor([[1, 7, 0, 0]]))
        >>> sorted(out.keys())
        ['domain_loss', 'logits', 'loss', 'tagging_loss']
    """

    def __init__(
        self, tagger: TokenClassifier, adversary: DomainAdversarialLoss, special_ids: Sequence[int], trade_off: float = 1.0
    ) -> None:
        super().__init__()
        if not isinstance(tagger, TokenClassifier):
            raise TypeError(f"tagger must be a tlnlp.models.TokenClassifier, got {type(tagger).__name__}")
        if not isinstance(adversary, DomainAdversarialLoss):
            raise TypeError(f"adversary must be a DomainAdversarialLoss, got {type(adversary).__name__}")
        if not trade_off >= 0:
            raise ValueError(f"trade_off must be >= 0 (0: source only), got {trade_off}")
        self.tagger = tagger
        self.adversary = adversary
        self.special_ids = [int(i) for i in special_ids]
        self.trade_off = float(trade_off)

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The body's ``(batch, time, dim)`` token features."""
        out = _run_body(self.tagger.body, self.tagger._body_takes_mask, input_ids, attention_mask, {})
        return out if isinstance(out, torch.Tensor) else out.last_hidden_state

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        target_input_ids: torch.Tensor | None = None,
        target_attention_mask: torch.Tensor | None = None,
    ) -> Output:
        if target_input_ids is None:
            return self.tagger(input_ids, attention_mask=attention_mask, labels=labels)
        source = self.hidden(input_ids, attention_mask)
        target = self.hidden(target_input_ids, target_attention_mask)
        logits = self.tagger.head(source)
        s_keep = token_domain_mask(input_ids, attention_mask, self.special_ids)
        t_keep = token_domain_mask(target_input_ids, target_attention_mask, self.special_ids)
        if not s_keep.any() or not t_keep.any():
            raise ValueError("a source or target batch has no real tokens once specials and padding are removed")
        domain_loss = self.adversary(source[s_keep], target[t_keep])
        if labels is None:
            return Output(logits=logits, domain_loss=domain_loss.detach())
        if labels.shape != logits.shape[:2]:
            raise ValueError(
                f"labels have shape {tuple(labels.shape)} but the tokens are {tuple(logits.shape[:2])}: give one tag id "
                "per token (-100 where there is none), e.g. from encode_tagged"
            )
        tagging = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)
        return Output(
            logits=logits,
            loss=tagging + self.trade_off * domain_loss,
            tagging_loss=tagging.detach(),
            domain_loss=domain_loss.detach(),
        )

    def extra_repr(self) -> str:
        return f"trade_off={self.trade_off:g}, reverses={self.adversary.reverses}"
