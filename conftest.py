"""Run the MyST-markdown chapters (notebooks/NN_topic.md) through nbval.

nbval only collects ``.ipynb`` files; the ``.md`` chapters are the source of truth, so
this hook reads them with jupytext and hands the notebook to nbval's collector. The
paired ``.ipynb`` files (output-free, for Colab) are not collected: they hold the same
cells, which ``tests/test_notebook_pairs.py`` checks.
"""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest

collect_ignore_glob = ["notebooks/*.ipynb", "_build/*", "benchmarks/*"]

# The kernel runs in notebooks/: a relative data directory must become absolute.
if os.environ.get("TLNLP_DATA_DIR"):
    os.environ["TLNLP_DATA_DIR"] = str(Path(os.environ["TLNLP_DATA_DIR"]).resolve())


@pytest.fixture(autouse=True)
def _fp32_unless_asked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests and docstring examples run in fp32 (``TLNLP_AMP=off``) unless the caller set it.

    They compare tlnlp's results with independent fp32 computations and across batchings, bit
    for bit; whether bf16 is chosen, honoured and harmless is tested in tests/test_precision.py,
    and the chapters run with the default ``auto``. (nbval's chapter cells take no fixtures.)
    """
    if "TLNLP_AMP" not in os.environ:
        monkeypatch.setenv("TLNLP_AMP", "off")


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    option = parent.config.option
    if not (getattr(option, "nbval", False) or getattr(option, "nbval_lax", False)):
        return None
    if file_path.suffix != ".md" or file_path.parent.name != "notebooks":
        return None
    if not file_path.name[:2].isdigit():
        return None
    return MarkdownNotebook.from_parent(parent, path=file_path)


try:
    import jupytext
    import nbval.plugin as _nbval_plugin
except ImportError:  # nbval/jupytext not installed: chapters are simply not collected
    MarkdownNotebook = None  # type: ignore[assignment]
else:

    class MarkdownNotebook(_nbval_plugin.IPyNbFile):
        """nbval's notebook collector, fed from a Jupytext markdown file."""

        def collect(self):
            notebook = jupytext.read(self.path)
            # nbval reads the file with nbformat.read; give it the parsed notebook instead.
            with mock.patch.object(_nbval_plugin.nbformat, "read", lambda *args, **kwargs: notebook):
                yield from super().collect()
