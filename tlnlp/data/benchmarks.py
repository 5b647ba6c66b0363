"""Word-embedding benchmarks and text shipped in gensim's wheel (``gensim/test/test_data``).

>>> pairs = load_word_similarity("wordsim353")
>>> len(pairs), pairs[0]
(353, ('love', 'sex', 6.77))
"""

from __future__ import annotations

from pathlib import Path

from .choices import check_choice
from .textfiles import utf8_errors

WORD_SIMILARITY_FILES: dict[str, str] = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
"""Word-similarity benchmark name -> file in gensim's test data."""


def gensim_test_file(name: str) -> Path:
    """The path of a file in gensim's shipped test data.

    Raises:
        FileNotFoundError: gensim is not installed, or its wheel lacks ``name``.

    Example:
        >>> gensim_test_file("questions-words.txt").name
        'questions-words.txt'
    """
    try:
        from gensim.test.utils import datapath
    except ImportError as err:
        raise FileNotFoundError(f"{name!r} ships with gensim, which is not installed: pip install gensim") from err
    path = Path(datapath(name))
    if not path.is_file():
        raise FileNotFoundError(
            f"gensim's test data has no {name!r} (looked for {path}); "
            "this gensim install may be a build without its test data: reinstall gensim from its wheel"
        )
    return path


def load_word_similarity(name: str) -> list[tuple[str, str, float]]:
    """Word pairs with human similarity scores: ``"wordsim353"`` (353) or ``"simlex999"`` (999).

    Lines starting with ``#`` are comments; the others are ``word1<TAB>word2<TAB>score``
    (scores 0-10).

    Example:
        >>> load_word_similarity("simlex999")[0]
        ('old', 'new', 1.58)
    """
    check_choice(name, WORD_SIMILARITY_FILES, "word-similarity benchmark")
    path = gensim_test_file(WORD_SIMILARITY_FILES[name])
    pairs = []
    with open(path, encoding="utf-8") as stream, utf8_errors(path):
        for number, line in enumerate(stream, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) != 3:
                raise ValueError(f"{path}, line {number}: expected 'word1<TAB>word2<TAB>score', got {line!r}")
            pairs.append((fields[0], fields[1], float(fields[2])))
    return pairs


def google_analogies_path() -> Path:
    """The Google analogy questions (``questions-words.txt``: 14 sections, 19,544 questions).

    Pass it to ``KeyedVectors.evaluate_word_analogies``.

    Example:
        >>> google_analogies_path().read_text().splitlines()[0]
        ': capital-common-countries'
    """
    return gensim_test_file("questions-words.txt")


def load_wikipedia_head500() -> list[list[str]]:
    """gensim's ``head500.noblanks.cor``: 250 Wikipedia articles, one token list per article.

    Note the text is preprocessed by gensim: lowercased, stop words removed and
    Porter-stemmed (``"anarchy"`` appears as ``"anarch"``).

    Example:
        >>> load_wikipedia_head500()[0][:3]
        ['anarch', 'greek', 'rule']
    """
    path = gensim_test_file("head500.noblanks.cor")
    with open(path, encoding="utf-8") as stream, utf8_errors(path):
        return [tokens for line in stream if (tokens := line.split())]
