"""The package's floors: no module imports a layer above its own (CONTRIBUTING.md, "Layers").

Every import counts, also the ones inside functions (lazy imports are still dependencies).
A new top-level module or package must be given a floor here, or this test fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tlnlp"

FLOORS: dict[str, int] = {
    # 0: settings and the atomic cache
    "config": 0,
    "cache": 0,
    "precision": 0,
    # 1: data in, text to ids
    "data": 1,
    "text": 1,
    # 2: architectures, forward passes only
    "models": 2,
    # 3: objectives and measurements of models
    "lm": 3,
    "pretraining": 3,
    "embeddings": 3,
    # 4: the one loop and its optimisers
    "train": 4,
    "optim": 4,
    # 5: transfer methods and measurement over seeds
    "transfer": 5,
    "adaptation": 5,
    "meta": 5,
    "multitask": 5,
    "distill": 5,
    "experiment": 5,
    "plot": 5,
    # 6: the book's named multi-stage methods
    "recipes": 6,
    # 7: what only the book needs (presets per chapter, glue)
    "book": 7,
    "report": 7,
    "diagrams": 7,
}
"""Top-level module or package of ``tlnlp`` -> its floor (0 is the bottom)."""

KNOWN_VIOLATIONS: set[tuple[str, str]] = set()
"""(importing module, imported module) pairs still to be fixed; must end empty."""


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the tlnlp modules that ``path`` imports (at any depth of its code)."""
    module = _dotted(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "tlnlp")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] != "tlnlp":
                continue
            if name == "tlnlp" or node.module is None:  # `from . import x`: x is a module
                found.update(f"{name}.{alias.name}" for alias in node.names)
            else:
                found.add(name)
    return found


def _floor(dotted: str) -> int | None:
    parts = dotted.split(".")
    if len(parts) < 2:
        return None  # the package itself
    return FLOORS.get(parts[1])


def test_every_module_has_a_floor() -> None:
    missing = sorted({_dotted(p).split(".")[1] for p in _modules() if _dotted(p) != "tlnlp" and _floor(_dotted(p)) is None})
    assert not missing, f"give these tlnlp modules a floor in tests/test_layers.py FLOORS: {missing}"


def test_no_module_imports_a_layer_above_it() -> None:
    upward: list[str] = []
    for path in _modules():
        source = _dotted(path)
        own = _floor(source)
        if own is None:
            continue
        for target in sorted(_imports(path)):
            floor = _floor(target)
            if floor is not None and floor > own and (source, target) not in KNOWN_VIOLATIONS:
                upward.append(f"{source} (floor {own}) imports {target} (floor {floor})")
    assert not upward, "upward imports:\n" + "\n".join(upward)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from ..train import fit", {"tlnlp.train"}),
        ("from . import gpt", {"tlnlp.models.gpt"}),
        ("from .heads import Classifier", {"tlnlp.models.heads"}),
        ("import tlnlp.config", {"tlnlp.config"}),
        ("def f():\n    from tlnlp.transfer import freeze", {"tlnlp.transfer"}),
    ],
)
def test_the_import_reader_resolves_relative_and_lazy_imports(tmp_path: Path, source: str, expected: set[str]) -> None:
    fake = PACKAGE / "models" / "_layer_probe.py"
    try:
        fake.write_text(source)
        assert _imports(fake) == expected
    finally:
        fake.unlink()


def test_the_library_never_asks_which_preset_is_active() -> None:
    """Presets change sizes in chapters (P.pick); tlnlp's code paths never depend on them."""
    asking = []
    for path in _modules():
        source = _dotted(path)
        if source in ("tlnlp", "tlnlp.config") or (_floor(source) or 0) >= FLOORS["book"]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith("config"):
                names = {alias.name for alias in node.names} & {"preset", "preset_name", "Preset"}
                if names:
                    asking.append(f"{source} imports {sorted(names)}")
    assert not asking, "\n".join(asking)
