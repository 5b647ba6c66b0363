"""Token-level tasks on word-piece encoders: word tags aligned to pieces, batches, and a tag F1.

A NER dataset tags *words*; a WordPiece encoder sees *pieces* (``"Lindbergh"`` ->
``"lind", "##bergh"``). :func:`align_word_labels` gives each word's tag to its first piece and
``-100`` (ignored by the loss and the metrics) to the other pieces and to ``[CLS]``/``[SEP]``,
the usual convention (BERT's NER recipe). :func:`make_token_loader` pads the labels with
``-100`` as it pads the ids.

Introduced in chapter 8.

>>> data = TaggedTokens([[101, 7, 8, 102]], [[-100, 3, -100, -100]])
>>> batch = next(iter(make_token_loader(data, batch_size=1, shuffle=False)))
>>> batch["labels"].tolist()
[[-100, 3, -100, -100]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..text.batching import LengthBucketSampler

__all__ = ["IGNORE", "TaggedTokens", "align_word_labels", "make_token_loader", "token_f1"]

IGNORE = -100
"""The label of positions that are not scored (extra word-pieces, special tokens, padding)."""


@dataclass
class TaggedTokens(Dataset):
    """Token ids and one label per token (``-100``: not scored), one list of each per sentence.

    Example:
        >>> d = TaggedTokens([[1, 2, 3], [1, 3]], [[-100, 0, -100], [-100, -100]])
        >>> len(d), d.lengths.tolist(), d.subset([1]).input_ids
        (2, [3, 2], [[1, 3]])
    """

    input_ids: list[list[int]]
    labels: list[list[int]]

    def __post_init__(self) -> None:
        if len(self.input_ids) != len(self.labels):
            raise ValueError(f"{len(self.input_ids)} token sequences but {len(self.labels)} label sequences")
        for i, (ids, labels) in enumerate(zip(self.input_ids, self.labels)):
            if len(ids) != len(labels):
                raise ValueError(f"sentence {i} has {len(ids)} tokens but {len(labels)} labels: give one label per token")
        self.lengths = np.array([len(ids) for ids in self.input_ids], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"input_ids": self.input_ids[index], "labels": self.labels[index]}

    def subset(self, indices: Sequence[int] | np.ndarray) -> "TaggedTokens":
        """The sentences at ``indices``, in that order."""
        return TaggedTokens([self.input_ids[i] for i in indices], [self.labels[i] for i in indices])


def align_word_labels(
    tokenizer: Any, words: Sequence[Sequence[str]], tags: Sequence[Sequence[int]], max_length: int = 128
) -> TaggedTokens:
    """Tokenise pre-split sentences and give each word's tag to its first word-piece.

    Arguments:
        tokenizer: a *fast* Hugging Face tokenizer (it reports which word each piece came from).
        words: one list of words per sentence.
        tags: one tag id per word.
        max_length: longer sentences are cut (their last words lose their tags).

    Raises:
        ValueError: a sentence whose number of tags differs from its number of words, or a slow tokenizer.

    Example:
        >>> from tlnlp.models import load_encoder
        >>> tok = load_encoder("minilm").tokenizer
        >>> data = align_word_labels(tok, [["Lindbergh", "flew"]], [[1, 0]])
        >>> tok.convert_ids_to_tokens(data.input_ids[0]), data.labels[0]
        (['[CLS]', 'lin', '##dberg', '##h', 'flew', '[SEP]'], [-100, 1, -100, -100, 0, -100])
    """
    words, tags = [list(w) for w in words], [list(t) for t in tags]
    for i, (w, t) in enumerate(zip(words, tags)):
        if len(w) != len(t):
            raise ValueError(f"sentence {i} has {len(w)} words but {len(t)} tags: give one tag per word")
    if len(words) != len(tags):
        raise ValueError(f"{len(words)} sentences but {len(tags)} tag lists")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("align_word_labels() needs a fast tokenizer (it maps pieces to words): load it with use_fast=True")
    encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    labels = []
    for i, sentence_tags in enumerate(tags):
        previous, row = None, []
        for word in encoded.word_ids(i):
            row.append(IGNORE if word is None or word == previous else int(sentence_tags[word]))
            previous = word
        labels.append(row)
    return TaggedTokens(list(encoded["input_ids"]), labels)


class _TokenPadCollator:
    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = int(pad_token_id)

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(item["input_ids"]) for item in items)
        ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, item in enumerate(items):
            n = len(item["input_ids"])
            ids[row, :n] = torch.tensor(item["input_ids"])
            labels[row, :n] = torch.tensor(item["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def make_token_loader(
    dataset: TaggedTokens, batch_size: int, *, shuffle: bool, pad_token_id: int = 0, seed: int | None = None
) -> DataLoader:
    """Length-bucketed batches ``{"input_ids", "attention_mask", "labels"}``, labels padded with ``-100``.

    The token-level twin of :func:`tlnlp.transfer.make_loader` (same sampler, same padding of the ids).

    Example:
        >>> d = TaggedTokens([[1, 2, 3], [1, 2]], [[-100, 4, -100], [-100, 5]])
        >>> [b["labels"].tolist() for b in make_token_loader(d, 2, shuffle=False)]
        [[[-100, 4, -100], [-100, 5, -100]]]
    """
    sampler = LengthBucketSampler(dataset.lengths, batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=_TokenPadCollator(pad_token_id))


def token_f1(logits: torch.Tensor, targets: torch.Tensor, outside: int = 0, ignore_index: int = IGNORE) -> float:
    """Micro F1 of the entity tags over the scored tokens (every tag but ``outside`` counts).

    Precision is the share of tokens *predicted* as an entity tag that carry exactly that tag;
    recall the share of tokens *tagged* as an entity that are predicted so. A token-level
    measure: CoNLL's official score counts whole entity spans (seqeval), which is stricter.

    Arguments:
        logits: ``(N, C)`` tag scores (``fit``/``evaluate`` flatten ``(B, T, C)`` to this).
        targets: ``(N,)`` tag ids; ``ignore_index`` positions are not scored.
        outside: the id of the ``O`` tag.

    Example:
        >>> logits = torch.eye(3)[[0, 1, 2, 1]] * 5  # predictions 0, 1, 2, 1
        >>> token_f1(logits, torch.tensor([0, 1, 1, -100]))  # tp 1, predicted 2, gold 2
        0.5
    """
    keep = targets != ignore_index
    predicted, gold = logits.argmax(dim=-1)[keep], targets[keep]
    tp = int(((predicted == gold) & (gold != outside)).sum())
    n_pred, n_gold = int((predicted != outside).sum()), int((gold != outside).sum())
    if n_gold == 0:
        raise ValueError("token_f1() got no entity tokens to score: every scored target is the outside tag")
    if tp == 0:
        return 0.0
    precision, recall = tp / n_pred, tp / n_gold
    return 2 * precision * recall / (precision + recall)
