"""Knowledge distillation: a small student trained on a large teacher's soft targets.

- :mod:`tlnlp.distill.loss`: :class:`DistillationLoss` (Hinton et al.'s soft targets at
  temperature ``T`` with the ``T²`` scaling, hard labels, or both), :func:`soft_target_loss`;
- :mod:`tlnlp.distill.student`: :func:`predict_logits` (the frozen teacher's logits, computed
  once), :func:`distill_loader`, :class:`Distiller` (trained by :func:`tlnlp.train.fit`);
- :mod:`tlnlp.distill.init`: :func:`student_from_layers` (DistilBERT's initialisation from a
  subset of the teacher's layers), :func:`check_vocabulary`;
- :mod:`tlnlp.distill.relations`: MiniLM's self-attention relations
  (:func:`self_attention_relations`) and the KL between a teacher's and a student's
  (:func:`relation_kl`, :func:`minilm_losses`).

Introduced in chapter 9.

>>> import torch
>>> from tlnlp.distill import DistillationLoss
>>> float(DistillationLoss(temperature=4.0, alpha=1.0)(torch.zeros(1, 2), torch.zeros(1, 2)))
0.0
"""

from .init import VocabularyMismatchError, check_vocabulary, input_vocab_size, student_from_layers
from .loss import IGNORE_INDEX, DistillationLoss, soft_target_loss
from .relations import minilm_losses, relation_kl, self_attention_relations
from .student import Distiller, TransferSet, distill_loader, predict_logits

__all__ = [
    "DistillationLoss",
    "soft_target_loss",
    "IGNORE_INDEX",
    "Distiller",
    "TransferSet",
    "distill_loader",
    "predict_logits",
    "student_from_layers",
    "check_vocabulary",
    "input_vocab_size",
    "VocabularyMismatchError",
    "self_attention_relations",
    "relation_kl",
    "minilm_losses",
]
