"""Text classification data: SST-2, the Amazon multi-domain reviews and CLINC150 intents.

>>> train = load_sst2("train")
>>> len(train), train.label_names
(67349, ('negative', 'positive'))
>>> reviews = load_amazon_reviews(["books", "kitchen"])
>>> reviews.groupby(["domain", "label"]).size().tolist()
[1000, 1000, 1000, 1000]
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .choices import check_choice
from .registry import get_dataset
from .resolve import dataset_file
from .textfiles import read_text, utf8_errors

SST2_SPLITS: dict[str, str] = {"train": "train.tsv", "dev": "dev.tsv", "test": "test_labeled.tsv"}
"""SST-2 split -> file (``test`` has the original SST labels; GLUE's public test has none)."""

CLINC150_SPLITS: tuple[str, ...] = ("train", "val", "test", "oos_train", "oos_val", "oos_test")
"""CLINC150's splits; the ``oos_*`` ones hold only out-of-scope queries (intent ``"oos"``)."""

_REVIEW = re.compile(r"<review>(.*?)</review>", re.S)
_FIELDS = {name: re.compile(rf"<{name}>(.*?)</{name}>", re.S) for name in ("rating", "title", "review_text")}


@dataclass
class TextClassificationData:
    """Texts with integer labels.

    Attributes:
        texts: the examples.
        labels: ``int64`` array, ``labels[i]`` indexes ``label_names``.
        label_names: the name of each label value.

    Example:
        >>> d = TextClassificationData(["bad", "good", "fine"], [0, 1, 1], ("neg", "pos"))
        >>> d.subset([2, 0]).texts, d.subset([2, 0]).labels.tolist()
        (['fine', 'bad'], [1, 0])
    """

    texts: list[str]
    labels: np.ndarray
    label_names: tuple[str, ...]

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.label_names = tuple(self.label_names)
        if self.labels.ndim != 1 or len(self.labels) != len(self.texts):
            raise ValueError(f"{len(self.texts)} texts but labels of shape {self.labels.shape}")
        if len(self.labels) and not 0 <= self.labels.min() <= self.labels.max() < len(self.label_names):
            raise ValueError(f"labels must lie in 0..{len(self.label_names) - 1} to index label_names")

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int] | np.ndarray) -> TextClassificationData:
        """The examples at ``indices`` (in that order)."""
        indices = np.asarray(indices, dtype=np.int64)
        outside = indices[(indices < -len(self)) | (indices >= len(self))]
        if outside.size:
            raise IndexError(
                f"subset() got indices {outside[:5].tolist()} outside 0..{len(self) - 1} "
                f"(the data has {len(self)} examples)"
            )
        return TextClassificationData([self.texts[i] for i in indices], self.labels[indices], self.label_names)


@dataclass
class IntentData:
    """Utterances with their intent names (CLINC150).

    Example:
        >>> d = IntentData(["what's my balance"], ["balance"])
        >>> len(d), d.intents[0]
        (1, 'balance')
    """

    texts: list[str]
    intents: list[str]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.intents):
            raise ValueError(f"{len(self.texts)} texts but {len(self.intents)} intents")

    def __len__(self) -> int:
        return len(self.texts)


def load_sst2(split: str) -> TextClassificationData:
    """One split of SST-2 (0 = negative, 1 = positive).

    Arguments:
        split: ``"train"`` (67,349 phrases), ``"dev"`` (872 sentences) or ``"test"`` (1,821).

    Example:
        >>> load_sst2("dev").texts[0]
        "it 's a charming and often affecting journey ."
    """
    check_choice(split, SST2_SPLITS, "SST-2 split")
    path = dataset_file("sst2", SST2_SPLITS[split])
    texts, labels = [], []
    with open(path, encoding="utf-8") as stream, utf8_errors(path):
        header = next(stream, "").rstrip("\r\n").split("\t")
        if header != ["sentence", "label"]:
            raise ValueError(f"{path}: expected the header 'sentence<TAB>label', got {header}")
        for number, line in enumerate(stream, start=2):
            text, tab, label = line.rstrip("\r\n").rpartition("\t")
            if not tab or label not in ("0", "1"):
                raise ValueError(f"{path}, line {number}: expected 'sentence<TAB>0|1', got {line!r}")
            texts.append(text.strip())
            labels.append(int(label))
    return TextClassificationData(texts, np.array(labels, dtype=np.int64), ("negative", "positive"))


def amazon_domains() -> tuple[str, ...]:
    """The four product domains of the Amazon multi-domain reviews.

    Example:
        >>> amazon_domains()
        ('books', 'dvd', 'electronics', 'kitchen')
    """
    return tuple(dict.fromkeys(f.relpath.split("/")[1] for f in get_dataset("amazon_multidomain").files))


def _clean(text: str) -> str:
    return " ".join(html.unescape(text).split())


def load_amazon_reviews(domains: Iterable[str] | None = None) -> pd.DataFrame:
    """The labelled Amazon reviews, parsed from the raw pseudo-XML ``.review`` files.

    Arguments:
        domains: a subset of :func:`amazon_domains` (default: all four).

    Returns:
        A DataFrame with columns ``domain``, ``label`` (1 = positive, 4-5 stars; 0 = negative,
        1-2 stars), ``rating`` (float), ``title`` and ``text`` (HTML entities unescaped,
        whitespace collapsed): 1,000 positive and 1,000 negative reviews per domain.

    Example:
        >>> load_amazon_reviews(["dvd"]).label.value_counts().tolist()
        [1000, 1000]
    """
    domains = amazon_domains() if domains is None else [domains] if isinstance(domains, str) else domains
    domains = tuple(dict.fromkeys(domains))  # in the given order, without repeats
    if not domains:
        raise ValueError(f"no domain given; choose some of {', '.join(amazon_domains())}, or pass None for all")
    rows = []
    for domain in domains:
        check_choice(domain, amazon_domains(), "Amazon domain")
        for label, polarity in ((1, "positive"), (0, "negative")):
            path = dataset_file("amazon_multidomain", f"raw/{domain}/{polarity}.review")
            for number, review in enumerate(_REVIEW.findall(read_text(path)), start=1):
                fields = {name: pattern.search(review) for name, pattern in _FIELDS.items()}
                missing = [name for name, match in fields.items() if match is None]
                if missing:
                    raise ValueError(f"{path}: review {number} has no {', '.join(missing)}")
                rating, title, text = (_clean(match.group(1)) for match in fields.values())
                rows.append((domain, label, float(rating), title, text))
    return pd.DataFrame(rows, columns=["domain", "label", "rating", "title", "text"])


def load_clinc150(split: str) -> IntentData:
    """One split of CLINC150 (150 intents; out-of-scope queries have intent ``"oos"``).

    Arguments:
        split: one of :data:`CLINC150_SPLITS`; ``train``/``val``/``test`` hold
            15,000/3,000/4,500 in-scope utterances (100/20/30 per intent).

    Example:
        >>> len(set(load_clinc150("train").intents))
        150
    """
    check_choice(split, CLINC150_SPLITS, "CLINC150 split")
    pairs = _read_json(dataset_file("clinc150", "data_full.json"))[split]
    return IntentData([text for text, _ in pairs], [intent for _, intent in pairs])


def load_clinc150_domains() -> dict[str, list[str]]:
    """CLINC150's 10 domains, each with its 15 intents.

    Example:
        >>> load_clinc150_domains()["banking"][:2]
        ['freeze_account', 'routing']
    """
    return _read_json(dataset_file("clinc150", "domains.json"))


def _read_json(path: Path) -> Any:
    """A JSON file's content; a file that is not UTF-8 JSON fails naming the file and the place."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}") from None
