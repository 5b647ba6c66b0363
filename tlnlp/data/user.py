"""Your own labelled texts in: a CSV file, a pandas DataFrame or a Hugging Face ``datasets`` split.

:func:`labelled_texts` turns any of them into the library's :class:`TextClassificationData`
(texts, integer labels and the name of each label), the type every classification loader of
the book returns, so the rest of the one path (tokenize, ``Classifier``, ``configure``,
``fit``) takes a user's data as it takes SST-2. Bad input fails early with an error that
names the problem: a missing column (with the columns there are), a label outside the given
label set, an empty file, no rows, a missing or empty text.

>>> import pandas as pd
>>> frame = pd.DataFrame({"review": ["great pan", "it rusted", "fine"], "stars": ["pos", "neg", "pos"]})
>>> data = labelled_texts(frame, text_column="review", label_column="stars")
>>> data.label_names, data.labels.tolist()
(('neg', 'pos'), [1, 0, 1])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .classification import TextClassificationData
from .textfiles import encoding_error

__all__ = ["labelled_texts"]

_SHOWN = 5  # how many offending rows or values an error lists


def labelled_texts(
    source: str | os.PathLike[str] | pd.DataFrame | Any,
    text_column: str = "text",
    label_column: str = "label",
    label_names: Sequence[str] | None = None,
    **read_options: Any,
) -> TextClassificationData:
    """Labelled texts from a CSV file, a DataFrame or a Hugging Face ``datasets`` split.

    How labels become ids (the mapping is kept in ``label_names``: ``labels[i]`` indexes it):

    - labels that are **strings** are names. With ``label_names`` given, each must be one of
      them (its id is its position); without, the label set is the sorted distinct names.
    - labels that are **integers** are ids into ``label_names`` when it is given, or when the
      split's label feature is a ``datasets.ClassLabel`` (whose names are then used); each
      must lie in ``0 .. len(label_names) - 1``. Without names, the sorted distinct values
      become the names (``[1, 2, 5]`` -> ids ``0, 1, 2``, names ``("1", "2", "5")``).

    Arguments:
        source: a path to a CSV file (tab-separated if it ends in ``.tsv``), a
            ``pandas.DataFrame``, or one split of a Hugging Face dataset (``ds["train"]``;
            ``datasets`` itself is not imported: anything with ``column_names`` and
            ``split[column]`` works).
        text_column: the column holding the texts.
        label_column: the column holding the labels.
        label_names: the label set, in id order; values outside it are an error.
        read_options: passed to ``pandas.read_csv`` for a file (e.g. ``sep=";"``,
            ``encoding="latin-1"``).

    Returns:
        A :class:`~tlnlp.data.TextClassificationData`.

    Raises:
        ValueError: a missing column, an unknown label, an empty file or no rows, a missing
            (NaN) or empty text, a missing label.
        TypeError: a source of another type (or a whole ``DatasetDict``: pick a split).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "mine.csv"
        >>> _ = path.write_text("text,label\\nlovely,positive\\nawful,negative\\n")
        >>> data = labelled_texts(path, label_names=["negative", "positive"])
        >>> data.texts, data.labels.tolist(), data.label_names
        (['lovely', 'awful'], [1, 0], ('negative', 'positive'))
    """
    frame, where, class_names = _columns(source, read_options)
    missing = [c for c in (text_column, label_column) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{where} has no column {', '.join(map(repr, missing))}; its columns are {list(frame.columns)}: "
            "pass text_column=... and label_column=..."
        )
    if len(frame) == 0:
        raise ValueError(f"{where} has no rows (a header alone?): there is nothing to train on")
    texts = _texts(frame[text_column], where, text_column)
    if label_names is None:
        label_names = class_names.get(label_column)  # a ClassLabel's names, if the split has them
    ids, names = _label_ids(frame[label_column], where, label_column, label_names)
    return TextClassificationData(texts, ids, names)


def _columns(source: Any, read_options: dict[str, Any]) -> tuple[pd.DataFrame, str, dict[str, list[str]]]:
    """The source as a DataFrame, a name for it in errors, and the names of its ClassLabel columns."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            where = "" if path.is_absolute() else f" (looked in {Path.cwd()})"
            what = f"{path} is a folder, not a file" if path.is_dir() else f"no file {path}{where}"
            raise FileNotFoundError(f"{what}: pass the path of a CSV file, or a DataFrame")
        options = {"sep": "\t"} if path.suffix.lower() == ".tsv" else {}
        options.update(read_options)
        try:
            return pd.read_csv(path, **options), f"the file {path}", {}
        except pd.errors.EmptyDataError:
            raise ValueError(f"the file {path} is empty: expected a header line, then one row per text") from None
        except UnicodeDecodeError as err:
            encoding = str(options.get("encoding", "utf-8"))
            if encoding.replace("-", "").replace("_", "").lower() in ("utf8", "utf8sig"):
                fix = 'pass its encoding, e.g. labelled_texts(path, encoding="latin-1"), or re-save it as UTF-8'
                raise encoding_error(path, err, fix) from None
            raise ValueError(
                f"the file {path} is not valid {encoding} ({err.reason} at byte {err.start:,} of a chunk): "
                "pass its real encoding=..."
            ) from None
    if read_options:
        raise TypeError(f"read options {sorted(read_options)} apply to a CSV file only, not to a {type(source).__name__}")
    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True), "the DataFrame", {}
    columns = getattr(source, "column_names", None)
    if isinstance(columns, dict):
        raise TypeError(f"that is a dataset with splits {sorted(columns)}: pass one split, e.g. ds[{sorted(columns)[0]!r}]")
    if isinstance(columns, (list, tuple)):
        frame = pd.DataFrame({name: list(source[name]) for name in columns})
        return frame, "the dataset split", _class_names(source, columns)
    raise TypeError(
        f"labelled_texts() reads a CSV path, a pandas DataFrame or a Hugging Face datasets split, "
        f"got {type(source).__name__}"
    )


def _class_names(split: Any, columns: Sequence[str]) -> dict[str, list[str]]:
    features = getattr(split, "features", None) or {}
    return {name: list(features[name].names) for name in columns if hasattr(features.get(name), "names")}


def _rows(mask: np.ndarray) -> str:
    """The first offending data rows, numbered from 1 (row 1 is the line after a CSV header)."""
    rows = (np.flatnonzero(mask) + 1).tolist()
    shown = ", ".join(map(str, rows[:_SHOWN]))
    return f"row{'s' if len(rows) > 1 else ''} {shown}" + (f" (and {len(rows) - _SHOWN} more)" if len(rows) > _SHOWN else "")


def _texts(column: pd.Series, where: str, name: str) -> list[str]:
    missing = column.isna().to_numpy()
    if missing.any():
        raise ValueError(f"{where}: column {name!r} has no text (NaN) in {_rows(missing)}: fill or drop those rows")
    texts = column.astype(str).tolist()
    empty = np.array([not t.strip() for t in texts])
    if empty.any():
        raise ValueError(f"{where}: column {name!r} has an empty text in {_rows(empty)}: drop those rows")
    return texts


def _label_ids(
    column: pd.Series, where: str, name: str, label_names: Sequence[str] | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    missing = column.isna().to_numpy()
    if missing.any():
        raise ValueError(f"{where}: column {name!r} has no label (NaN) in {_rows(missing)}: fill or drop those rows")
    values = column.to_numpy()
    integral = pd.api.types.is_integer_dtype(column) or (
        pd.api.types.is_float_dtype(column) and bool(np.all(np.mod(values, 1) == 0))
    )
    if label_names is not None:
        names = tuple(str(n) for n in label_names)
        if len(set(names)) != len(names) or len(names) < 2:
            raise ValueError(f"label_names must be at least 2 distinct names, got {list(label_names)}")
        if integral:
            ids = values.astype(np.int64)
            unknown = (ids < 0) | (ids >= len(names))
            if unknown.any():
                raise ValueError(
                    f"{where}: integer labels are ids into label_names {list(names)}, but {_rows(unknown)} "
                    f"hold {sorted(set(ids[unknown].tolist()))[:_SHOWN]}, outside 0..{len(names) - 1}"
                )
            return ids, names
        index = {n: i for i, n in enumerate(names)}
        strings = column.astype(str).to_numpy()
        unknown = np.array([s not in index for s in strings])
        if unknown.any():
            raise ValueError(
                f"{where}: unknown label(s) {sorted(set(strings[unknown].tolist()))[:_SHOWN]} in {_rows(unknown)}; "
                f"the label set is {list(names)}"
            )
        return np.array([index[s] for s in strings], dtype=np.int64), names
    if integral:
        distinct = np.unique(values.astype(np.int64))
        ids = np.searchsorted(distinct, values.astype(np.int64))
        return ids.astype(np.int64), tuple(str(v) for v in distinct.tolist())
    strings = column.astype(str).to_numpy()
    distinct_names = sorted(set(strings.tolist()))
    index = {n: i for i, n in enumerate(distinct_names)}
    return np.array([index[s] for s in strings], dtype=np.int64), tuple(distinct_names)
