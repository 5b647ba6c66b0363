"""Issue 13 for data, downloads and the cache: no silent wrong result, no hang, no leaked secret.

Downloads go to a local HTTP server on 127.0.0.1 (as in test_data_download.py); every test uses
its own empty cache and mirror under ``tmp_path``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from tlnlp import cache as cache_module
from tlnlp.cache import CacheError, atomic_path, load_or_compute, remove_stale_parts, save_checkpoint, load_checkpoint
from tlnlp.data import (
    ChecksumError,
    DataNotFoundError,
    DatasetSpec,
    FileSpec,
    dataset_file,
    dataset_path,
    get_dataset,
    labelled_texts,
    load_text8,
    load_wikitext2,
    read_conll,
)
from tlnlp.data.download import DEADLINE_ENV, DownloadDeadlineError, download_deadline, fetch
from tlnlp.data.resolve import offline
from tlnlp.data.textfiles import FileEncodingError, read_text
from tlnlp.data.urls import redact_url, scrub

GOOD = b"sentence\tlabel\n" + b"a fine film\t1\n" * 3000


# ---------------------------------------------------------------- a local server


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache and an empty mirror, downloads allowed."""
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TLNLP_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.delenv("TLNLP_OFFLINE", raising=False)
    monkeypatch.delenv(DEADLINE_ENV, raising=False)
    return tmp_path / "cache"


def toy(url: str, content: bytes = GOOD, **checks: object) -> dict[str, DatasetSpec]:
    checks = {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content), **checks}
    return {"toy": DatasetSpec("toy", "A toy set.", "CC0", "Nobody", "https://example.org", (FileSpec("a.tsv", url, **checks),))}


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# ---------------------------------------------------------------- 6. deadlines and .part files


def test_trickling_server_is_cut_off_at_the_deadline_leaving_nothing(server, cache, monkeypatch):
    url = server.serve("/slow.tsv", GOOD[:400], trickle=0.02)  # 400 bytes over 8 s
    monkeypatch.setenv(DEADLINE_ENV, "0.4")
    started = time.monotonic()
    with pytest.raises(DownloadDeadlineError) as caught:
        dataset_file("toy", "a.tsv", registry=toy(url, GOOD[:400]))
    assert time.monotonic() - started < 2.0
    message = str(caught.value)
    assert url in message and "0.4 s" in message and DEADLINE_ENV in message and "nothing was saved" in message
    assert files_under(cache) == []  # no .part left


def test_deadline_argument_of_fetch(server, tmp_path):
    url = server.serve("/slow.tsv", GOOD[:400], trickle=0.02)
    with pytest.raises(DownloadDeadlineError, match=r"within its deadline of 0\.3 s"):
        fetch(FileSpec("a.tsv", url), tmp_path / "a.tsv", deadline=0.3)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["soon", "0", "-5", "nan", "inf"])
def test_bad_deadline_setting_names_the_variable(value, monkeypatch):
    monkeypatch.setenv(DEADLINE_ENV, value)
    with pytest.raises(ValueError, match=rf"\${DEADLINE_ENV}='{value}' is not a positive number of seconds.*3600"):
        download_deadline()
    with pytest.raises(ValueError, match="deadline must be a positive number"):
        download_deadline(0)


def test_deadline_setting_is_read(monkeypatch):
    monkeypatch.setenv(DEADLINE_ENV, " 12.5 ")
    assert download_deadline() == 12.5
    monkeypatch.delenv(DEADLINE_ENV)
    assert download_deadline() == 900.0


def test_stale_parts_of_killed_downloads_are_removed_by_the_next_download(server, cache):
    folder = cache / "data" / "toy"
    folder.mkdir(parents=True)
    old = time.time() - 3600
    killed = folder / f".a.tsv.{dead_pid()}.k1ll3d.part"  # a download whose process died
    ancient = folder / ".a.tsv.oldname.part"  # older naming, untouched for two days
    live = folder / f".a.tsv.{os.getpid()}.w0rk1n.part"  # a writer that is still running
    other = folder / f".b.tsv.{dead_pid()}.zzzzzz.part"  # another target's part: not ours to judge
    for part, mtime in ((killed, old), (ancient, time.time() - 2 * 86400), (live, old), (other, old)):
        part.write_bytes(b"half")
        os.utime(part, (mtime, mtime))
    dataset_file("toy", "a.tsv", registry=toy(server.serve("/a.tsv", GOOD)))
    assert files_under(folder) == sorted(["a.tsv", live.name, other.name])


def test_recent_part_of_a_dead_process_is_kept_for_a_minute(tmp_path):
    part = tmp_path / f".x.bin.{dead_pid()}.abcdef.part"
    part.write_bytes(b"half")
    assert remove_stale_parts(tmp_path / "x.bin") == []  # it may be another machine's live writer
    assert remove_stale_parts(tmp_path / "x.bin", now=time.time() + 120) == [part]


def test_killed_load_or_compute_save_leaves_a_part_that_the_next_save_removes(tmp_path, monkeypatch):
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path))
    script = (
        "import os\n"
        "from tlnlp.cache import load_or_compute\n"
        "def save(r, p):\n"
        "    p.write_text('half'); os._exit(9)\n"  # killed in the middle of writing
        "load_or_compute('job', {'k': 1}, lambda: 'x', save, lambda p: p.read_text(), '.txt')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    assert subprocess.run([sys.executable, "-c", script], env=env).returncode == 9
    folder = tmp_path / "artifacts"
    (left,) = [p for p in folder.iterdir() if p.name.endswith(".part")]
    past = time.time() - 600
    os.utime(left, (past, past))
    assert load_or_compute("job", {"k": 1}, lambda: "x", lambda r, p: p.write_text(r), lambda p: p.read_text(), ".txt") == "x"
    assert [p.name.endswith(".part") for p in folder.iterdir()] == [False]


def test_atomic_part_names_carry_the_pid(tmp_path):
    with atomic_path(tmp_path / "f.bin") as tmp:
        assert tmp.name.startswith(f".f.bin.{os.getpid()}.") and tmp.name.endswith(".part")
        tmp.write_bytes(b"x")


# ---------------------------------------------------------------- 7. content checks


@pytest.fixture
def offline_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TLNLP_DATA_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("TLNLP_OFFLINE", "1")
    return tmp_path / "cache"


def test_wikitext_train_cut_after_its_first_line_is_refused(offline_cache):
    cached = offline_cache / "data" / "wikitext2" / "train.txt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b" \n = Valkyria Chronicles III = \n")  # the right first line, nothing else
    with pytest.raises(ChecksumError) as caught:
        load_wikitext2("train")
    message = str(caught.value)
    assert str(cached) in message and "at least 10,000,000 bytes" in message
    assert f"delete {cached}" in message and "TLNLP_OFFLINE" in message
    assert cached.exists()  # offline nothing is moved: the user decides


def test_forged_text8_zip_of_the_right_size_is_refused(offline_cache):
    cached = offline_cache / "data" / "text8" / "text8.zip"
    cached.parent.mkdir(parents=True)
    with zipfile.ZipFile(cached, "w") as archive:
        archive.writestr("text8", " forged text")
    with open(cached, "ab") as f:
        f.truncate(31_344_016)  # padded to the registered size, starts with PK\x03\x04
    with pytest.raises(ChecksumError, match="checksum mismatch.*expected sha256 a6640522afe85d19") as caught:
        load_text8()
    assert f"delete {cached}" in str(caught.value)


def test_text8_is_fetched_over_https_with_a_checksum():
    spec = get_dataset("text8").file("text8.zip")
    assert spec.url.startswith("https://") and spec.sha256 and spec.verified_by.startswith("sha256")


def test_unreadable_text8_zip_names_the_file(tmp_path, monkeypatch):
    bad = tmp_path / "text8.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    monkeypatch.setattr("tlnlp.data.corpora.dataset_file", lambda *args: bad)
    with pytest.raises(ChecksumError, match=f"{bad} is not a valid text8 archive.*delete it"):
        load_text8()


def test_plain_http_url_without_checksum_is_refused():
    with pytest.raises(ValueError, match="'a.zip': a plain-http URL without a sha256.*use the https address"):
        FileSpec("a.zip", "http://example.org/a.zip", size=10)
    FileSpec("a.zip", "http://example.org/a.zip", sha256="0" * 64)  # the checksum protects it
    FileSpec("a.zip", "http://127.0.0.1:8000/a.zip")  # a local test server


def test_damaged_cache_entry_is_moved_aside_and_downloaded_again(server, cache):
    registry = toy(server.serve("/a.tsv", GOOD), sha256=None, size=None, head=b"sentence\t", min_size=1000)
    cached = cache / "data" / "toy" / "a.tsv"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(GOOD[:50])  # a truncated earlier download
    with pytest.warns(RuntimeWarning, match=rf"{cached} is unusable .*at least 1,000 bytes.*downloading it again"):
        path = dataset_file("toy", "a.tsv", registry=registry)
    assert path.read_bytes() == GOOD and len(server.requests) == 1
    (aside,) = [p for p in cached.parent.iterdir() if ".corrupt-" in p.name]
    assert aside.read_bytes() == GOOD[:50]


def test_damaged_mirror_file_is_an_error_not_repaired(server, cache, tmp_path):
    registry = toy(server.serve("/a.tsv", GOOD))
    mirrored = tmp_path / "mirror" / "toy" / "a.tsv"
    mirrored.parent.mkdir(parents=True)
    mirrored.write_bytes(GOOD[:-1] + b"X")
    with pytest.raises(ChecksumError, match=rf"{mirrored}.*restore it from {server.base}/a.tsv or unset \$TLNLP_DATA_DIR"):
        dataset_file("toy", "a.tsv", registry=registry)
    assert mirrored.read_bytes().endswith(b"X") and server.requests == []


# ---------------------------------------------------------------- 8. corrupt cached artefacts


def _txt(value: str, path: Path) -> None:
    path.write_text(value)


def test_truncated_cache_entry_is_set_aside_and_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path))
    import json

    args = ("thing", {"x": 1}, lambda: {"a": [1, 2, 3]}, lambda r, p: p.write_text(json.dumps(r)), lambda p: json.loads(p.read_text()), ".json")
    load_or_compute(*args)
    (entry,) = (tmp_path / "artifacts").iterdir()
    entry.write_text('{"a": [1, ')
    with pytest.warns(RuntimeWarning, match=rf"{entry} is unusable \(JSONDecodeError.*moved it to {entry.name}\.corrupt-"):
        assert load_or_compute(*args) == {"a": [1, 2, 3]}
    assert json.loads(entry.read_text()) == {"a": [1, 2, 3]}  # rewritten
    assert len(list((tmp_path / "artifacts").glob("*.corrupt-*"))) == 1


def test_truncated_bpe_tokenizer_is_retrained(tmp_path, monkeypatch):
    from tlnlp.text.tokenizers import load_or_train_bpe

    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path))
    texts = ["the cat sat on the mat"] * 20
    first = load_or_train_bpe(texts, vocab_size=270)
    (entry,) = (tmp_path / "artifacts").iterdir()
    entry.write_bytes(entry.read_bytes()[:100])
    with pytest.warns(RuntimeWarning, match=str(entry)):
        again = load_or_train_bpe(texts, vocab_size=270)
    assert again.encode("the mat") == first.encode("the mat")


def test_truncated_safetensors_checkpoint_is_retrained(tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        torch.manual_seed(0)
        return torch.nn.Linear(3, 2)

    args = ("lin", {"n": 3}, compute, lambda m, p: save_checkpoint(m, p, config={"n": 3}),
            lambda p: load_checkpoint(p, lambda c: torch.nn.Linear(c["n"], 2))[0], ".safetensors")
    model = load_or_compute(*args)
    (entry,) = (tmp_path / "artifacts").iterdir()
    entry.write_bytes(entry.read_bytes()[:-20])
    with pytest.warns(RuntimeWarning, match=str(entry)):
        again = load_or_compute(*args)
    assert torch.equal(again.weight, model.weight) and len(calls) == 2


def test_unsaveable_result_fails_naming_the_entry_and_writes_nothing(tmp_path, monkeypatch):
    import pickle

    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path))

    def save(result, path):
        with open(path, "wb") as f:
            f.write(b"partial")
            pickle.dump(result, f)

    with pytest.raises(CacheError, match=r"could not cache the result of 'fn' at .*fn-\w+\.pkl: save\(\) raised .*Nothing was written"):
        load_or_compute("fn", {}, lambda: (lambda: 1), save, pickle.load, ".pkl")
    assert list((tmp_path / "artifacts").iterdir()) == []


def test_unwritable_cache_fails_before_computing(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TLNLP_CACHE", str(blocker / "cache"))
    calls = []
    with pytest.raises(CacheError, match=rf"cannot write to the tlnlp cache at {blocker}/cache/artifacts.*TLNLP_CACHE"):
        load_or_compute("x", {}, lambda: calls.append(1), _txt, Path.read_text, ".txt")
    assert calls == []


def test_concurrent_writers_of_one_entry_leave_one_whole_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path))

    def save(value, path):
        with open(path, "w") as f:
            for _ in range(50):
                f.write(value)
                f.flush()
                time.sleep(0.001)

    results = []
    threads = [threading.Thread(target=lambda: results.append(load_or_compute("c", {}, lambda: "ab" * 100, save, Path.read_text, ".txt")))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["ab" * 100] * 4
    (entry,) = (tmp_path / "artifacts").iterdir()
    assert entry.read_text() == "ab" * 100 * 50


# ---------------------------------------------------------------- 9. secrets in URLs

SECRETS = ("hunter2", "SECRETTOKEN", "SIGNATURE42")


def _secret_url(base: str, path: str) -> str:
    host = base.split("//", 1)[1]
    return f"http://alice:hunter2@{host}{path}?token=SECRETTOKEN&X-Amz-Signature=SIGNATURE42&v=1"


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, (secret, text)


def test_redact_url_masks_passwords_and_secret_parameters():
    url = "https://alice:hunter2@h.org/f?access_token=SECRETTOKEN&X-Amz-Signature=SIGNATURE42&api_key=k&page=2"
    shown = redact_url(url)
    assert shown == "https://alice:***@h.org/f?access_token=***&X-Amz-Signature=***&api_key=***&page=2"
    assert scrub(f"failed: {url}", url) == f"failed: {shown}"
    assert redact_url("https://h.org/a?key=") == "https://h.org/a?key="


def test_no_secret_in_offline_error(server, cache, monkeypatch, caplog, capsys):
    monkeypatch.setenv("TLNLP_OFFLINE", "1")
    url = _secret_url(server.base, "/a.tsv")
    with caplog.at_level(logging.DEBUG), pytest.raises(DataNotFoundError) as caught:
        dataset_file("toy", "a.tsv", registry=toy(url))
    assert "alice:***@" in str(caught.value) and "token=***" in str(caught.value)
    _assert_no_secret(str(caught.value), caplog.text, *capsys.readouterr())


def test_no_secret_in_http_error_or_checksum_error(server, cache, caplog, capsys):
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(DataNotFoundError, match="404") as missing:
            dataset_file("toy", "a.tsv", registry=toy(_secret_url(server.base, "/missing.tsv")))
        server.serve("/a.tsv", GOOD[:-1] + b"X")
        with pytest.raises(ChecksumError, match="checksum mismatch") as wrong:
            dataset_file("toy", "a.tsv", registry=toy(_secret_url(server.base, "/a.tsv")))
    _assert_no_secret(str(missing.value), repr(missing.value.__cause__), str(wrong.value), caplog.text, *capsys.readouterr())
    assert files_under(cache) == []


def test_no_secret_when_the_host_refuses(cache, caplog, capsys):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with caplog.at_level(logging.DEBUG), pytest.raises(DataNotFoundError) as caught:
        dataset_file("toy", "a.tsv", registry=toy(_secret_url(f"http://127.0.0.1:{port}", "/a.tsv")))
    chain = [caught.value, caught.value.__cause__, getattr(caught.value.__cause__, "__cause__", None)]
    _assert_no_secret(*(str(e) for e in chain), caplog.text, *capsys.readouterr())


def test_userinfo_is_sent_as_basic_auth_not_as_a_host(server, cache, recwarn):
    server.need_auth = "alice:hunter2"
    server.serve("/a.tsv", GOOD)
    path = dataset_file("toy", "a.tsv", registry=toy(_secret_url(server.base, "/a.tsv")))
    assert path.read_bytes() == GOOD
    _assert_no_secret(*(str(w.message) for w in recwarn))


def test_no_secret_in_repair_warning(server, cache):
    url = _secret_url(server.base, "/a.tsv")
    server.serve("/a.tsv", GOOD)
    cached = cache / "data" / "toy" / "a.tsv"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"old")
    with pytest.warns(RuntimeWarning) as warned:
        dataset_file("toy", "a.tsv", registry=toy(url))
    _assert_no_secret(*(str(w.message) for w in warned))


# ---------------------------------------------------------------- 10. read-only caches, encodings, switches


def test_lookup_in_an_unwritable_cache_does_not_write(offline_cache, monkeypatch, tmp_path):
    def no_mkdir(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", no_mkdir)
    with pytest.raises(DataNotFoundError, match="downloads are disabled by \\$TLNLP_OFFLINE"):
        dataset_file("sst2", "dev.tsv")


def test_download_into_an_unwritable_cache_names_the_folder(server, cache, monkeypatch):
    blocker = cache.parent / "blocker"
    blocker.write_text("a file, not a folder")
    monkeypatch.setenv("TLNLP_CACHE", str(blocker))
    with pytest.raises(CacheError, match=rf"cannot write to the data cache of 'toy' at {blocker}/data/toy.*TLNLP_CACHE"):
        dataset_file("toy", "a.tsv", registry=toy(server.serve("/a.tsv", GOOD)))
    assert server.requests == []


def test_cached_file_is_read_from_a_read_only_cache(server, cache, monkeypatch):
    registry = toy(server.serve("/a.tsv", GOOD))
    dataset_file("toy", "a.tsv", registry=registry)
    monkeypatch.setattr(Path, "mkdir", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    assert dataset_file("toy", "a.tsv", registry=registry).read_bytes() == GOOD
    assert dataset_path("toy", registry=registry) == cache / "data" / "toy"


def test_read_conll_names_file_and_line_of_a_bad_byte(tmp_path):
    path = tmp_path / "latin1.conll"
    path.write_bytes("I\tO\nran\tO\n\nCaf\xe9\tB-loc\n".encode("latin-1"))
    with pytest.raises(FileEncodingError, match=rf"{path} is not valid UTF-8: line 4, column 4 \(byte offset 14: 0xe9 is not UTF-8\).*Expected UTF-8"):
        read_conll(path)
    assert issubclass(FileEncodingError, ValueError)


def test_read_text_names_the_file(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"fine\n\xff\xfe")
    with pytest.raises(FileEncodingError, match=rf"{path} is not valid UTF-8: line 2"):
        read_text(path)


def test_labelled_csv_in_latin1_says_to_pass_the_encoding(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_bytes("text,label\ncaf\xe9 au lait,pos\nbad,neg\n".encode("latin-1"))
    with pytest.raises(FileEncodingError, match=rf"{path} is not valid UTF-8: line 2.*encoding=\"latin-1\""):
        labelled_texts(path)
    assert labelled_texts(path, encoding="latin-1").texts[0] == "café au lait"


@pytest.mark.parametrize(("value", "expected"), [
    ("1", True), ("true", True), ("YES", True), (" On ", True),
    ("0", False), ("false", False), ("No", False), ("OFF", False), ("", False),
])
def test_offline_switch_values(value, expected, monkeypatch):
    monkeypatch.setenv("TLNLP_OFFLINE", value)
    assert offline() is expected


@pytest.mark.parametrize("value", ["y", "n", "2", "disable"])
def test_unknown_offline_value_is_an_error_before_any_request(value, server, cache, monkeypatch):
    monkeypatch.setenv("TLNLP_OFFLINE", value)
    with pytest.raises(ValueError, match=rf"\$TLNLP_OFFLINE='{value}' is not a valid switch: use 1, true, yes or on .* 0, false, no or off"):
        dataset_file("toy", "a.tsv", registry=toy(server.serve("/a.tsv", GOOD)))
    assert server.requests == []


# ---------------------------------------------------------------- a new user's other mistakes


def test_dataset_name_of_the_wrong_type_lists_valid_names():
    with pytest.raises(TypeError, match=r"a dataset name is a string, got list \['sst2'\]; valid names are: .*sst2"):
        get_dataset(["sst2"])


def test_mirror_variable_naming_no_folder_says_so(offline_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("TLNLP_DATA_DIR", str(tmp_path / "typo"))
    with pytest.raises(DataNotFoundError, match=rf"\$TLNLP_DATA_DIR={tmp_path}/typo is not a folder"):
        dataset_file("sst2", "dev.tsv")


def test_empty_mirror_file_is_named_with_the_fix(offline_cache, tmp_path):
    empty = tmp_path / "mirror" / "sst2" / "dev.tsv"
    empty.parent.mkdir(parents=True)
    empty.touch()
    with pytest.raises(ChecksumError, match=rf"{empty} has 0 bytes but 'dev.tsv' should have 94,931 bytes.*restore it from https://"):
        dataset_file("sst2", "dev.tsv")


def test_missing_user_file_names_the_folder_looked_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=rf"no file mine\.csv \(looked in {tmp_path}\)"):
        labelled_texts("mine.csv")


def test_cache_module_reads_cache_location_without_creating(tmp_path, monkeypatch):
    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path / "c"))
    assert cache_module.cache_location("data", "x") == tmp_path / "c" / "data" / "x"
    assert not (tmp_path / "c").exists()


def test_case_only_typo_in_a_dataset_name_is_suggested():
    from tlnlp.data import UnknownDatasetError

    with pytest.raises(UnknownDatasetError, match="unknown dataset 'SST2'; valid names are: .* Did you mean 'sst2'"):
        get_dataset("SST2")


def test_dataset_path_takes_one_file_name(offline_cache):
    with pytest.raises(DataNotFoundError, match="file 'dev.tsv' is not available"):
        dataset_path("sst2", "dev.tsv")  # not split into 'd', 'e', 'v', ...


def test_subset_out_of_range_names_the_indices():
    from tlnlp.data import TextClassificationData

    data = TextClassificationData(["a", "b"], [0, 1], ("n", "p"))
    with pytest.raises(IndexError, match=r"indices \[5\] outside 0\.\.1 \(the data has 2 examples\)"):
        data.subset([0, 5])


def test_empty_choices_are_refused():
    from tlnlp.data import general_english_sentences, load_amazon_reviews

    with pytest.raises(ValueError, match="no domain given; choose some of books, dvd"):
        load_amazon_reviews([])
    with pytest.raises(ValueError, match="include is empty; choose some of head500"):
        general_english_sentences(include=())


def test_sample_episode_with_a_seed_instead_of_a_generator():
    from tlnlp.data import sample_episode

    with pytest.raises(TypeError, match=r"rng must be a numpy Generator, got int 0: pass np.random.default_rng\(seed\)"):
        sample_episode([0, 0, 1, 1], 2, 1, 1, 0)
    import numpy as np

    with pytest.raises(TypeError, match="k_shot must be an int, got float 1.5"):
        sample_episode([0, 0, 1, 1], 2, 1.5, 1, np.random.default_rng(0))


def test_cache_key_refuses_a_value_that_changes_every_run():
    from tlnlp.cache import config_key

    with pytest.raises(TypeError, match=r"a cache key cannot hold '<function .*' \(function\): its text changes every run"):
        config_key({"f": lambda: 1})


def test_cache_key_tells_large_arrays_apart():
    import numpy as np
    from tlnlp.cache import config_key

    a, b = np.arange(5000), np.arange(5000)
    b[2500] = -1  # str() of both is '[   0    1 ... 4999]'
    assert str(a) == str(b) and config_key({"x": a}) != config_key({"x": b})
    assert config_key({"x": np.arange(3)}) == config_key({"x": "[0 1 2]"})  # small arrays keep their old key


def test_bpe_cache_refuses_one_string_and_reads_a_generator_once(tmp_path, monkeypatch):
    from tlnlp.text.tokenizers import load_or_train_bpe

    monkeypatch.setenv("TLNLP_CACHE", str(tmp_path))
    with pytest.raises(TypeError, match=r"for one text, pass \[text\]"):
        load_or_train_bpe("the cat sat on the mat", vocab_size=270)
    with pytest.raises(ValueError, match="got no texts"):
        load_or_train_bpe([], vocab_size=270)
    from_generator = load_or_train_bpe((t for t in ["the cat sat on the mat"] * 20), vocab_size=270)
    from_list = load_or_train_bpe(["the cat sat on the mat"] * 20, vocab_size=270)
    assert from_generator.vocab_size == from_list.vocab_size > 257  # trained on the texts, not on nothing
