"""Recipes: the book's multi-stage training methods, each built from the library's one path.

A recipe strings models, objectives, :func:`tlnlp.transfer.configure` and
:func:`tlnlp.train.fit` into a published method:

- :mod:`tlnlp.recipes.ulmfit`: ULMFiT's three stages for the LSTM language model (chapter 3).
"""
