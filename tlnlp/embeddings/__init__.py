"""Word embeddings: skip-gram and CBOW with negative sampling and GloVe from scratch, their evaluation, and their transfer.

>>> from tlnlp.embeddings import SkipGramConfig, train_skipgram, evaluate_word_pairs
>>> wv = train_skipgram(sentences, SkipGramConfig(epochs=5))  # doctest: +SKIP
>>> evaluate_word_pairs(wv, load_word_similarity("wordsim353")).spearman  # doctest: +SKIP

Their vocabulary is :class:`tlnlp.text.Vocab` (unknown words dropped, as word2vec does).
"""

from .cached import METHODS, TrainedVectors, corpus_fingerprint, load_or_train
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
from .cbow import cbow_windows, train_cbow, train_gensim_cbow
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
from .transfer import embedding_coverage, init_embedding_, to_embedding_layer
from .vectors import DimensionMismatchError, WordVectors

__all__ = [
    # vectors (their vocabulary is tlnlp.text.Vocab)
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
    # CBOW
    "cbow_windows",
    "train_cbow",
    "train_gensim_cbow",
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
    # vectors trained once, cached
    "METHODS",
    "TrainedVectors",
    "corpus_fingerprint",
    "load_or_train",
    # transfer
    "to_embedding_layer",
    "init_embedding_",
    "embedding_coverage",
]
