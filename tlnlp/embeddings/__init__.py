"""Word embeddings: skip-gram with negative sampling and GloVe from scratch, their evaluation, and their transfer.

>>> from tlnlp.embeddings import SkipGramConfig, train_skipgram, evaluate_word_pairs
>>> wv = train_skipgram(sentences, SkipGramConfig(epochs=5))  # doctest: +SKIP
>>> evaluate_word_pairs(wv, load_word_similarity("wordsim353")).spearman  # doctest: +SKIP
"""

from .book import (
    METHODS,
    TrainedVectors,
    book_corpus,
    book_glove_config,
    book_skipgram_config,
    book_vectors,
    corpus_fingerprint,
    load_or_train,
)
from .evaluate import (
    DEFAULT_RESTRICT_VOCAB,
    AnalogyResult,
    PairResult,
    evaluate_all,
    evaluate_analogies,
    evaluate_word_pairs,
    nearest_neighbours,
    pca_2d,
    random_like,
    read_analogies,
)
from .glove import GloVeConfig, cooccurrence_matrix, glove_gradients, glove_weight, train_glove
from .skipgram import (
    SkipGramConfig,
    keep_probabilities,
    noise_distribution,
    sample_noise,
    sgns_gradients,
    skipgram_pairs,
    train_gensim_skipgram,
    train_skipgram,
)
from .transfer import BagOfEmbeddings, embedding_coverage, encode_texts, init_embedding_, to_embedding_layer
from .vectors import DimensionMismatchError, WordVectors
from .vocab import EmptyVocabularyError, EncodedCorpus, Vocab, build_vocab

__all__ = [
    # vocabulary and vectors
    "Vocab",
    "EncodedCorpus",
    "build_vocab",
    "EmptyVocabularyError",
    "WordVectors",
    "DimensionMismatchError",
    # skip-gram
    "SkipGramConfig",
    "train_skipgram",
    "keep_probabilities",
    "noise_distribution",
    "sample_noise",
    "skipgram_pairs",
    "sgns_gradients",
    "train_gensim_skipgram",
    # GloVe
    "GloVeConfig",
    "train_glove",
    "cooccurrence_matrix",
    "glove_weight",
    "glove_gradients",
    # evaluation
    "DEFAULT_RESTRICT_VOCAB",
    "AnalogyResult",
    "PairResult",
    "read_analogies",
    "evaluate_analogies",
    "evaluate_word_pairs",
    "evaluate_all",
    "nearest_neighbours",
    "pca_2d",
    "random_like",
    # the book's vectors, cached
    "METHODS",
    "TrainedVectors",
    "book_corpus",
    "book_skipgram_config",
    "book_glove_config",
    "corpus_fingerprint",
    "load_or_train",
    "book_vectors",
    # transfer
    "to_embedding_layer",
    "init_embedding_",
    "embedding_coverage",
    "BagOfEmbeddings",
    "encode_texts",
]
