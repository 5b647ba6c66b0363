"""MiniLM's self-attention relations: what a student can be made to match besides the teacher's outputs.

Wang et al. (2020) distil the *last* Transformer layer's self-attention. Per head, with queries
``Q``, keys ``K`` and values ``V`` of width ``d`` (one row per token):

.. math:: A = \\operatorname{softmax}(QK^\\top / \\sqrt{d}), \\qquad
          R_V = \\operatorname{softmax}(VV^\\top / \\sqrt{d})

``A`` is the attention distribution, ``R_V`` the value relation (how alike the tokens' values
are). Both are ``n × n`` whatever the layer's width, so a narrow student can be compared with a
wide teacher row by row with the KL divergence ``KL(teacher row || student row)``, averaged over
heads and the rows of real (not padding) tokens.

Works on Hugging Face BERT-family bodies (``body.encoder.layer[i].attention.self`` with
``query``, ``key`` and ``value`` projections): BERT, MiniLM, DistilBERT-style students made by
:func:`tlnlp.distill.student_from_layers`.

Example:
    >>> import torch
    >>> from transformers import BertConfig, BertModel
    >>> body = BertModel(BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, vocab_size=20))
    >>> ids, mask = torch.tensor([[1, 5, 7, 0]]), torch.tensor([[1, 1, 1, 0]])
    >>> attention, values = self_attention_relations(body, ids, mask)
    >>> attention.shape, bool(attention[0, 0, 0, 3] == 0)  # (batch, heads, n, n); padding gets no weight
    (torch.Size([1, 2, 4, 4]), True)
    >>> minilm_losses(body, body, ids, mask)  # a body matches itself exactly
    (0.0, 0.0)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["minilm_losses", "relation_kl", "self_attention_relations"]

_EPS = 1e-12  # keeps log(0) finite where both distributions put no weight (padding keys)


def self_attention_relations(body: nn.Module, input_ids: Tensor, attention_mask: Tensor, layer: int = -1) -> tuple[Tensor, Tensor]:
    """The attention distributions and value relations of one layer, each ``(batch, heads, n, n)``.

    ``body`` runs once in eval mode without gradients (its mode is restored); forward hooks catch
    the layer's query, key and value projections. Padding keys (``attention_mask == 0``) get zero
    weight in every row.

    Raises:
        TypeError: ``body`` is not a BERT-family model with ``encoder.layer[i].attention.self``.
    """
    try:
        attention = body.encoder.layer[layer].attention.self
        projections = [getattr(attention, name) for name in ("query", "key", "value")]
        heads = int(body.config.num_attention_heads)
    except (AttributeError, IndexError, TypeError) as err:
        raise TypeError(
            f"self_attention_relations needs a BERT-family body with encoder.layer[{layer}].attention.self.query/key/value "
            f"and config.num_attention_heads (a transformers BertModel, or a student from student_from_layers); "
            f"got {type(body).__name__} ({err})"
        ) from None
    caught: list[Tensor] = [None, None, None]  # type: ignore[list-item]
    hooks = [module.register_forward_hook(lambda m, i, out, at=at: caught.__setitem__(at, out)) for at, module in enumerate(projections)]
    was_training = body.training
    try:
        with torch.inference_mode():
            body.eval()(input_ids=input_ids, attention_mask=attention_mask)
    finally:
        for hook in hooks:
            hook.remove()
        body.train(was_training)

    def split(x: Tensor) -> Tensor:  # (batch, n, width) -> (batch, heads, n, width / heads)
        return x.float().view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)

    q, k, v = (split(x) for x in caught)
    scale = 1.0 / math.sqrt(q.shape[-1])
    padding = (attention_mask == 0)[:, None, None, :].to(q.device)
    lowest = torch.finfo(q.dtype).min

    def distribution(a: Tensor, b: Tensor) -> Tensor:
        return torch.softmax((a @ b.transpose(-1, -2) * scale).masked_fill(padding, lowest), dim=-1)

    return distribution(q, k), distribution(v, v)


def relation_kl(teacher: Tensor, student: Tensor, attention_mask: Tensor) -> float:
    """Mean ``KL(teacher row || student row)`` in nats over heads and the rows of real tokens.

    Arguments:
        teacher, student: ``(batch, heads, n, n)`` row distributions (rows sum to 1), of one shape.
        attention_mask: ``(batch, n)``, 1 for real tokens; padding rows are left out.

    Raises:
        ValueError: the shapes differ (the students of MiniLM's paper use the teacher's number
            of heads for exactly this reason).
    """
    if teacher.shape != student.shape:
        raise ValueError(f"relation_kl: teacher relations {tuple(teacher.shape)} and student {tuple(student.shape)} differ; "
                         "give the student as many attention heads as the teacher")
    real = attention_mask.bool()[:, None, :, None].to(teacher.device)
    kl = (teacher * (torch.log(teacher + _EPS) - torch.log(student + _EPS))).sum(-1, keepdim=True)
    return float((kl * real).sum() / (real.sum() * teacher.shape[1]))


def minilm_losses(teacher_body: nn.Module, student_body: nn.Module, input_ids: Tensor, attention_mask: Tensor) -> tuple[float, float]:
    """MiniLM's two distances between the last layers of ``teacher_body`` and ``student_body``:
    ``(attention KL, value-relation KL)``, each by :func:`relation_kl`."""
    pairs = zip(self_attention_relations(teacher_body, input_ids, attention_mask),
                self_attention_relations(student_body, input_ids, attention_mask))
    attention, values = (relation_kl(t, s, attention_mask) for t, s in pairs)
    return attention, values
