"""The README's "use tlnlp in your own code" examples run, as written, on a small CSV.

Only the step counts are shrunk (a test cannot train for minutes); every call, argument name
and import is the README's own. The LSTM example reads general English from the data mirror.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _example(name: str) -> str:
    match = re.search(rf"<!-- readme-example: {name} -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert match, f"README.md has no example marked {name!r}"
    return match.group(1)


def _shrunk(code: str) -> str:
    return re.sub(r"\b(steps|total_steps|max_steps)=\d[\d_]*", r"\1=4", code)


@pytest.fixture
def reviews_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rows = [("a charming and moving film", "positive"), ("dull , slow and far too long", "negative")] * 8
    pd.DataFrame(rows, columns=["review", "sentiment"]).to_csv(tmp_path / "reviews.csv", index=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "reviews.csv"


@pytest.mark.parametrize("name", ["minilm", "lstm"])
def test_the_readme_example_runs(name: str, reviews_csv: Path) -> None:
    code = _shrunk(_example(name))
    assert "=4" in code  # the shrinking found the step counts
    namespace: dict[str, object] = {}
    exec(compile(code, f"README.md ({name} example)", "exec"), namespace)
    assert namespace["model"].num_labels == 2  # type: ignore[attr-defined]
