"""Recipes: the book's multi-stage training methods, each a thin file of calls to the layers below.

A recipe strings models, objectives, :func:`tlnlp.transfer.configure` and
:func:`tlnlp.train.fit` into a published method; import each from its module:

- :mod:`tlnlp.recipes.ulmfit`: ULMFiT's three stages for the LSTM language model (chapter 3).
- :mod:`tlnlp.recipes.gpt`: GPT pretraining and fine-tuning, nanoGPT's recipe (chapter 4).
- :mod:`tlnlp.recipes.bert`: mini-BERT pretraining with MLM + NSP (chapter 5).
"""
