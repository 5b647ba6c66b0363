"""Next-sentence-prediction pairs, built from documents the way BERT builds them.

A document is a list of segments (sentences, or already tokenized sentences). For each
document :func:`make_nsp_examples` gathers consecutive segments until a length budget is
reached, cuts the chunk in two at a random segment boundary, and keeps the second half as
segment B (label ``IsNext``) or replaces it with segments from another document (label
``NotNext``), each with probability 1/2. The pair is truncated to the budget by trimming
the longer side, from its front or its back at random, and encoded as
``[CLS] A [SEP] B [SEP]`` with ``token_type_ids`` 0 for ``[CLS] A [SEP]`` and 1 for ``B [SEP]``.

>>> from types import SimpleNamespace
>>> tok = SimpleNamespace(cls_token_id=1, sep_token_id=2)
>>> docs = [[[10, 11], [12, 13], [14]], [[20, 21], [22, 23]]]
>>> ex = make_nsp_examples(docs, tok, max_length=16, seed=0)
>>> ex[0].input_ids[0] == 1 and ex[0].input_ids[-1] == 2
True
>>> ex[0].next_sentence_label in (IS_NEXT, NOT_NEXT)
True

One deliberate difference from the original ``create_pretraining_data.py``: BERT forces
``NotNext`` when a chunk holds a single segment, which tilts its labels towards
``NotNext``; here a chunk always holds at least two segments, so the labels are exactly
balanced in expectation (a document with a single segment still serves as a source of
random B segments).

References:
    Devlin et al. (2019), *BERT*, section 3.1 (task #2) and appendix A.2.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Sequence

IS_NEXT = 0
"""``next_sentence_label`` of a pair whose B really follows A (Hugging Face's convention)."""
NOT_NEXT = 1
"""``next_sentence_label`` of a pair whose B comes from another document."""


class NSPError(ValueError):
    """Invalid input to :func:`make_nsp_examples`."""


@dataclass(frozen=True)
class NSPExample:
    """One ``[CLS] A [SEP] B [SEP]`` pair with its label.

    Attributes:
        input_ids: the encoded pair, special tokens included.
        token_type_ids: 0 over ``[CLS] A [SEP]``, 1 over ``B [SEP]``.
        next_sentence_label: :data:`IS_NEXT` (0) or :data:`NOT_NEXT` (1).

    Example:
        >>> ex = NSPExample(input_ids=(1, 5, 2, 6, 2), token_type_ids=(0, 0, 0, 1, 1), next_sentence_label=IS_NEXT)
        >>> ex.attention_mask
        (1, 1, 1, 1, 1)
    """

    input_ids: tuple[int, ...]
    token_type_ids: tuple[int, ...]
    next_sentence_label: int

    @property
    def attention_mask(self) -> tuple[int, ...]:
        """All ones: an unpadded pair has no padding to hide."""
        return (1,) * len(self.input_ids)

    @property
    def segment_a(self) -> tuple[int, ...]:
        """The ids of segment A (without ``[CLS]``/``[SEP]``)."""
        length_a = self.token_type_ids.count(0) - 2
        return self.input_ids[1 : 1 + length_a]

    @property
    def segment_b(self) -> tuple[int, ...]:
        """The ids of segment B (without the final ``[SEP]``)."""
        length_a = self.token_type_ids.count(0) - 2
        return self.input_ids[2 + length_a : -1]


def truncate_pair(
    tokens_a: list[int], tokens_b: list[int], max_num_tokens: int, rng: random.Random
) -> tuple[list[int], list[int]]:
    """Trim a pair to ``max_num_tokens`` ids in all, as BERT does.

    While the pair is too long, one id is removed from the longer side (B on a tie), from its
    front or its back with equal probability, so that neither side is always cut at the same
    end. Returns new lists; the inputs are not modified.

    Example:
        >>> a, b = truncate_pair(list(range(10)), [20, 21], 6, random.Random(0))
        >>> len(a) + len(b), b
        (6, [20, 21])
    """
    if max_num_tokens < 2:
        raise NSPError(f"max_num_tokens must be at least 2 (one id per side), got {max_num_tokens}")
    a, b = list(tokens_a), list(tokens_b)
    while len(a) + len(b) > max_num_tokens:
        longer = a if len(a) > len(b) else b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()
    return a, b


def tokenize_documents(documents: Sequence[Sequence[Any]], tokenizer: Any) -> list[list[list[int]]]:
    """Token ids of every segment of every document, without special tokens; empty segments dropped.

    Strings go through ``tokenizer`` (all in one call), id lists are kept. Tokenize once and
    cut new NSP pairs from the ids every epoch: :func:`make_nsp_examples` accepts either.

    Introduced in chapter 5.

    Example:
        >>> tok = lambda texts, add_special_tokens: {"input_ids": [[len(w) for w in t.split()] for t in texts]}
        >>> tokenize_documents([["a bb", ""], ["ccc"]], tok)
        [[[1, 2]], [[3]]]
    """
    if any(isinstance(doc, str) for doc in documents):
        raise NSPError("each document must be a list of segments (sentences), not a single string")
    texts = [seg for doc in documents for seg in doc if isinstance(seg, str)]
    encoded = iter(tokenizer(texts, add_special_tokens=False)["input_ids"]) if texts else iter(())
    out: list[list[list[int]]] = []
    for doc in documents:
        segments = [list(next(encoded)) if isinstance(seg, str) else [int(t) for t in seg] for seg in doc]
        out.append([seg for seg in segments if seg])
    return out


def _special_id(tokenizer: Any, name: str) -> int:
    value = getattr(tokenizer, name, None)
    if value is None:
        raise NSPError(f"the tokenizer has no {name.replace('_id', '')}; NSP pairs need [CLS] and [SEP] (a BERT-style tokenizer)")
    return int(value)


def make_nsp_examples(
    documents: Sequence[Sequence[str | Sequence[int]]],
    tokenizer: Any,
    *,
    max_length: int = 128,
    seed: int = 0,
    short_seq_prob: float = 0.1,
) -> list[NSPExample]:
    """Build balanced IsNext / NotNext pairs from documents.

    Arguments:
        documents: a list of documents, each a list of segments in reading order; a segment
            is a string (tokenized with ``tokenizer``, no special tokens) or a list of ids.
            Empty segments are dropped.
        tokenizer: provides ``cls_token_id`` and ``sep_token_id`` (and tokenizes strings).
        max_length: the budget for the encoded pair, special tokens included (at least 5).
        seed: seeds the ``random.Random`` that draws cut points, labels and random segments.
        short_seq_prob: probability that a document uses a shorter random budget, so that
            the model also sees short inputs (BERT uses 0.1).

    Returns:
        A list of :class:`NSPExample`, one per chunk, in document order.

    Raises:
        NSPError: fewer than two non-empty documents, a budget below 5, a probability out of
            range, or a tokenizer without ``[CLS]``/``[SEP]``.

    Example:
        >>> from types import SimpleNamespace
        >>> tok = SimpleNamespace(cls_token_id=101, sep_token_id=102)
        >>> docs = [[[5, 6], [7, 8], [9]], [[30], [31], [32]]]
        >>> examples = make_nsp_examples(docs, tok, max_length=8, seed=1)
        >>> all(len(e.input_ids) <= 8 for e in examples)
        True
    """
    if max_length < 5:
        raise NSPError(f"max_length must be at least 5 ([CLS] a [SEP] b [SEP]), got {max_length}")
    if not 0.0 <= short_seq_prob <= 1.0:
        raise NSPError(f"short_seq_prob must lie in [0, 1], got {short_seq_prob!r}")
    cls_id, sep_id = _special_id(tokenizer, "cls_token_id"), _special_id(tokenizer, "sep_token_id")
    docs = tokenize_documents(documents, tokenizer)
    nonempty = [i for i, doc in enumerate(docs) if doc]
    if len(nonempty) < 2:
        raise NSPError(
            f"NSP needs at least two non-empty documents (NotNext segments come from another document), got {len(nonempty)}"
        )

    position = {doc: k for k, doc in enumerate(nonempty)}
    rng = random.Random(seed)
    max_num_tokens = max_length - 3
    examples: list[NSPExample] = []
    for doc_index, doc in enumerate(docs):
        target = rng.randint(2, max_num_tokens) if rng.random() < short_seq_prob else max_num_tokens
        chunk: list[list[int]] = []
        length = 0
        i = 0
        while i < len(doc):
            chunk.append(doc[i])
            length += len(doc[i])
            if (length >= target and len(chunk) >= 2) or i == len(doc) - 1:
                if len(chunk) >= 2:
                    a_end = rng.randint(1, len(chunk) - 1)
                    tokens_a = [t for seg in chunk[:a_end] for t in seg]
                    if rng.random() < 0.5:
                        label = NOT_NEXT
                        j = rng.randrange(len(nonempty) - 1)  # a uniform draw among the *other* documents
                        other = docs[nonempty[j + (j >= position[doc_index])]]
                        target_b = target - len(tokens_a)
                        tokens_b = []
                        for seg in other[rng.randrange(len(other)) :]:
                            tokens_b.extend(seg)
                            if len(tokens_b) >= target_b:
                                break
                        i -= len(chunk) - a_end  # the unused segments start the next chunk
                    else:
                        label = IS_NEXT
                        tokens_b = [t for seg in chunk[a_end:] for t in seg]
                    tokens_a, tokens_b = truncate_pair(tokens_a, tokens_b, max_num_tokens, rng)
                    examples.append(
                        NSPExample(
                            input_ids=(cls_id, *tokens_a, sep_id, *tokens_b, sep_id),
                            token_type_ids=(0,) * (len(tokens_a) + 2) + (1,) * (len(tokens_b) + 1),
                            next_sentence_label=label,
                        )
                    )
                chunk, length = [], 0
            i += 1
    return examples
