"""Every chapter's first cell installs tlnlp from one place: book/_config.yml's repository url.

The cell runs on Colab *before* tlnlp is installed, so it cannot import the URL from tlnlp: the
one setting is the book's ``repository: url`` (which also makes the Colab and repository
buttons), and this test holds every chapter's install line to it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9]*.md"))


def repository_url() -> str:
    return yaml.safe_load((ROOT / "book" / "_config.yml").read_text())["repository"]["url"].rstrip("/")


def first_code_cell(chapter: Path) -> str:
    match = re.search(r"```\{code-cell\}[^\n]*\n(.*?)```", chapter.read_text(), re.S)
    assert match, f"{chapter.name} has no code cell"
    return match.group(1)


def test_there_are_chapters() -> None:
    assert len(CHAPTERS) >= 9


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_first_cell_installs_from_the_books_repository_url(chapter: Path) -> None:
    cell = first_code_cell(chapter)
    assert f'"tlnlp @ git+{repository_url()}"' in cell, (
        f"{chapter.name}: the first cell must pip-install \"tlnlp @ git+{repository_url()}\" "
        "(book/_config.yml's repository url)"
    )
    assert re.findall(r"git\+(\S+?)\"", cell) == [repository_url()], f"{chapter.name}: another URL in the install cell"
    assert 'if "google.colab" in sys.modules' in cell  # elsewhere tlnlp is installed from the checkout
