"""Datasets by name: a checksummed registry, offline-first file resolution, and loaders.

Files are looked up in ``$TLNLP_DATA_DIR/<name>/`` (a local mirror), then in the user
cache, then downloaded and checked against the registry's sha256 (see
:mod:`tlnlp.data.resolve`). ``TLNLP_OFFLINE=1`` forbids downloads; ``TLNLP_DOWNLOAD_DEADLINE``
(seconds, default 900) bounds each download.

>>> from tlnlp.data import dataset_names, load_sst2, sample_labelled
>>> dataset_names()
['amazon_multidomain', 'clinc150', 'crossner', 'sst2', 'text8', 'tinyshakespeare', 'wikitext2', 'wnut17']
>>> train = load_sst2("train")
>>> few = train.subset(sample_labelled(train.labels, 16, seed=0))
"""

from .benchmarks import gensim_test_file, google_analogies_path, load_wikipedia_head500, load_word_similarity
from .checksums import ChecksumError, sha256_file
from .classification import (
    IntentData,
    TextClassificationData,
    amazon_domains,
    load_amazon_reviews,
    load_clinc150,
    load_clinc150_domains,
    load_sst2,
)
from .corpora import load_text8, load_tinyshakespeare, load_wikitext2
from .download import DownloadDeadlineError, DownloadError, IncompleteDownloadError
from .general_text import general_english_sentences, wikitext2_paragraphs
from .ner import TaggedSentence, crossner_domains, load_crossner, load_wnut17, read_conll
from .registry import (
    REGISTRY,
    DatasetSpec,
    FileSpec,
    UnknownDatasetError,
    UnknownFileError,
    dataset_names,
    get_dataset,
)
from .resolve import DataNotFoundError, dataset_file, dataset_path
from .episodes import Episode, sample_episode
from .sampling import sample_labelled
from .textfiles import FileEncodingError
from .urls import redact_url
from .user import labelled_texts

__all__ = [
    # registry and resolution
    "REGISTRY",
    "DatasetSpec",
    "FileSpec",
    "dataset_names",
    "get_dataset",
    "dataset_file",
    "dataset_path",
    "sha256_file",
    # errors
    "UnknownDatasetError",
    "UnknownFileError",
    "DataNotFoundError",
    "ChecksumError",
    "DownloadError",
    "IncompleteDownloadError",
    "DownloadDeadlineError",
    "FileEncodingError",
    "redact_url",
    # classification
    "TextClassificationData",
    "IntentData",
    "load_sst2",
    "amazon_domains",
    "load_amazon_reviews",
    "load_clinc150",
    "load_clinc150_domains",
    "labelled_texts",
    # NER
    "TaggedSentence",
    "read_conll",
    "crossner_domains",
    "load_crossner",
    "load_wnut17",
    # corpora
    "load_wikitext2",
    "load_tinyshakespeare",
    "load_text8",
    "general_english_sentences",
    "wikitext2_paragraphs",
    # gensim's benchmarks
    "gensim_test_file",
    "load_word_similarity",
    "google_analogies_path",
    "load_wikipedia_head500",
    # sampling
    "sample_labelled",
    "Episode",
    "sample_episode",
]
