"""Step 3 of the resolution order: downloads, against a local HTTP server on 127.0.0.1.

Each test builds its own one-dataset registry whose URL points at the server, and uses
an empty mirror and cache under ``tmp_path``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tlnlp.data import (
    ChecksumError,
    DataNotFoundError,
    DatasetSpec,
    FileSpec,
    IncompleteDownloadError,
    dataset_file,
    dataset_path,
)

GOOD = b"sentence\tlabel\n" + b"a fine film\t1\n" * 5000  # ~70 kB: several chunks would be fine too


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache and an empty mirror, downloads allowed."""
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TLNLP_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.delenv("TLNLP_OFFLINE", raising=False)
    return tmp_path / "cache"


def toy_registry(url: str, content: bytes = GOOD, **overrides: object) -> dict[str, DatasetSpec]:
    """A registry with one dataset ``toy`` whose file ``a.tsv`` is ``content`` at ``url``."""
    checks = {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content), **overrides}
    spec = DatasetSpec("toy", "A toy set.", "CC0", "Nobody 2024", "https://example.org",
                       (FileSpec("a.tsv", url, **checks),))
    return {"toy": spec}


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_good_download_lands_in_cache_with_right_checksum(server, cache):
    registry = toy_registry(server.serve("/a.tsv", GOOD))
    path = dataset_file("toy", "a.tsv", registry=registry)
    assert path == cache / "data" / "toy" / "a.tsv"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(GOOD).hexdigest()
    assert files_under(cache) == [path]  # no temporary file left next to it


def test_second_call_uses_the_cache_without_a_request(server, cache):
    registry = toy_registry(server.serve("/a.tsv", GOOD))
    first = dataset_file("toy", "a.tsv", registry=registry)
    second = dataset_file("toy", "a.tsv", registry=registry)
    assert first == second
    assert server.requests == ["/a.tsv"]


def test_mirror_is_preferred_over_download(server, cache, tmp_path):
    registry = toy_registry(server.serve("/a.tsv", GOOD))
    mirrored = tmp_path / "mirror" / "toy" / "a.tsv"
    mirrored.parent.mkdir(parents=True)
    mirrored.write_bytes(GOOD)
    assert dataset_file("toy", "a.tsv", registry=registry) == mirrored
    assert server.requests == [] and files_under(cache) == []


def test_connection_cut_short_leaves_nothing(server, cache):
    # The server announces more bytes than it sends, then closes the connection.
    url = server.serve("/a.tsv", GOOD[:1000], announced=len(GOOD))
    registry = toy_registry(url, sha256=None, size=None)
    with pytest.raises(IncompleteDownloadError, match=f"1,000 of the {len(GOOD):,} bytes"):
        dataset_file("toy", "a.tsv", registry=registry)
    assert files_under(cache) == []


def test_file_shorter_than_registered_size_leaves_nothing(server, cache):
    registry = toy_registry(server.serve("/a.tsv", GOOD[:-10]))  # honest server, short file
    with pytest.raises(ChecksumError) as caught:
        dataset_file("toy", "a.tsv", registry=registry)
    message = str(caught.value)
    assert f"{len(GOOD) - 10:,} bytes" in message and f"{len(GOOD):,} bytes" in message
    assert "nothing was saved" in message
    assert files_under(cache) == []


def test_checksum_mismatch_leaves_nothing(server, cache):
    corrupted = GOOD[:-2] + b"0\n"  # same size, one byte differs
    registry = toy_registry(server.serve("/a.tsv", corrupted))
    with pytest.raises(ChecksumError) as caught:
        dataset_file("toy", "a.tsv", registry=registry)
    message = str(caught.value)
    assert hashlib.sha256(GOOD).hexdigest() in message
    assert hashlib.sha256(corrupted).hexdigest() in message
    assert files_under(cache) == []


def test_online_only_file_is_checked_by_its_first_bytes(server, cache):
    url = server.serve("/a.tsv", b"<html>moved</html>")
    registry = toy_registry(url, sha256=None, size=None, head=b"sentence\t")
    with pytest.raises(ChecksumError, match="should start with"):
        dataset_file("toy", "a.tsv", registry=registry)
    assert files_under(cache) == []


def test_offline_fails_at_once_naming_url_and_mirror_variable(server, cache, monkeypatch):
    url = server.serve("/a.tsv", GOOD)
    monkeypatch.setenv("TLNLP_OFFLINE", "1")
    with pytest.raises(DataNotFoundError) as caught:
        dataset_file("toy", "a.tsv", registry=toy_registry(url))
    message = str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)
    assert url in message and "TLNLP_DATA_DIR" in message and "'toy'" in message and "a.tsv" in message
    assert server.requests == []


def test_http_error_is_data_not_found_and_leaves_nothing(server, cache):
    url = server.base + "/missing.tsv"
    with pytest.raises(DataNotFoundError, match="404"):
        dataset_file("toy", "a.tsv", registry=toy_registry(url))
    assert files_under(cache) == []


def test_dataset_path_downloads_what_the_cache_lacks(server, cache):
    other = b"second file\n"
    spec = DatasetSpec("toy", "A toy set.", "CC0", "Nobody 2024", "https://example.org", (
        FileSpec("a.tsv", server.serve("/a.tsv", GOOD), hashlib.sha256(GOOD).hexdigest(), len(GOOD)),
        FileSpec("sub/b.txt", server.serve("/b.txt", other), hashlib.sha256(other).hexdigest(), len(other)),
    ))
    root = dataset_path("toy", registry={"toy": spec})
    assert root == cache / "data" / "toy"
    assert (root / "a.tsv").read_bytes() == GOOD and (root / "sub" / "b.txt").read_bytes() == other
    assert sorted(server.requests) == ["/a.tsv", "/b.txt"]
