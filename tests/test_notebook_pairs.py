"""Each chapter's .md (source of truth) and .ipynb (for Colab) hold the same cells.

The .ipynb must be output-free: outputs would go stale, and the book executes the
notebooks itself. Regenerate a pair with `make pair`.
"""

from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.md"))


def test_there_are_chapters():
    assert CHAPTERS, "no notebooks/NN_*.md chapters found"


def cells(notebook) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (cell.cell_type, cell.source.strip(), tuple(cell.metadata.get("tags", ())))
        for cell in notebook.cells
    ]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_pair_has_the_same_cells(md: Path):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make pair`"
    source = jupytext.read(md)
    paired = nbformat.read(ipynb, as_version=4)
    assert cells(source) == cells(paired), f"{ipynb.name} differs from {md.name}: run `make pair`"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_paired_notebook_has_no_outputs(md: Path):
    paired = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    for i, cell in enumerate(paired.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{md.stem}.ipynb cell {i} has outputs"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_installs_tlnlp_on_colab_first(md: Path):
    first = next(c for c in jupytext.read(md).cells if c.cell_type == "code")
    assert "google.colab" in first.source and "remove-cell" in first.metadata.get("tags", ())


def test_toc_lists_every_chapter_as_ipynb():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = {chapter["file"] for part in toc["parts"] for chapter in part["chapters"]}
    for md in CHAPTERS:
        assert f"notebooks/{md.stem}.ipynb" in files, f"{md.stem} is not in book/_toc.yml"
