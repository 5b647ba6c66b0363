"""Atomic writes and load-or-compute caching."""

import pytest

from tlnlp.cache import atomic_path, config_key, load_or_compute


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert list(target.parent.iterdir()) == [target]


def test_config_key_depends_on_every_value_not_on_order():
    assert config_key({"a": 1, "b": 2}) == config_key({"b": 2, "a": 1})
    assert config_key({"a": 1, "b": 2}) != config_key({"a": 1, "b": 3})


def test_load_or_compute_computes_once_per_config(monkeypatch, tmp_path):
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return "result"

    def save(value, path):
        path.write_text(value)

    def load(path):
        return path.read_text()

    assert load_or_compute("thing", {"x": 1}, compute, save, load, suffix=".txt") == "result"
    assert load_or_compute("thing", {"x": 1}, compute, save, load, suffix=".txt") == "result"
    assert len(calls) == 1
    load_or_compute("thing", {"x": 2}, compute, save, load, suffix=".txt")
    assert len(calls) == 2
