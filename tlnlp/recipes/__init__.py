"""The book's named multi-stage methods, each a thin file of calls to the layers below.

Import each recipe from its module, e.g. ``from tlnlp.recipes.gpt import train_lm``; a
recipe's docstring says which chapter introduces it.
"""
