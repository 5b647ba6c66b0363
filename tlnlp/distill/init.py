"""Students made from a teacher: a subset of its layers, and the check that both read the same ids.

Introduced in chapter 9. DistilBERT initialised its 6-layer student with BERT's embeddings and
every other one of its 12 layers; :func:`student_from_layers` does that for any Hugging Face
encoder with a stack of layers (BERT, MiniLM, RoBERTa, DistilBERT, GPT-2...).
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

from torch import nn

__all__ = ["student_from_layers", "check_vocabulary", "VocabularyMismatchError", "input_vocab_size"]


class VocabularyMismatchError(ValueError):
    """A student reads other token ids than its teacher and no mapping between them was given."""


def _layer_stack(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The ``ModuleList`` holding the model's ``config.num_hidden_layers`` blocks."""
    n_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    if not isinstance(n_layers, int):
        raise TypeError(
            f"student_from_layers() needs a Hugging Face model with config.num_hidden_layers, got {type(model).__name__}"
        )
    stacks = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) == n_layers]
    if len(stacks) != 1:
        raise ValueError(
            f"cannot tell which ModuleList of {type(model).__name__} holds its {n_layers} layers "
            f"(found {[name for name, _ in stacks]}); copy the layers yourself"
        )
    return stacks[0]


def student_from_layers(teacher: nn.Module, layers: Sequence[int]) -> nn.Module:
    """A smaller model of the teacher's class: its embeddings and the chosen layers, copied.

    The student has ``len(layers)`` layers; its layer ``i`` is a copy of the teacher's layer
    ``layers[i]``, and every other weight (embeddings, final norms, pooler) is a copy of the
    teacher's. The teacher is not changed.

    Arguments:
        teacher: a Hugging Face model (``BertModel``, ``AutoModel.from_pretrained(...)``...).
        layers: teacher layer indices, increasing, e.g. ``[0, 2, 4, 7, 9, 11]`` (DistilBERT's
            choice for a 6-layer student of BERT-base) or ``range(0, 6, 3)``.

    Returns:
        The student, in the teacher's mode (train/eval) and on its device.

    Raises:
        ValueError: no layers, an index outside ``0 .. L-1``, or indices not strictly increasing.

    Example:
        >>> from transformers import BertConfig, BertModel
        >>> bert = BertModel(BertConfig(hidden_size=8, num_hidden_layers=4, num_attention_heads=2,
        ...                             intermediate_size=16, vocab_size=50))
        >>> student = student_from_layers(bert, [0, 2])
        >>> student.config.num_hidden_layers, bool((student.encoder.layer[1].output.dense.weight
        ...                                          == bert.encoder.layer[2].output.dense.weight).all())
        (2, True)
    """
    stack_name, stack = _layer_stack(teacher)
    chosen = [int(i) for i in layers]
    n = len(stack)
    if not chosen:
        raise ValueError("layers is empty: name at least one teacher layer to copy, e.g. layers=[0, 2]")
    bad = [i for i in chosen if not 0 <= i < n]
    if bad:
        raise ValueError(f"layers {bad} are outside the teacher's {n} layers: choose indices in 0..{n - 1}")
    if any(b <= a for a, b in zip(chosen, chosen[1:])):
        raise ValueError(f"layers must be strictly increasing (the student keeps the teacher's order), got {chosen}")
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(chosen)
    student = type(teacher)(config)
    for name, _ in list(student.named_children()):
        if getattr(teacher, name, student) is None:  # a part the teacher dropped (a Classifier drops the unused pooler)
            setattr(student, name, None)
    state = {}
    prefix = stack_name + "."
    for key, value in teacher.state_dict().items():
        if key.startswith(prefix):
            index, rest = key[len(prefix) :].split(".", 1)
            if int(index) in chosen:
                state[f"{prefix}{chosen.index(int(index))}.{rest}"] = value.clone()
        else:
            state[key] = value.clone()
    student.load_state_dict(state, strict=True)
    param = next(teacher.parameters(), None)
    if param is not None:
        student.to(param.device)
    return student.train(teacher.training)


def input_vocab_size(model: nn.Module) -> int:
    """Rows of the embedding that reads a model's input ids.

    Found with Hugging Face's ``get_input_embeddings()``, else the first ``nn.Embedding``.

    Example:
        >>> input_vocab_size(nn.Sequential(nn.Embedding(30, 4), nn.Linear(4, 2)))
        30
    """
    getter = getattr(model, "get_input_embeddings", None)
    if callable(getter):
        try:
            embedding = getter()
        except (NotImplementedError, AttributeError):
            embedding = None
        if isinstance(embedding, nn.Embedding):
            return embedding.num_embeddings
    for module in model.modules():
        if isinstance(module, nn.Embedding):
            return module.num_embeddings
    raise ValueError(f"{type(model).__name__} has no nn.Embedding: cannot tell which token ids it reads")


def check_vocabulary(teacher: nn.Module, student: nn.Module, mapping: Any = None) -> None:
    """Refuse a student that cannot read the teacher's token ids unless it has its own mapping.

    A student fed the teacher's ``input_ids`` must embed as many ids as the teacher. A student
    with another vocabulary (the BiLSTM of chapter 9 reads words) is fine when it tokenises the
    same sentences itself: pass that ``mapping`` (a :class:`~tlnlp.text.Vocab` or a tokenizer),
    whose size must match the student's embedding. The teacher's logits are per sentence, so
    they do not care how the student splits it.

    Arguments:
        teacher: the teacher model.
        student: the student model.
        mapping: the student's own text-to-id mapping (has ``vocab_size`` or ``len``), or ``None``.

    Raises:
        VocabularyMismatchError: the vocabularies differ and no mapping fits the student.

    Example:
        >>> check_vocabulary(nn.Embedding(30, 4), nn.Embedding(30, 2))  # same ids: fine
        >>> check_vocabulary(nn.Embedding(30, 4), nn.Embedding(12, 2))
        Traceback (most recent call last):
        ...
        tlnlp.distill.init.VocabularyMismatchError: the student embeds 12 token ids but the teacher 30: ...
    """
    n_teacher, n_student = input_vocab_size(teacher), input_vocab_size(student)
    if mapping is None:
        if n_teacher != n_student:
            raise VocabularyMismatchError(
                f"the student embeds {n_student} token ids but the teacher {n_teacher}: it cannot read the "
                "teacher's input_ids. Give the student the teacher's tokenizer (student_from_layers does), or "
                "tokenise the sentences with the student's own vocabulary and pass it as mapping=<its Vocab>"
            )
        return
    size = getattr(mapping, "vocab_size", None)
    size = size if isinstance(size, int) else len(mapping)
    if size != n_student:
        raise VocabularyMismatchError(
            f"the mapping has {size} ids but the student embeds {n_student}: build the student's embedding "
            f"with vocab_size={size}"
        )
