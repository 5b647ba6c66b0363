"""tlnlp: the library of the executable book *Transfer Learning for NLP*.

Modules are imported on demand, so ``import tlnlp`` stays light:

>>> from tlnlp.config import preset
>>> preset().name in ("ci", "cpu", "gpu")
True

The one path every chapter follows -- a body, a head, a strategy, the loop, a measurement:

==================  ===========================================================================
step                where it lives
==================  ===========================================================================
body                :func:`tlnlp.models.load_encoder`, the book's GPT / LSTM / mini-BERT
head                :class:`tlnlp.models.Classifier` (``pool="mean"``, ``"cls"``, ``"pooler"``,
                    ``"last"``, ``"concat"``)
strategy            :func:`tlnlp.transfer.configure` (``probe``, ``full``, ``top-k``, ``gradual``,
                    ``lora``)
loop                :func:`tlnlp.train.fit` / :func:`tlnlp.train.evaluate` (bf16 or fp32 by
                    :mod:`tlnlp.precision`); every model returns
                    :class:`tlnlp.models.Output`
measurement         :mod:`tlnlp.experiment` (over seeds), :mod:`tlnlp.plot`
==================  ===========================================================================

Which chapter introduces what: 1 encoders, sampling, evaluation over seeds; 2
:mod:`tlnlp.embeddings`; 3 the LSTM and ULMFiT (:mod:`tlnlp.recipes`); 4 the GPT and
:mod:`tlnlp.lm`; 5 :mod:`tlnlp.pretraining`; 6 :mod:`tlnlp.transfer`; 7 :mod:`tlnlp.meta`;
appendix A :mod:`tlnlp.adaptation`.
"""

__version__ = "0.2.0"
