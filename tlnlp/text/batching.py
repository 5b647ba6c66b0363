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

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["TokenizedDataset", "tokenize", "LengthBucketSampler", "PadCollator", "make_loader"]


def _integer_labels(labels: Sequence[Any]) -> list[int]:
    """Labels as ints; a float such as 0.5 or NaN would be truncated silently by ``int()``."""
    if isinstance(labels, (str, bytes)):
        raise TypeError(f"labels must be a sequence of integer class ids, got a string {labels[:20]!r}")
    out = []
    for i, y in enumerate(labels):
        value = y.item() if hasattr(y, "item") else y  # numpy and torch scalars
        integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not integral:
            raise ValueError(
                f"label {i} is {y!r}: labels must be integer class ids 0..num_labels-1 "
                "(map names to ids first, e.g. with tlnlp.data.labelled_texts)"
            )
        out.append(int(value))
    return out


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
        if self.labels is not None:
            self.labels = _integer_labels(self.labels)
            if len(self.labels) != len(self.input_ids):
                raise ValueError(f"{len(self.input_ids)} token sequences but {len(self.labels)} labels")
        empty = [i for i, ids in enumerate(self.input_ids) if len(ids) == 0]
        if empty:  # an all-padding row: mean pooling over it divides by zero
            raise ValueError(
                f"{len(empty)} token sequences are empty (first at index {empty[:5]}): every text needs at "
                "least one token; drop those texts, or encode unknown words as the unknown id (unknown='map')"
            )
        self.lengths = np.array([len(ids) for ids in self.input_ids], dtype=np.int64)

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
    if isinstance(texts, str):
        raise TypeError("tokenize() takes a list of texts, got a single string; pass [text] instead")
    texts = list(texts)
    if not texts:
        raise ValueError("tokenize() got no texts: pass a non-empty list of strings")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is {type(text).__name__} ({text!r:.40}), not a string: drop or fill missing texts first")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:  # a lone surrogate, e.g. from reading bytes with errors="surrogateescape"
            raise ValueError(
                f"text {i} ({text!r:.40}) holds a character that is not valid Unicode ({err.reason} at position {err.start}): "
                "read the file as UTF-8 with errors='replace', or fix its encoding"
            ) from None
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length must be an int >= 2 (room for the special tokens), got {max_length!r}")
    if isinstance(limit, int) and limit < 100_000 and max_length > limit:  # HF uses ~1e30 for "no limit"
        raise ValueError(
            f"max_length={max_length} is longer than the tokenizer's model_max_length={limit} (the model's "
            f"positions): pass max_length <= {limit}"
        )
    encoded = tokenizer(texts, truncation=True, max_length=max_length)
    return TokenizedDataset(list(encoded["input_ids"]), None if labels is None else list(labels))


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
        if self.lengths.ndim != 1 or self.lengths.size == 0:
            raise ValueError(f"lengths must be a non-empty 1-d sequence, got shape {self.lengths.shape}")
        if batch_size < 1 or bucket_batches < 1:
            raise ValueError(f"batch_size and bucket_batches must be >= 1, got {batch_size} and {bucket_batches}")
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
        self.pad_token_id = int(pad_token_id)

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
