"""Multi-task learning: one shared body, a head per task, task sampling and loss weighting.

- :class:`MultiTaskModel`: hard parameter sharing; each batch carries its ``"task"``.
- :class:`TaskSampler`, :func:`task_probabilities`: proportional, uniform, temperature and
  annealed mixing of the tasks' batches; :class:`TaskBatches` tags one loader.
- :class:`UncertaintyWeighting`: learned task weights (Kendall et al., 2018).
- :class:`FrozenBottom`, :class:`CachedBottomEncoder`: train the top layers of an encoder
  with its frozen lower layers run once per sentence.
- Token-level tasks: :func:`align_word_labels`, :class:`TaggedTokens`,
  :func:`make_token_loader`, :func:`token_f1`.

Introduced in chapter 8.

>>> from tlnlp.multitask import MultiTaskModel, TaskSampler, UncertaintyWeighting, task_probabilities
"""

from .encoder import CachedBottomEncoder, FrozenBottom
from .model import MultiTaskModel, UnknownTaskError
from .sampling import MIXINGS, TaskBatches, TaskSampler, task_probabilities
from .tokens import IGNORE, TaggedTokens, align_word_labels, make_token_loader, token_f1
from .weighting import UncertaintyWeighting

__all__ = [
    "MultiTaskModel",
    "UnknownTaskError",
    "TaskSampler",
    "TaskBatches",
    "task_probabilities",
    "MIXINGS",
    "UncertaintyWeighting",
    "FrozenBottom",
    "CachedBottomEncoder",
    "IGNORE",
    "TaggedTokens",
    "align_word_labels",
    "make_token_loader",
    "token_f1",
]
