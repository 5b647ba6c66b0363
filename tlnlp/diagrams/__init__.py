"""Concept diagrams the book draws on the board: boxes, arrows and labels, drawn by code.

Each chapter's diagram lives in its own module here (``tlnlp.diagrams.<topic>``) and is built
from the few primitives of :mod:`tlnlp.diagrams.draw`, so that every picture in the book is
reproducible offline and shares one look. A diagram function returns the matplotlib
``Figure`` and never saves files; the chapter shows it with its alt text in the caption.

>>> from tlnlp.diagrams.draw import canvas, box, arrow
>>> fig, ax = canvas(6, 2)
>>> left = box(ax, (0.5, 1), "body")
>>> right = box(ax, (4.5, 1), "head")
>>> _ = arrow(ax, left, right, "features")
>>> len(ax.patches) >= 3
True
"""
