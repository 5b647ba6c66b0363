"""GPT-1's transfer recipe: a classifier on the last token, with an auxiliary language-model loss.

Radford et al. (2018) fine-tune the pretrained GPT on a labelled task with

.. math:: L = L_\\text{task} + \\lambda \\, L_\\text{LM},

where :math:`L_\\text{task}` is the cross-entropy of a linear head on the last token's hidden
state and :math:`L_\\text{LM}` is the model's own next-token loss *on the same labelled texts*
(they report that it helps larger datasets and speeds up convergence; :math:`\\lambda = 0.5`).
:class:`AuxLMClassifier` is :class:`~tlnlp.models.heads.Classifier` with ``pool="last"`` on a
:class:`~tlnlp.models.gpt.GPT` body plus that second term, computed from the same forward pass
(the hidden states feed both the head and the tied output layer). ``lm_weight=0`` is the plain
classifier. Padding must be on the right (the GPT refuses anything else) and is excluded from both
losses. Introduced in chapter 4.

>>> import torch
>>> from tlnlp.models.gpt import GPT, GPTConfig
>>> gpt = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
>>> clf = AuxLMClassifier(gpt, num_labels=2, lm_weight=0.5)
>>> out = clf(torch.tensor([[1, 2, 3, 0]]), attention_mask=torch.tensor([[1, 1, 1, 0]]), labels=torch.tensor([1]))
>>> out.logits.shape, bool(torch.isclose(out.loss, out.task_loss + 0.5 * out.lm_loss))
(torch.Size([1, 2]), True)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .gpt import GPT
from .heads import Classifier, last_token_pool
from .output import Output

__all__ = ["AuxLMClassifier", "masked_lm_loss"]


def masked_lm_loss(logits: Tensor, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """Mean next-token cross-entropy of ``logits`` ``(B, T, V)`` on ``input_ids``, real tokens only.

    Position ``t`` predicts token ``t + 1``; a target that is padding (mask 0) is left out.

    Example:
        >>> logits = torch.zeros(1, 3, 4)  # uniform over 4 tokens
        >>> round(float(masked_lm_loss(logits, torch.tensor([[1, 2, 0]]), torch.tensor([[1, 1, 0]]))), 4)
        1.3863
    """
    if logits.dim() != 3 or logits.shape[:2] != input_ids.shape:
        raise ValueError(
            f"logits must be (batch, time, vocab) matching input_ids {tuple(input_ids.shape)}, got {tuple(logits.shape)}"
        )
    targets = input_ids[:, 1:]
    if attention_mask is not None:
        targets = targets.masked_fill(attention_mask[:, 1:] == 0, -100)
    if bool((targets == -100).all()):
        raise ValueError("no next-token targets: every text is shorter than two real tokens")
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)


class AuxLMClassifier(Classifier):
    """A last-token classifier on a GPT whose loss adds ``lm_weight`` × the GPT's own LM loss.

    Arguments:
        gpt: the (pretrained or random) :class:`~tlnlp.models.gpt.GPT`; held, not copied.
        num_labels: number of classes.
        lm_weight: λ of GPT-1's auxiliary objective (0: the plain classifier; the paper used 0.5).
        dropout: dropout before the head.

    The output holds ``logits`` (class scores) and, given ``labels``, ``loss`` (the sum),
    ``task_loss`` and ``lm_loss`` (so a training curve can show both).

    Raises:
        TypeError: the body is not a tlnlp GPT (the LM term needs its tied output layer).
        ValueError: a negative ``lm_weight``.
    """

    def __init__(self, gpt: GPT, num_labels: int, lm_weight: float = 0.5, dropout: float = 0.1) -> None:
        if not isinstance(gpt, GPT):
            raise TypeError(f"AuxLMClassifier needs a tlnlp.models.GPT body (for its output layer), got {type(gpt).__name__}")
        if not lm_weight >= 0:
            raise ValueError(f"lm_weight (λ) must be >= 0 (0 = no auxiliary LM loss, GPT-1 used 0.5), got {lm_weight}")
        super().__init__(gpt, num_labels=num_labels, pool="last", dropout=dropout)
        self.lm_weight = float(lm_weight)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, labels: Tensor | None = None) -> Output:
        """Class scores, and with ``labels`` the combined loss and its two parts."""
        hidden = self.body.forward_features(input_ids, attention_mask)
        logits = self.head(last_token_pool(hidden, attention_mask))
        if labels is None:
            return Output(logits=logits)
        task = F.cross_entropy(logits, labels)
        if self.lm_weight == 0:
            return Output(logits=logits, loss=task, task_loss=task.detach())
        lm = masked_lm_loss(self.body.lm_head(hidden), input_ids, attention_mask)
        return Output(logits=logits, loss=task + self.lm_weight * lm, task_loss=task.detach(), lm_loss=lm.detach())
