"""Users' own labelled texts (CSV, DataFrame, Hugging Face split) into TextClassificationData."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tlnlp.data import TextClassificationData, labelled_texts

ROWS = [("a lovely pan", "positive"), ("rusted in a week", "negative"), ("works, I guess", "positive"),
        ("the lid, broken", "negative"), ("superb", "positive")]


def _csv(tmp_path, text: str, name: str = "mine.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _write(tmp_path, rows=ROWS, header="review,sentiment", name="mine.csv"):
    return _csv(tmp_path, header + "\n" + "".join(f'"{t}",{l}\n' for t, l in rows), name)


def test_a_csv_becomes_texts_with_ids_indexing_the_sorted_label_names(tmp_path):
    data = labelled_texts(_write(tmp_path), text_column="review", label_column="sentiment")
    assert isinstance(data, TextClassificationData)
    assert data.texts == [t for t, _ in ROWS]  # quoted commas survive
    assert data.label_names == ("negative", "positive")
    assert [data.label_names[i] for i in data.labels] == [l for _, l in ROWS]  # the mapping is kept


def test_a_given_label_set_fixes_the_ids_and_rejects_unknown_labels(tmp_path):
    data = labelled_texts(_write(tmp_path), "review", "sentiment", label_names=["positive", "negative"])
    assert data.labels.tolist() == [0 if l == "positive" else 1 for _, l in ROWS]
    bad = _write(tmp_path, ROWS + [("meh", "neutral"), ("so-so", "mixed")], name="bad.csv")
    with pytest.raises(ValueError, match=r"unknown label\(s\) \['mixed', 'neutral'\] in rows 6, 7; the label set is"):
        labelled_texts(bad, "review", "sentiment", label_names=["negative", "positive"])


def test_integer_labels_are_ids_with_names_and_distinct_values_without(tmp_path):
    path = _csv(tmp_path, "text,label\ngood,1\nbad,0\nok,1\n")
    assert labelled_texts(path, label_names=["neg", "pos"]).labels.tolist() == [1, 0, 1]
    stars = labelled_texts(pd.DataFrame({"text": ["a", "b", "c", "d"], "label": [5, 1, 2, 5]}))
    assert stars.label_names == ("1", "2", "5") and stars.labels.tolist() == [2, 0, 1, 2]
    with pytest.raises(ValueError, match=r"ids into label_names \['neg', 'pos'\], but row 2 hold \[2\]"):
        labelled_texts(_csv(tmp_path, "text,label\ngood,1\nbad,2\n", "ids.csv"), label_names=["neg", "pos"])


def test_a_dataframe_and_a_tsv_give_the_same_data_as_the_csv(tmp_path):
    from_csv = labelled_texts(_write(tmp_path), "review", "sentiment")
    frame = pd.DataFrame(ROWS, columns=["review", "sentiment"], index=[10, 20, 30, 40, 50])
    from_frame = labelled_texts(frame, "review", "sentiment")
    tsv = _csv(tmp_path, "review\tsentiment\n" + "".join(f"{t}\t{l}\n" for t, l in ROWS), "mine.tsv")
    from_tsv = labelled_texts(tsv, "review", "sentiment")
    for other in (from_frame, from_tsv):
        assert other.texts == from_csv.texts and other.label_names == from_csv.label_names
        np.testing.assert_array_equal(other.labels, from_csv.labels)
    semicolons = _csv(tmp_path, "text;label\nfine;a\ngood;b\n", "semi.csv")
    assert labelled_texts(semicolons, sep=";").texts == ["fine", "good"]


class FakeClassLabel:
    def __init__(self, names):
        self.names = names


class FakeSplit:
    """The part of a datasets.Dataset that labelled_texts uses: column_names, features, split[column]."""

    def __init__(self, columns: dict[str, list], features: dict | None = None):
        self._columns, self.column_names, self.features = columns, list(columns), features or {}

    def __getitem__(self, name: str) -> list:
        return self._columns[name]

    def __len__(self) -> int:
        return len(next(iter(self._columns.values())))


def _split(labels=(1, 0, 1)) -> FakeSplit:
    return FakeSplit({"sentence": ["fine", "dull", "great"], "label": list(labels), "idx": [0, 1, 2]},
                     {"label": FakeClassLabel(["negative", "positive"]), "sentence": object()})


def test_a_hugging_face_split_uses_its_class_label_names():
    data = labelled_texts(_split(), text_column="sentence")
    assert data.texts == ["fine", "dull", "great"] and data.labels.tolist() == [1, 0, 1]
    assert data.label_names == ("negative", "positive")
    with pytest.raises(ValueError, match="outside 0..1"):
        labelled_texts(_split(labels=(1, 0, 3)), text_column="sentence")


def test_datasets_itself_when_it_is_installed():
    datasets = pytest.importorskip("datasets")
    split = datasets.Dataset.from_dict(
        {"text": ["fine", "dull"], "label": [1, 0]},
        features=datasets.Features({"text": datasets.Value("string"),
                                    "label": datasets.ClassLabel(names=["negative", "positive"])}),
    )
    data = labelled_texts(split)
    assert data.label_names == ("negative", "positive") and data.labels.tolist() == [1, 0]
    with pytest.raises(TypeError, match="pass one split"):
        labelled_texts(datasets.DatasetDict({"train": split}))


def test_clear_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match=r"no column 'text'; its columns are \['review', 'sentiment'\]"):
        labelled_texts(_write(tmp_path), label_column="sentiment")
    with pytest.raises(ValueError, match="is empty"):
        labelled_texts(_csv(tmp_path, "", "empty.csv"))
    with pytest.raises(ValueError, match="has no rows"):
        labelled_texts(_csv(tmp_path, "text,label\n", "header.csv"))
    with pytest.raises(ValueError, match=r"column 'text' has no text \(NaN\) in rows 2, 3"):
        labelled_texts(_csv(tmp_path, "text,label\nfine,a\n,b\n,a\n", "nan.csv"))
    with pytest.raises(ValueError, match="has an empty text in row 2"):
        labelled_texts(pd.DataFrame({"text": ["fine", "  "], "label": ["a", "b"]}))
    with pytest.raises(ValueError, match=r"has no label \(NaN\) in row 1"):
        labelled_texts(pd.DataFrame({"text": ["fine", "good"], "label": [None, "b"]}))
    with pytest.raises(FileNotFoundError, match="no file"):
        labelled_texts(tmp_path / "absent.csv")
    with pytest.raises(TypeError, match="pass one split"):
        labelled_texts(type("DatasetDict", (), {"column_names": {"train": ["text"]}})())
    with pytest.raises(TypeError, match="CSV path, a pandas DataFrame or a Hugging Face"):
        labelled_texts([("fine", "a")])
    with pytest.raises(TypeError, match="apply to a CSV file only"):
        labelled_texts(pd.DataFrame({"text": ["a"], "label": ["b"]}), sep=";")
