"""Smoke tests of chapters 8 and 9's concept diagrams: they draw, and say what they should."""

import matplotlib

matplotlib.use("Agg")

import pytest

from tlnlp.diagrams.distillation import distillation_diagram, loss_label
from tlnlp.diagrams.multitask import MAX_TASKS, TASKS, multitask_diagram


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].texts]


def test_multitask_diagram_draws_one_head_and_one_weighted_loss_per_task() -> None:
    drawn = texts(multitask_diagram())
    for i, (name, kind) in enumerate(TASKS, start=1):
        assert drawn.count(f"{name} head\n({kind})") == 1
        assert drawn.count(f"loss × w_{i}") == 1
    assert sum("head" in t for t in drawn) == len(TASKS)
    assert "frozen layers 1-5\n(run once per sentence,\ncached)" in drawn
    assert "shared top layer 6\n(trained by every task)" in drawn
    assert "task sampler\np ∝ n^(1/T)" in drawn


def test_multitask_diagram_takes_the_users_tasks_and_layers() -> None:
    drawn = texts(multitask_diagram(["NLI", ("POS", "every token")], n_layers=12, top=2))
    assert drawn.count("NLI head") == 1 and drawn.count("POS head\n(every token)") == 1
    assert "loss × w_3" not in drawn and any(t.startswith("frozen layers 1-10") for t in drawn)
    shared_only = texts(multitask_diagram(["a"], n_layers=4, top=4))
    assert not any(t.startswith("frozen") for t in shared_only) and any(t.startswith("shared layers 1-4") for t in shared_only)


@pytest.mark.parametrize(
    ("tasks", "kwargs", "match"),
    [
        ([], {}, "at least one task"),
        ([f"t{i}" for i in range(MAX_TASKS + 1)], {}, "at most"),
        ([("a", "b", "c")], {}, "name or a"),
        ([""], {}, "empty"),
        (TASKS, {"top": 0}, "top must be"),
        (TASKS, {"n_layers": 3, "top": 4}, "top must be"),
        (TASKS, {"n_layers": 0}, "n_layers"),
    ],
)
def test_multitask_diagram_rejects_bad_arguments(tasks, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        multitask_diagram(tasks, **kwargs)


def test_distillation_diagram_draws_the_pipeline_and_the_loss() -> None:
    drawn = texts(distillation_diagram())
    assert "loss\nα T² KL + (1−α) CE" in drawn
    for label in ("labelled\nsentences", "unlabelled\nsentences", "teacher\n(fine-tuned, frozen)",
                  "teacher logits t\n(computed once)", "student\nlogits s", "softmax(t/T)",
                  "softmax(s/T), softmax(s)", "gold labels y → CE (labelled rows only)"):
        assert drawn.count(label) == 1, label


def test_distillation_diagram_with_numbers_and_no_unlabelled_text() -> None:
    drawn = texts(distillation_diagram(alpha=0.5, temperature=2, unlabelled=False))
    assert "loss\n0.5·2² KL + 0.5 CE" in drawn and "softmax(t/2)" in drawn
    assert "unlabelled\nsentences" not in drawn
    soft_only = texts(distillation_diagram(alpha=1))
    assert "loss\nT² KL" in soft_only and not any(t.startswith("gold labels") for t in soft_only)
    hard_only = texts(distillation_diagram(alpha=0))
    assert "loss\nCE" in hard_only and "softmax(s)" in hard_only


def test_loss_label() -> None:
    assert loss_label() == "α T² KL + (1−α) CE"
    assert loss_label(temperature=4) == "α·4² KL + (1−α) CE"
    assert loss_label(alpha=0.25) == "0.25 T² KL + 0.75 CE"
    assert loss_label(alpha=0, temperature=2) == "CE"


@pytest.mark.parametrize(("kwargs", "match"), [({"alpha": 1.5}, "alpha"), ({"alpha": -0.1}, "alpha"),
                                               ({"temperature": 0}, "temperature")])
def test_distillation_diagram_rejects_bad_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        distillation_diagram(**kwargs)
