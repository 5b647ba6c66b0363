"""Preparing WikiText for language models: split it into articles and undo its tokenization.

WikiText ships pre-tokenized: spaces around punctuation (``"the game 's end ."``), numbers
split with ``@`` markers (``"1 @,@ 000"``), headings as ``" = Title = "``. A BPE model trained on
that format learns the format; :func:`detokenize_wikitext` turns it back into ordinary text (as
the GPT-2 paper's detokenizers did) so that what the model learns transfers to normal text.

Introduced in chapter 4 (articles for GPT pretraining); chapter 5 splits them into sentences
(:func:`wikitext_documents`) for BERT's next-sentence pairs.

>>> detokenize_wikitext("It cost 1 @,@ 000 dollars ( in 1990 ) , don 't ask ?")
"It cost 1,000 dollars (in 1990), don't ask?"
"""

from __future__ import annotations

import re

__all__ = ["detokenize_wikitext", "wikitext_articles", "wikitext_documents"]

_ARTICLE_HEADING = re.compile(r"^ = (?!=)(.*) = $")  # " = Title = " but not " = = Section = = "
_HEADING = re.compile(r"^ (?:= )+(.*?)(?: =)+ $")
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r" @(.)@ ", r"\1"),  # 1 @,@ 000 -> 1,000 ; well @-@ known -> well-known
        (r" ([.,;:!?%)\]}])", r"\1"),  # no space before closing punctuation
        (r"([(\[{$£]) ", r"\1"),  # no space after opening brackets and currency signs
        (r"n '(t) ", r"n'\1 "),  # don 't -> don't
        (r" ('s|'re|'ve|'ll|'d|'m|') ", r"\1 "),  # clitics and plural possessives
        (r'" ([^"]*?) "', r'"\1"'),  # quoted spans
        (r" {2,}", " "),
    )
)


def detokenize_wikitext(text: str) -> str:
    """Undo WikiText's tokenization of one line or paragraph (``<unk>`` markers are kept).

    Headings become their bare title. The rules are the usual detokenizer heuristics: exact
    for numbers and clitics, close for quotes and brackets.

    Example:
        >>> detokenize_wikitext(' = = Early life = = ')
        'Early life'
        >>> detokenize_wikitext(' He said " yes " ; the well @-@ known firm \\'s 5 @.@ 5 % share . ')
        'He said "yes"; the well-known firm\\'s 5.5% share.'
    """
    heading = _HEADING.match(text.rstrip("\n"))
    if heading:
        return heading.group(1).strip()
    out = " " + text.strip() + " "
    for pattern, replacement in _RULES:
        out = pattern.sub(replacement, out)
    return out.strip()


def wikitext_articles(text: str, detokenize: bool = True) -> list[str]:
    """Split a WikiText split (one string) into its articles, one string each.

    An article starts at a top-level heading ``" = Title = "``; its paragraphs are joined
    with newlines (detokenized unless ``detokenize=False``), blank lines dropped.

    Example:
        >>> articles = wikitext_articles(" = A = \\n x , y . \\n = = Sub = = \\n z . \\n = B = \\n w . \\n")
        >>> articles
        ['A\\nx, y.\\nSub\\nz.', 'B\\nw.']
    """
    articles: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if _ARTICLE_HEADING.match(line) or not articles:
            articles.append([])
        articles[-1].append(detokenize_wikitext(line) if detokenize else line.strip())
    return ["\n".join(lines) for lines in articles]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")  # after . ! ? and before a capital, digit or opening


def wikitext_documents(text: str, unk: str = "[UNK]") -> list[list[str]]:
    """A WikiText split as documents of sentences, for next-sentence pairs (chapter 5).

    Each article becomes the list of its sentences: the title and section headings are dropped,
    WikiText's tokenization is undone, ``<unk>`` becomes ``unk`` (a BERT tokenizer's unknown
    token, so it is not split into pieces), and paragraphs are cut into sentences after ``.``,
    ``!`` or ``?`` followed by a capital, a digit or an opening quote or bracket. Articles
    without a sentence are left out.

    Arguments:
        text: one WikiText split (e.g. :func:`tlnlp.data.load_wikitext2` ``("valid")``).
        unk: what ``<unk>`` becomes.

    Introduced in chapter 5.

    Example:
        >>> wikitext_documents(" = A = \\n = = History = = \\n It began in 1 @,@ 900 . Then <unk> came . \\n")
        [['It began in 1,900.', 'Then [UNK] came.']]
    """
    documents = []
    for article in wikitext_articles(text, detokenize=False):
        sentences = []
        for line in article.splitlines()[1:]:  # the first line is the article's title
            if line.startswith("="):  # a section heading
                continue
            paragraph = detokenize_wikitext(line).replace("<unk>", unk)
            sentences.extend(s for s in _SENTENCE_END.split(paragraph) if s)
        if sentences:
            documents.append(sentences)
    return documents
