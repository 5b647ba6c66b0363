"""Fast batches of text: tokenise once, group similar lengths, pad to the batch maximum.

A Transformer's cost grows with the padded length of the batch, not with the real
lengths. Three habits make fine-tuning on a CPU several times faster:

1. tokenise the whole dataset once, up front (:func:`tokenize`), not in every epoch;
2. put sentences of similar length in the same batch (:class:`LengthBucketSampler`);
3. pad each batch only to its own longest sentence (:class:`PadCollator`).

>>> from tlnlp.models import load_encoder  # doctest: +SKIP
>>> tok = load_encoder("minilm").tokenizer  # doctest: +SKIP
>>> data = tokenize(tok, ["a fine film", "dull"], labels=[1, 0], max_length=64)  # doctest: +SKIP
>>> loader = make_loader(data, batch_size=32, shuffle=True, pad_token_id=tok.pad_token_id)  # doctest: +SKIP
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .protocol import short_repr, check_encodable, check_texts

__all__ = ["TokenizedDataset", "tokenize", "LengthBucketSampler", "PadCollator", "make_loader"]


def _positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1 (numpy integers welcome), or a ``TypeError``/``ValueError`` naming it."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int >= 1, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int >= 1, got {short_repr(value)} ({type(value).__name__})") from None
    if number < 1:
        raise ValueError(f"{name} must be an int >= 1, got {number}")
    return number


def _label(i: int, value: Any) -> int:
    """One class label as an int >= 0: ints, numpy ints and whole floats (1.0 from pandas) pass."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"label {i} is {value!r} (a bool), not a class index; labels are ints 0..num_labels-1: convert with int()")
    try:
        label = operator.index(value)
    except TypeError:
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            label = int(value)
        else:
            raise ValueError(
                f"label {i} is {short_repr(value)} ({type(value).__name__}), not a class index; labels are ints "
                "0..num_labels-1: map names to ids first (e.g. {'neg': 0, 'pos': 1}) and drop rows without a label"
            ) from None
    if label < 0 and label != -100:  # -100: cross-entropy's ignore_index (an unlabelled row)
        raise ValueError(f"label {i} is {label}; labels are class indices 0..num_labels-1 (or -100 for no label)")
    return label


@dataclass
class TokenizedDataset(Dataset):
    """Token ids (unpadded, one list per text) and optional integer labels.

    Items are dicts ``{"input_ids": list[int], "labels": int}`` for :class:`PadCollator`.

    Example:
        >>> d = TokenizedDataset([[101, 7, 102], [101, 102]], [1, 0])
        >>> len(d), d.lengths.tolist(), d[1]
        (2, [3, 2], {'input_ids': [101, 102], 'labels': 0})
    """

    input_ids: list[list[int]]
    labels: Sequence[int] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.input_ids, (str, bytes)) or not hasattr(self.input_ids, "__len__"):
            raise TypeError(f"input_ids must be a list of token-id lists, got {short_repr(self.input_ids)}")
        if self.labels is not None:
            if isinstance(self.labels, (str, bytes)):
                raise TypeError(f"labels must be a list of ints, one per text, got the string {short_repr(self.labels)}")
            self.labels = [_label(i, y) for i, y in enumerate(self.labels)]
            if len(self.labels) != len(self.input_ids):
                raise ValueError(
                    f"{len(self.input_ids)} token sequences but {len(self.labels)} labels; give one label per text"
                )
        lengths = []
        for i, ids in enumerate(self.input_ids):
            if isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__"):
                raise TypeError(
                    f"input_ids[{i}] is {short_repr(ids)}, not a list of token ids; tokenise the texts with tokenize()"
                )
            lengths.append(len(ids))
        empty = [i for i, n in enumerate(lengths) if n == 0]
        if empty:  # an all-padding row: mean pooling over it divides by zero
            raise ValueError(
                f"{len(empty)} token sequences are empty (first at index {empty[:5]}): every text needs at "
                "least one token; drop those texts, or encode unknown words as the unknown id (unknown='map')"
            )
        self.lengths = np.array(lengths, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.input_ids)

    def subset(self, indices: Sequence[int] | np.ndarray) -> TokenizedDataset:
        """The examples at ``indices`` (in that order), without tokenising again.

        Example:
            >>> TokenizedDataset([[1], [2, 3], [4]], [0, 1, 0]).subset([2, 1]).input_ids
            [[4], [2, 3]]
        """
        labels = None if self.labels is None else [self.labels[i] for i in indices]
        return TokenizedDataset([self.input_ids[i] for i in indices], labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"input_ids": self.input_ids[index]}
        if self.labels is not None:
            item["labels"] = self.labels[index]
        return item


def tokenize(tokenizer: Any, texts: Sequence[str], labels: Sequence[int] | None = None, max_length: int = 128) -> TokenizedDataset:
    """Tokenise every text once (with special tokens, truncated, no padding).

    Arguments:
        tokenizer: a Hugging Face tokenizer (a fast one tokenises in batches in Rust).
        texts: the sentences.
        labels: one integer label per text, or ``None``.
        max_length: longer texts are cut to this many tokens.

    Returns:
        A :class:`TokenizedDataset`.

    Example:
        >>> from tlnlp.models import load_encoder  # doctest: +SKIP
        >>> tokenize(load_encoder().tokenizer, ["a fine film"]).input_ids  # doctest: +SKIP
        [[101, 1037, 2986, 2143, 102]]
    """
    texts = check_texts(texts, "tokenize()")
    if not texts:
        raise ValueError("tokenize() got no texts (an empty list); check the data split or the filter before it")
    max_length = _positive_int("max_length", max_length)
    specials = getattr(tokenizer, "num_special_tokens_to_add", None)
    reserved = specials() if callable(specials) else 0
    if max_length <= reserved:
        raise ValueError(
            f"max_length={max_length} leaves no room for text: the tokenizer adds {reserved} special tokens; "
            f"use max_length > {reserved} (e.g. 128)"
        )
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and limit < 100_000 and max_length > limit:  # HF says ~1e30 for "no limit"
        raise ValueError(
            f"max_length={max_length} is longer than the tokenizer's model_max_length={limit} (the model's "
            f"positions): pass max_length <= {limit}"
        )
    if labels is not None:
        if isinstance(labels, (str, bytes)):
            raise TypeError(f"labels must be a list of ints, one per text, got the string {short_repr(labels)}")
        labels = list(labels)
    if labels is not None and len(labels) != len(texts):
        raise ValueError(f"tokenize() got {len(texts)} texts but {len(labels)} labels; give one label per text")
    try:
        encoded = tokenizer(texts, truncation=True, max_length=max_length)
    except (TypeError, ValueError):
        check_encodable(texts, "tokenize()")  # name the text the tokenizer choked on, if it is one
        raise
    return TokenizedDataset(list(encoded["input_ids"]), labels)


class LengthBucketSampler(Sampler[list[int]]):
    """A batch sampler that puts texts of similar length together, in random order.

    With ``shuffle=True``, every epoch the indices are shuffled and cut into buckets of
    ``bucket_batches * batch_size``; each bucket is sorted by length and cut into
    batches, and the order of all batches is shuffled. Batches are random from epoch to
    epoch yet hold sentences of similar length, so padding is small. With
    ``shuffle=False`` (evaluation) all indices are sorted by length, longest first.
    Every index appears exactly once per epoch.

    Arguments:
        lengths: the length of every example (e.g. ``TokenizedDataset.lengths``).
        batch_size: examples per batch.
        shuffle: randomise the batches (training) or not (evaluation).
        bucket_batches: batches per bucket; larger means less padding, less randomness.
        seed: the seed of the shuffling (epoch ``e`` uses ``seed + e``); ``None`` draws
            it from torch's global generator, so :func:`tlnlp.config.seed_everything`
            (and ``fit(seed=...)``) fixes it.
        drop_last: drop batches smaller than ``batch_size``.

    Example:
        >>> sampler = LengthBucketSampler([5, 1, 4, 2, 3, 6], batch_size=2, shuffle=False)
        >>> list(sampler)
        [[5, 0], [2, 4], [3, 1]]
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        bucket_batches: int = 50,
        seed: int | None = None,
        drop_last: bool = False,
    ) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.ndim != 1:
            raise ValueError(f"lengths must be a 1-d sequence (one length per example), got shape {self.lengths.shape}")
        if self.lengths.size == 0:
            raise ValueError("no examples to batch (the dataset is empty); tokenize at least one text")
        batch_size = _positive_int("batch_size", batch_size)
        bucket_batches = _positive_int("bucket_batches", bucket_batches)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.bucket_batches = bucket_batches
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0

    def _batches(self) -> list[np.ndarray]:
        n, size = len(self.lengths), self.batch_size
        if not self.shuffle:
            order = np.argsort(-self.lengths, kind="stable")
            return [order[i : i + size] for i in range(0, n, size)]
        seed = self.seed + self.epoch if self.seed is not None else int(torch.randint(2**31 - 1, ()).item())
        rng = np.random.default_rng(seed)
        permutation = rng.permutation(n)
        bucket = size * self.bucket_batches
        batches: list[np.ndarray] = []
        for start in range(0, n, bucket):
            chunk = permutation[start : start + bucket]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i : i + size] for i in range(0, len(chunk), size))
        return [batches[i] for i in rng.permutation(len(batches))]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        self.epoch += 1
        for batch in batches:
            if self.drop_last and len(batch) < self.batch_size:
                continue
            yield batch.tolist()

    def __len__(self) -> int:
        n, size = len(self.lengths), self.batch_size
        bucket = size * self.bucket_batches if self.shuffle else n
        chunks = [bucket] * (n // bucket) + ([n % bucket] if n % bucket else [])
        full = sum(m // size for m in chunks)
        partial = sum(1 for m in chunks if m % size)
        return full if self.drop_last else full + partial


class PadCollator:
    """Stack :class:`TokenizedDataset` items into a batch padded to its longest sequence.

    Returns ``{"input_ids", "attention_mask"}`` (``long`` tensors) plus ``"labels"`` when
    the items have labels: the batch format of Hugging Face models, of
    :class:`~tlnlp.models.Classifier` and of :func:`tlnlp.train.fit`.

    Arguments:
        pad_token_id: the tokenizer's ``pad_token_id``.

    Example:
        >>> batch = PadCollator(pad_token_id=0)([{"input_ids": [5, 6, 7], "labels": 1},
        ...                                      {"input_ids": [8], "labels": 0}])
        >>> batch["input_ids"].tolist(), batch["attention_mask"].tolist(), batch["labels"].tolist()
        ([[5, 6, 7], [8, 0, 0]], [[1, 1, 1], [1, 0, 0]], [1, 0])
    """

    def __init__(self, pad_token_id: int = 0) -> None:
        if pad_token_id is None:
            raise ValueError(
                "pad_token_id is None: this tokenizer has no padding token (GPT-2's has none); pass "
                "pad_token_id=tokenizer.eos_token_id (any id works: padded positions are masked out)"
            )
        try:
            self.pad_token_id = operator.index(pad_token_id)
        except TypeError:
            raise TypeError(f"pad_token_id must be an int token id, got {short_repr(pad_token_id)}") from None

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not items:
            raise ValueError("PadCollator got an empty batch")
        width = max(len(item["input_ids"]) for item in items)
        input_ids = np.full((len(items), width), self.pad_token_id, dtype=np.int64)
        attention_mask = np.zeros((len(items), width), dtype=np.int64)
        for row, item in enumerate(items):
            n = len(item["input_ids"])
            input_ids[row, :n] = item["input_ids"]
            attention_mask[row, :n] = 1
        batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(attention_mask)}
        if "labels" in items[0]:
            batch["labels"] = torch.tensor([item["labels"] for item in items], dtype=torch.long)
        return batch


def make_loader(
    dataset: TokenizedDataset,
    batch_size: int,
    *,
    shuffle: bool,
    pad_token_id: int = 0,
    bucket_batches: int = 50,
    seed: int | None = None,
) -> DataLoader:
    """A ``DataLoader`` with length bucketing and dynamic padding.

    Arguments:
        dataset: from :func:`tokenize`.
        batch_size: examples per batch.
        shuffle: ``True`` for training (random buckets), ``False`` for evaluation
            (sorted by length: the least padding).
        pad_token_id: the tokenizer's ``pad_token_id``.
        bucket_batches: see :class:`LengthBucketSampler`.
        seed: see :class:`LengthBucketSampler`.

    Example:
        >>> data = TokenizedDataset([[1, 2, 3], [1, 2], [1, 2, 3, 4], [1]], [0, 1, 0, 1])
        >>> [b["input_ids"].shape[1] for b in make_loader(data, batch_size=2, shuffle=False)]
        [4, 2]
    """
    if not isinstance(dataset, TokenizedDataset):
        raise TypeError(
            f"make_loader() takes a TokenizedDataset, got {type(dataset).__name__}: build one with "
            "tokenize(tokenizer, texts, labels) or TokenizedDataset(input_ids, labels)"
        )
    sampler = LengthBucketSampler(dataset.lengths, batch_size, shuffle=shuffle, bucket_batches=bucket_batches, seed=seed)
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=PadCollator(pad_token_id))
