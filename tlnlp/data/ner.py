"""Named-entity recognition data: CrossNER (six domains) and WNUT-17, in BIO tags.

Both come as CoNLL-style files (``token<TAB>tag`` per line, a blank line between
sentences) and are read by one parser, :func:`read_conll`.

>>> sentences = load_crossner("ai", "train")
>>> sentences[0].tokens[:3], sentences[0].tags[:3]
(['Popular', 'approaches', 'of'], ['O', 'O', 'O'])
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .choices import check_choice
from .registry import get_dataset
from .resolve import dataset_file
from .textfiles import utf8_errors

SPLITS: tuple[str, ...] = ("train", "dev", "test")
"""The splits of CrossNER and WNUT-17."""


@dataclass
class TaggedSentence:
    """A tokenised sentence with one BIO tag per token.

    Example:
        >>> len(TaggedSentence(["Paris", "is", "big"], ["B-location", "O", "O"]))
        3
    """

    tokens: list[str]
    tags: list[str]

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.tags):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.tags)} tags: {self.tokens[:5]}...")

    def __len__(self) -> int:
        return len(self.tokens)


def read_conll(path: str | os.PathLike[str]) -> list[TaggedSentence]:
    """Read a CoNLL-style file: ``token<TAB>tag`` lines, sentences separated by blank lines.

    The token is the first field and the tag the last (tab-separated, or
    whitespace-separated if a line has no tab); lines holding only whitespace end a
    sentence, and ``-DOCSTART-`` lines are skipped.

    Raises:
        ValueError: a line has a single field; the message gives the file and line number.
        FileEncodingError: the file is not UTF-8 (a ``ValueError``; it gives the line and byte).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.conll"
        >>> _ = p.write_text("I\\tO\\nran\\tO\\n\\nBob\\tB-person\\n")
        >>> [s.tokens for s in read_conll(p)]
        [['I', 'ran'], ['Bob']]
    """
    sentences: list[TaggedSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    with open(path, encoding="utf-8") as stream, utf8_errors(path):
        for number, line in enumerate(stream, start=1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("-DOCSTART-"):
                if tokens:
                    sentences.append(TaggedSentence(tokens, tags))
                    tokens, tags = [], []
                continue
            fields = line.split("\t") if "\t" in line else line.split()
            if len(fields) < 2:
                raise ValueError(f"{path}, line {number}: expected 'token<TAB>tag', got {line!r}")
            tokens.append(fields[0])
            tags.append(fields[-1].strip())
    if tokens:
        sentences.append(TaggedSentence(tokens, tags))
    return sentences


def crossner_domains() -> tuple[str, ...]:
    """CrossNER's domains, source domain (``conll2003``) first.

    Example:
        >>> crossner_domains()
        ('conll2003', 'politics', 'science', 'music', 'literature', 'ai')
    """
    domains = [f.relpath.split("/")[0] for f in get_dataset("crossner").files]
    return tuple(dict.fromkeys(domains))


def load_crossner(domain: str, split: str) -> list[TaggedSentence]:
    """One split of one CrossNER domain.

    Arguments:
        domain: one of :func:`crossner_domains`.
        split: ``"train"``, ``"dev"`` or ``"test"``.

    Example:
        >>> len(load_crossner("politics", "train"))
        200
    """
    check_choice(domain, crossner_domains(), "CrossNER domain")
    check_choice(split, SPLITS, "CrossNER split")
    return read_conll(dataset_file("crossner", f"{domain}/{split}.txt"))


def load_wnut17(split: str) -> list[TaggedSentence]:
    """One split of WNUT-17 (train: Twitter; dev: YouTube; test: Twitter/Reddit/StackExchange).

    Example:
        >>> len(load_wnut17("dev"))
        1009
    """
    check_choice(split, SPLITS, "WNUT-17 split")
    return read_conll(dataset_file("wnut17", f"{split}.conll"))
