"""Everything between strings and ids: one vocabulary, the tokenizers, LM streams and batching.

Every word->id interface of the book follows one protocol, :class:`TextEncoder`:
``encode`` / ``decode`` / ``vocab_size`` / ``pack`` (a 1-D stream for language models),
with an explicit policy for unknown input.

- words: :func:`simple_tokenize`, the word :class:`Vocab` (:func:`build_vocab`);
- characters and bytes: :class:`CharTokenizer`, :class:`BPETokenizer` (:func:`load_or_train_bpe`);
- WikiText: :func:`detokenize_wikitext`, :func:`wikitext_articles`, :func:`wikitext_documents`;
- batches of token ids: :func:`tokenize`, :class:`TokenizedDataset`,
  :class:`LengthBucketSampler`, :class:`PadCollator`, :func:`make_loader`.

>>> vocab = build_vocab([simple_tokenize("A fine film, a fine cast.")], min_count=1, specials=("<pad>", "<unk>"),
...                     unknown="map")
>>> isinstance(vocab, TextEncoder), vocab.encode(simple_tokenize("a fine plot"))
(True, [2, 3, 1])
"""

from .batching import LengthBucketSampler, PadCollator, TokenizedDataset, make_loader, tokenize
from .protocol import UNKNOWN_POLICIES, TextEncoder, UnknownPolicy
from .tokenizers import END_OF_TEXT, BPETokenizer, CharTokenizer, UnknownCharacterError, load_or_train_bpe
from .vocab import EOS, PAD, UNK, EmptyVocabularyError, EncodedCorpus, Vocab, build_vocab
from .wikitext import detokenize_wikitext, wikitext_articles, wikitext_documents
from .words import simple_tokenize

__all__ = [
    "TextEncoder",
    "UnknownPolicy",
    "UNKNOWN_POLICIES",
    # words
    "simple_tokenize",
    "Vocab",
    "build_vocab",
    "EncodedCorpus",
    "EmptyVocabularyError",
    "PAD",
    "UNK",
    "EOS",
    # characters and bytes
    "CharTokenizer",
    "BPETokenizer",
    "UnknownCharacterError",
    "END_OF_TEXT",
    "load_or_train_bpe",
    # WikiText
    "detokenize_wikitext",
    "wikitext_articles",
    "wikitext_documents",
    # batches
    "TokenizedDataset",
    "tokenize",
    "LengthBucketSampler",
    "PadCollator",
    "make_loader",
]
