"""Everything between strings and ids: one vocabulary, the tokenizers, LM streams and batching.

Every word->id interface of the book follows one protocol, :class:`TextEncoder`:
``encode`` / ``decode`` / ``vocab_size`` / ``pack`` (a 1-D stream for language models),
with an explicit policy for unknown input.
"""

from .protocol import UNKNOWN_POLICIES, TextEncoder, UnknownPolicy

__all__ = ["TextEncoder", "UnknownPolicy", "UNKNOWN_POLICIES"]
