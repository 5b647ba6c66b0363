"""tlnlp: the library of the executable book *Transfer Learning for NLP*.

Modules are imported on demand, so ``import tlnlp`` stays light:

>>> from tlnlp.config import preset
>>> from tlnlp.data import load_sst2  # doctest: +SKIP
"""

__version__ = "0.1.0"
