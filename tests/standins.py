"""Tiny stand-ins for what the ``gpu`` preset downloads, for ``make smoke-gpu`` and the tests.

``python tests/standins.py MODELS DATA`` writes

- ``MODELS/gpt2``: a randomly initialised ``GPT2LMHeadModel`` (2 layers, 1,024 positions) with a
  byte-level BPE tokenizer trained here on WikiText-2 valid;
- ``MODELS/bert-base-uncased``: a randomly initialised ``BertForPreTraining`` (MLM and NSP heads)
  with the 30,522-piece WordPiece vocabulary of the packaged MiniLM (bert-base-uncased's);
- ``DATA``: a data mirror holding every dataset of ``$TLNLP_DATA_DIR`` (links) plus a stand-in
  ``wikitext2/train.txt`` (WikiText-2 valid repeated past the registry's 10 MB floor) and a
  stand-in ``text8/text8.zip`` (WikiText-2 valid, lowercased to text8's alphabet), marked by
  ``text8.zip.standin`` so that smoke mode takes it without its checksum.

Point ``TLNLP_MODEL_DIR`` at MODELS and ``TLNLP_DATA_DIR`` at DATA. The weights are random:
a run against them proves that the code runs, not what it measures.
"""

from __future__ import annotations

import os
import re
import sys
import zipfile
from pathlib import Path


def write_gpt2(folder: Path, corpus: str, vocab_size: int = 2_000) -> None:
    """A tiny random GPT-2 with a locally trained byte-level BPE tokenizer, as save_pretrained writes it."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(corpus.splitlines(), vocab_size=vocab_size, special_tokens=["<|endoftext|>"])
    tokenizer = GPT2TokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<|endoftext|>",
                                  eos_token="<|endoftext|>", unk_token="<|endoftext|>", model_max_length=1024)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=1024, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def write_bert(folder: Path) -> None:
    """A tiny random BERT with MLM and NSP heads and bert-base-uncased's WordPiece vocabulary."""
    from transformers import AutoTokenizer, BertConfig, BertForPreTraining

    from tlnlp.models import offline_model_dir

    tokenizer = AutoTokenizer.from_pretrained(str(offline_model_dir()))
    assert len(tokenizer) == 30_522, f"the packaged MiniLM's vocabulary has {len(tokenizer)} pieces, not 30,522"
    # bert-base-uncased's depth (12 layers), so chapters that pick layers by index (chapter 9's student)
    # run their gpu choices; tiny width keeps it fast.
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=12, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertForPreTraining(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def write_data(folder: Path, source: Path) -> None:
    """A data mirror: every dataset of ``source`` linked, plus a stand-in WikiText-2 train split."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name != "wikitext2" and not (folder / entry.name).exists():
            (folder / entry.name).symlink_to(entry.resolve())
    wiki = folder / "wikitext2"
    wiki.mkdir(exist_ok=True)
    for name in ("valid.txt", "test.txt"):
        if not (wiki / name).exists():
            (wiki / name).symlink_to((source / "wikitext2" / name).resolve())
    valid = (source / "wikitext2" / "valid.txt").read_text(encoding="utf-8")
    text = " \n = Valkyria Chronicles III = \n" + valid * (10_100_000 // len(valid.encode()) + 1)
    (wiki / "train.txt").write_text(text, encoding="utf-8")
    text8 = folder / "text8"
    text8.mkdir(exist_ok=True)
    with zipfile.ZipFile(text8 / "text8.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("text8", " " + " ".join(re.sub(r"[^a-z]+", " ", valid.lower()).split()))
    (text8 / "text8.zip.standin").write_text("a stand-in for make smoke-gpu (tests/standins.py), not text8\n")


def main(models: str, data: str) -> None:
    source = os.environ.get("TLNLP_DATA_DIR", "").strip()
    if not source or not Path(source, "wikitext2", "valid.txt").is_file():
        sys.exit("set TLNLP_DATA_DIR to the data mirror (it must hold wikitext2/valid.txt)")
    write_data(Path(data), Path(source))
    corpus = Path(source, "wikitext2", "valid.txt").read_text(encoding="utf-8")
    write_gpt2(Path(models, "gpt2"), corpus)
    write_bert(Path(models, "bert-base-uncased"))
    print(f"stand-ins written: models in {models}, data in {data}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tests/standins.py MODELS_DIR DATA_DIR")
    main(*sys.argv[1:])
