"""The pool of general English text the embedding and language-model chapters pretrain on.

Offline there is little general text, so the pool takes every general English source
the mirror and gensim hold, keeping evaluation splits out:

=================== ============================================== ====================
source              what                                           one token list per
=================== ============================================== ====================
``head500``         gensim's 250 Wikipedia articles (stemmed)       article
``wikitext2_valid`` WikiText-2 valid (``test`` is kept for eval)    paragraph
``amazon``          Amazon review titles + texts (labels unused)    review
``conll2003_train`` CoNLL-2003 train sentences (Reuters news)       sentence
``text8``           text8, 17 M words of Wikipedia (online only)    1,000-word piece
=================== ============================================== ====================

The first four are the default pool (offline, about 2.3 M tokens); ``text8`` is the ``gpu``
preset's corpus, downloaded once (it has no sentence breaks, so it is cut into 1,000-word
pieces, as word2vec's C code reads it).

Every source goes through :func:`tlnlp.text.simple_tokenize`; WikiText's ``<unk>`` markers and
headings are dropped first.

>>> sentences = general_english_sentences(include=("wikitext2_valid",))  # doctest: +SKIP
>>> sentences[0][:4]  # doctest: +SKIP
['homarus', 'gammarus', 'known', 'as']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..text.words import simple_tokenize
from .benchmarks import load_wikipedia_head500
from .choices import check_choice
from .classification import load_amazon_reviews
from .corpora import load_text8, load_wikitext2
from .ner import load_crossner

def _head500() -> Iterable[str]:
    return (" ".join(tokens) for tokens in load_wikipedia_head500())


def wikitext2_paragraphs(split: str) -> list[str]:
    """The paragraphs of a WikiText-2 split as plain text: headings dropped, ``<unk>`` markers removed.

    Example:
        >>> paragraphs = wikitext2_paragraphs("test")  # doctest: +SKIP
        >>> simple_tokenize(paragraphs[0])[:4]  # doctest: +SKIP
        ['robert', 'is', 'an', 'english']
    """
    lines = (line.strip() for line in load_wikitext2(split).splitlines())
    return [line.replace("<unk>", " ") for line in lines if line and not line.startswith("=")]


def _wikitext2_valid() -> Iterable[str]:
    return wikitext2_paragraphs("valid")


def _amazon() -> Iterable[str]:
    reviews = load_amazon_reviews()
    return (f"{title}. {text}" for title, text in zip(reviews.title, reviews.text))


def _conll2003_train() -> Iterable[str]:
    return (" ".join(sentence.tokens) for sentence in load_crossner("conll2003", "train"))


def text8_pieces(words: list[str], length: int = 1_000) -> list[str]:
    """``words`` cut into pieces of ``length`` words, each joined back into one string.

    Example:
        >>> text8_pieces("a b c d e".split(), length=2)
        ['a b', 'c d', 'e']
    """
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    return [" ".join(words[i : i + length]) for i in range(0, len(words), length)]


def _text8() -> Iterable[str]:
    return text8_pieces(load_text8().split())


GENERAL_SOURCES: dict[str, Callable[[], Iterable[str]]] = {
    "head500": _head500,
    "wikitext2_valid": _wikitext2_valid,
    "amazon": _amazon,
    "conll2003_train": _conll2003_train,
    "text8": _text8,
}
"""The sources :func:`general_english_sentences` can pool, by name."""


def general_english_sentences(
    include: Iterable[str] | str = ("head500", "wikitext2_valid", "amazon", "conll2003_train"),
    lowercase: bool = True,
) -> list[list[str]]:
    """Tokenised general English text for pretraining word vectors or small language models.

    Arguments:
        include: which of :data:`GENERAL_SOURCES` to pool, in this order, or one name (the
            default four hold about 2.3 M tokens; see the module docstring for what each holds).
        lowercase: lowercase before tokenising.

    Returns:
        One token list per article / paragraph / review / sentence; empty ones are dropped.

    Example:
        >>> len(general_english_sentences(include=("conll2003_train",)))  # doctest: +SKIP
        13990
    """
    include = tuple([include] if isinstance(include, str) else include)
    if not include:
        raise ValueError(f"include is empty; choose some of {', '.join(GENERAL_SOURCES)}")
    for name in include:
        check_choice(name, GENERAL_SOURCES, "general-text source")
    sentences = []
    for name in include:
        sentences.extend(t for text in GENERAL_SOURCES[name]() if (t := simple_tokenize(text, lowercase)))
    return sentences
