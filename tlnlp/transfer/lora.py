"""Low-rank adaptation (LoRA, Hu et al. 2021) through ``peft``.

LoRA freezes a pretrained weight ``W`` (``d_out x d_in``) and learns a low-rank update:
the layer computes ``W x + (alpha / r) * B A x`` with ``A`` of shape ``r x d_in`` and ``B``
of shape ``d_out x r`` (``B`` starts at zero, so training starts from the pretrained model).
Only ``A``, ``B`` and the task head train.

>>> model = add_lora(Classifier(enc.model, num_labels=2), r=8)  # doctest: +SKIP
>>> model.print_trainable_parameters()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Sequence

from torch import nn

__all__ = ["add_lora"]


def add_lora(
    model: nn.Module,
    r: int = 8,
    alpha: float = 16,
    target_modules: Sequence[str] = ("query", "value"),
    dropout: float = 0.1,
    trainable_modules: Sequence[str] = ("head",),
) -> Any:
    """Wrap ``model`` with LoRA adapters on ``target_modules``; only adapters and head train.

    Arguments:
        model: any module, e.g. a :class:`~tlnlp.models.Classifier`.
        r: rank of the update ``B A``.
        alpha: scaling numerator: the update is multiplied by ``alpha / r``.
        target_modules: names (suffixes) of the ``nn.Linear`` layers that get adapters;
            ``("query", "value")`` is the choice of Hu et al. for attention. Other
            architectures name them differently (GPT-2: ``"c_attn"``; DistilBERT:
            ``"q_lin"``, ``"v_lin"``).
        dropout: dropout on the adapter's input.
        trainable_modules: modules that train in full besides the adapters (the new,
            randomly initialised head); ``peft`` trains a copy of them and saves it with
            the adapters.

    Returns:
        A ``peft.PeftModel``: call it like ``model``; ``merge_and_unload()`` folds the
        adapters back into the weights.

    Raises:
        ValueError: no module of ``model`` is named like ``target_modules``.

    Example:
        >>> import torch
        >>> from transformers import BertConfig, BertModel
        >>> from tlnlp.models import Classifier
        >>> from tlnlp.transfer import count_parameters
        >>> bert = BertModel(BertConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
        ...                             intermediate_size=32, vocab_size=50))
        >>> lora = add_lora(Classifier(bert, num_labels=2), r=4)
        >>> count_parameters(lora, trainable_only=True)  # 2 layers x 2 targets x (4x16 + 16x4) + head 16x2+2
        546
    """
    from peft import LoraConfig, get_peft_model

    if r < 1:
        raise ValueError(f"the LoRA rank r must be >= 1, got {r}")
    targets = list(target_modules)
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not any(name == t or name.endswith("." + t) for name in names for t in targets):
        linear_suffixes = sorted({name.rsplit(".", 1)[-1] for name in names})
        raise ValueError(
            f"add_lora(): no nn.Linear of {type(model).__name__} is named {targets}; "
            f"its linear layers end in: {', '.join(linear_suffixes)}"
        )
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=targets,
        modules_to_save=list(trainable_modules) or None,
    )
    return get_peft_model(model, config)
