"""The registry's entries against the mirror, name errors, and mirror verification."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest

from tlnlp.data import (
    REGISTRY,
    ChecksumError,
    DataNotFoundError,
    UnknownDatasetError,
    UnknownFileError,
    dataset_file,
    dataset_path,
    get_dataset,
)

MIRROR = os.environ.get("TLNLP_DATA_DIR")
needs_mirror = pytest.mark.skipif(not MIRROR, reason="set TLNLP_DATA_DIR to the local data mirror (e.g. ../shared/data)")
DERIVED = {"SOURCE.md", "reviews.jsonl"}  # documentation and derived files are not registered
ONLINE_ONLY = {("wikitext2", "train.txt"), ("text8", "text8.zip")}  # registered, not in the mirror


def mirrored(name):
    return [f for f in REGISTRY[name].files if (name, f.relpath) not in ONLINE_ONLY]


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    """Never download, never touch the user's cache."""
    monkeypatch.setenv("TLNLP_OFFLINE", "1")
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path / "cache"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@needs_mirror
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registry_checksums_and_sizes_match_the_mirror(name):
    checked = mirrored(name)
    assert all(f.sha256 is not None for f in checked), "every mirrored file has a checksum"
    for file in checked:
        path = Path(MIRROR) / name / file.relpath
        assert path.is_file(), f"{path} is registered with a checksum but missing from the mirror"
        assert sha256(path) == file.sha256, f"sha256 typo in the registry entry of {name}/{file.relpath}"
        assert path.stat().st_size == file.size


@needs_mirror
def test_every_mirrored_data_file_is_registered():
    for folder in sorted(p for p in Path(MIRROR).iterdir() if p.is_dir()):
        on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name not in DERIVED}
        registered = {f.relpath for f in mirrored(folder.name)}
        assert on_disk == registered, folder.name


@needs_mirror
def test_urls_are_raw_files_at_the_commit_named_in_source_md():
    for name, spec in REGISTRY.items():
        source = Path(MIRROR) / name / "SOURCE.md"
        if not source.exists():
            continue
        text = source.read_text()
        commit = re.search(r"commit ([0-9a-f]{40})", text).group(1)
        repo = re.search(r"github\.com/([\w.-]+/[\w.-]+)", text).group(1).rstrip(",")
        for file in mirrored(name):
            assert file.url.startswith(f"https://raw.githubusercontent.com/{repo}/{commit}/"), file.url


def test_files_without_checksum_say_so_and_check_what_is_known():
    unverified = [(spec, f) for spec in REGISTRY.values() for f in spec.files if f.sha256 is None]
    assert {(spec.name, f.relpath) for spec, f in unverified} == {("wikitext2", "train.txt")}
    for spec, file in unverified:
        notes = spec.notes.lower()
        assert "online only" in notes and ("checksum" in notes or "sha256" in notes), spec.notes
        assert file.url and file.min_size and file.head  # a truncated copy is caught, not only a wrong first line
    for name, relpath in ONLINE_ONLY:
        assert "online only" in get_dataset(name).notes.lower()
    text8 = get_dataset("text8").file("text8.zip")
    assert text8.size == 31_344_016 and text8.url == "https://mattmahoney.net/dc/text8.zip"
    assert text8.sha256 == "a6640522afe85d1963ad56c05b0ede0a0c000dddc9671758a6cc09b7a38e5232"


def test_every_registered_url_is_https():
    urls = [f.url for spec in REGISTRY.values() for f in spec.files] + [s.homepage for s in REGISTRY.values()]
    assert all(url.startswith("https://") for url in urls), [u for u in urls if not u.startswith("https://")]


def test_unknown_dataset_lists_valid_names_and_suggests_the_closest():
    with pytest.raises(UnknownDatasetError) as caught:
        get_dataset("sst-2")
    message = str(caught.value)
    assert isinstance(caught.value, LookupError)
    assert not message.startswith(("'", '"')), "message must read as a sentence, not KeyError's repr"
    assert all(name in message for name in REGISTRY)
    assert message.endswith("Did you mean 'sst2'?")
    with pytest.raises(UnknownDatasetError):
        dataset_file("wikitext103", "train.txt")


def test_unknown_file_lists_the_dataset_files():
    with pytest.raises(UnknownFileError, match=r"train\.tsv, dev\.tsv, test_labeled\.tsv.*'test_labeled\.tsv'"):
        dataset_file("sst2", "test.tsv")


def test_missing_everywhere_names_dataset_file_url_and_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("TLNLP_DATA_DIR", str(tmp_path / "empty-mirror"))
    with pytest.raises(DataNotFoundError) as caught:
        dataset_file("clinc150", "domains.json")
    message = str(caught.value)
    for part in ("'clinc150'", "domains.json", get_dataset("clinc150").file("domains.json").url, "TLNLP_DATA_DIR"):
        assert part in message


@needs_mirror
def test_corrupted_mirror_file_names_the_file_and_both_hashes(monkeypatch, tmp_path):
    original = Path(MIRROR) / "sst2" / "dev.tsv"
    copy = tmp_path / "mirror" / "sst2" / "dev.tsv"
    copy.parent.mkdir(parents=True)
    data = bytearray(original.read_bytes())
    data[100] ^= 0x01  # flip one bit: same size, different content
    copy.write_bytes(bytes(data))
    monkeypatch.setenv("TLNLP_DATA_DIR", str(tmp_path / "mirror"))
    with pytest.raises(ChecksumError) as caught:
        dataset_file("sst2", "dev.tsv")
    message = str(caught.value)
    assert str(copy) in message
    assert sha256(original) in message and hashlib.sha256(bytes(data)).hexdigest() in message
    assert "TLNLP_DATA_DIR" in message


@needs_mirror
def test_a_verified_file_is_checked_again_once_it_changes(monkeypatch, tmp_path):
    copy = tmp_path / "mirror" / "sst2" / "dev.tsv"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(Path(MIRROR) / "sst2" / "dev.tsv", copy)
    monkeypatch.setenv("TLNLP_DATA_DIR", str(tmp_path / "mirror"))
    assert dataset_file("sst2", "dev.tsv") == copy
    with open(copy, "ab") as stream:
        stream.write(b"extra line\t1\n")
    with pytest.raises(ChecksumError, match="bytes"):
        dataset_file("sst2", "dev.tsv")


@needs_mirror
def test_dataset_path_is_the_mirror_folder_when_it_holds_the_files():
    root = dataset_path("crossner")
    assert root == Path(MIRROR) / "crossner"
    assert (root / "ai" / "train.txt").is_file()
    # wikitext2's online-only train.txt is not required by default ...
    assert dataset_path("wikitext2") == Path(MIRROR) / "wikitext2"
    # ... but asking for it explicitly fails offline with a clear error
    with pytest.raises(DataNotFoundError, match="train.txt"):
        dataset_path("wikitext2", files=["valid.txt", "train.txt"])
