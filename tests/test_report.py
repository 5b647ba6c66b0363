"""glue() prints exactly the formatted value that prose will show."""

from tlnlp.report import glue


def test_glue_prints_the_formatted_value(capsys):
    glue("acc", 0.81234, fmt=".1%")
    assert capsys.readouterr().out.strip() == "acc = 81.2%"
