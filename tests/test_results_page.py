"""The book's results page pastes one computed sentence per chapter: every chapter must glue it.

``book/results.md`` holds a row per chapter with ``{glue:text}`../notebooks/NN_x.ipynb::headline:s```;
the build (run with ``-W``) fails when a chapter does not glue ``headline``. These checks catch the
same mistakes before a build: a chapter added to the toc without a row, a row for a chapter that
is not in the toc, or a chapter whose code never glues its headline.
"""

import re
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "book" / "results.md"


def toc_chapters() -> list[str]:
    """The notebooks of the toc, as stems ("01_what_transfer_buys"), in book order."""
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = [entry["file"] for part in toc["parts"] for entry in part["chapters"]]
    return [Path(f).stem for f in files if f.startswith("notebooks/")]


def pasted_chapters() -> list[str]:
    return re.findall(r"\{glue:text\}`\.\./notebooks/([0-9]{2}_\w+)\.ipynb::headline:s`", RESULTS.read_text())


def test_results_page_is_in_the_toc():
    toc = (ROOT / "book" / "_toc.yml").read_text()
    assert "book/results" in toc, "book/results.md is not listed in book/_toc.yml"


def test_every_chapter_has_exactly_one_row_in_book_order():
    assert pasted_chapters() == toc_chapters(), (
        "book/results.md must paste `headline` from every chapter of book/_toc.yml, once, in toc order; "
        f"toc: {toc_chapters()}, results page: {pasted_chapters()}"
    )


@pytest.mark.parametrize("stem", toc_chapters())
def test_chapter_code_glues_its_headline(stem: str):
    notebook = jupytext.read(ROOT / "notebooks" / f"{stem}.md")
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert re.search(r"""\bglue\(\s*["']headline["']""", code), (
        f"notebooks/{stem}.md never calls glue('headline', ...): compose the chapter's headline sentence from "
        "its computed results (see chapter 8) so that the results page can paste it"
    )
