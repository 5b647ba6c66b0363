"""A GPT (decoder-only Transformer language model) in one readable file.

The model is GPT-2's architecture: token + position embeddings, a stack of pre-LayerNorm
blocks (causal self-attention, then an MLP, each inside a residual connection), a final
LayerNorm and an output layer that shares its weights with the token embedding.
:meth:`GPT.from_hf` loads the weights of a Hugging Face ``GPT2LMHeadModel`` so the
implementation can be checked, logit for logit, against the reference.

>>> import torch
>>> model = GPT(GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=2, n_embd=32))
>>> out = model(torch.zeros(1, 8, dtype=torch.long))
>>> tuple(out.logits.shape), out.loss is None
((1, 8, 65), True)

References:
    Radford et al. (2019), *Language Models are Unsupervised Multitask Learners*;
    Vaswani et al. (2017), *Attention Is All You Need*; Karpathy's nanoGPT for the shape
    of a one-file GPT.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .encoders import ModelLoadError
from .output import Output
from .sampling import sample_tokens

if TYPE_CHECKING:  # transformers is only needed to load Hugging Face weights
    from transformers import GPT2LMHeadModel

AttentionImpl = Literal["sdpa", "manual"]

IGNORE_INDEX = -100
"""Label of a position that takes no part in the loss (PyTorch's and Hugging Face's convention)."""


class GPTWeightsError(ModelLoadError):
    """Weights that do not fit the model: another architecture, a missing, unexpected or wrongly shaped tensor."""


@dataclass
class GPTConfig:
    """The sizes of a :class:`GPT`.

    Attributes:
        vocab_size: number of token ids.
        block_size: the longest context the model reads (number of learned positions).
        n_layer: number of Transformer blocks.
        n_head: attention heads per block; must divide ``n_embd``.
        n_embd: width of the residual stream.
        dropout: dropout on embeddings, attention weights and residual branches.
        bias: biases in the Linear and LayerNorm layers (GPT-2 has them; nanoGPT's
            Shakespeare recipe turns them off).
        attention: ``"sdpa"`` uses :func:`torch.nn.functional.scaled_dot_product_attention`
            (fast); ``"manual"`` builds the causal mask and the softmax by hand (the same
            maths, slower, and the only path that can return attention weights).
        layer_norm_eps: LayerNorm's epsilon (GPT-2: 1e-5).

    Example:
        >>> GPTConfig(n_layer=4, n_head=4, n_embd=128).head_dim
        32
    """

    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True
    attention: AttentionImpl = "sdpa"
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"n_embd={self.n_embd} is not divisible by n_head={self.n_head}; "
                "each head gets n_embd // n_head dimensions, so pick sizes that divide"
            )
        if self.attention not in ("sdpa", "manual"):
            raise ValueError(f"attention must be 'sdpa' or 'manual', got {self.attention!r}")
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def head_dim(self) -> int:
        """Dimensions per attention head (``n_embd // n_head``)."""
        return self.n_embd // self.n_head


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position ``t`` attends only to positions ``<= t``.

    For each head, ``softmax(Q Kᵀ / sqrt(d) + M) V`` where ``M`` is 0 on and below the
    diagonal and ``-inf`` above it, so that the weights of future positions are exactly 0.

    Example:
        >>> attn = CausalSelfAttention(GPTConfig(n_head=2, n_embd=8, block_size=4))
        >>> y, w = attn(torch.randn(1, 4, 8), need_weights=True)
        >>> tuple(w.shape)
        (1, 2, 4, 4)
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.head_dim
        self.attention = config.attention
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v of all heads at once
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        # lower-triangular True: position t may look at positions 0..t
        mask = torch.tril(torch.ones(config.block_size, config.block_size, dtype=torch.bool))
        self.register_buffer("causal_mask", mask, persistent=False)

    def forward(self, x: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        """Attend over ``x`` of shape ``(B, T, C)``.

        Returns:
            The output ``(B, T, C)`` and, when ``need_weights`` is true, the attention
            weights ``(B, n_head, T, T)`` (rows sum to 1, zero above the diagonal), else None.
        """
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, n_head, T, head_dim): each head attends independently
        q, k, v = (t.view(B, T, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        weights = None
        if self.attention == "sdpa" and not need_weights:
            y = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
            )
        else:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)  # (B, H, T, T)
            scores = scores.masked_fill(~self.causal_mask[:T, :T], float("-inf"))
            weights = F.softmax(scores, dim=-1)
            y = self.attn_dropout(weights) @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again
        return self.resid_dropout(self.proj(y)), weights if need_weights else None


class MLP(nn.Module):
    """The position-wise feed-forward layer: ``Linear(C, 4C) -> GELU -> Linear(4C, C)``.

    GELU uses the tanh approximation, as GPT-2 does (``gelu_new`` in transformers).

    Example:
        >>> MLP(GPTConfig(n_embd=8, n_head=2))(torch.randn(2, 3, 8)).shape
        torch.Size([2, 3, 8])
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x), approximate="tanh")))


class Block(nn.Module):
    """One pre-LN Transformer block: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``.

    Example:
        >>> y, _ = Block(GPTConfig(n_embd=8, n_head=2, block_size=4))(torch.randn(1, 4, 8))
        >>> y.shape
        torch.Size([1, 4, 8])
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        a, weights = self.attn(self.ln_1(x), need_weights=need_weights)
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, weights


class GPT(nn.Module):
    """A GPT-2-style causal language model.

    ``model(input_ids, labels)`` returns an :class:`~tlnlp.models.output.Output`: ``logits`` of
    shape ``(B, T, vocab_size)``, where ``logits[:, t]`` scores the token at position ``t + 1``
    from tokens ``0..t``; and, when ``labels`` are given, ``loss``, the mean cross-entropy
    against them. ``labels[:, t]`` is the token that *follows* position ``t`` (nanoGPT's
    convention: the batch is already shifted, see :func:`tlnlp.lm.get_batch`); positions labelled
    ``-100`` are ignored. :meth:`forward_features` gives the hidden states instead, so that
    ``Classifier(gpt, num_labels, pool="last")`` puts a classification head on the model.

    Arguments:
        config: the sizes (see :class:`GPTConfig`).

    Example:
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> model = GPT(GPTConfig(vocab_size=10, block_size=16, n_layer=1, n_head=2, n_embd=16))
        >>> idx = torch.randint(10, (2, 8))
        >>> loss = model(idx[:, :-1], labels=idx[:, 1:]).loss
        >>> abs(loss.item() - math.log(10)) < 0.3  # an untrained model is close to uniform
        True
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # tied: one matrix reads and writes tokens
        self.apply(self._init_weights)
        # GPT-2's scaled init: each residual branch's output layer gets std 0.02 / sqrt(2 n_layer),
        # so the variance of the residual stream does not grow with depth.
        for block in self.blocks:
            for layer in (block.attn.proj, block.mlp.proj):
                nn.init.normal_(layer.weight, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self, non_embedding: bool = True) -> int:
        """Number of parameters (the tied output matrix counted once).

        Arguments:
            non_embedding: leave out the token and position embeddings, the usual
                convention when comparing model sizes.
        """
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.tok_emb.weight.numel() + self.pos_emb.weight.numel()
        return n

    def _hidden(self, idx: Tensor, need_weights: bool) -> tuple[Tensor, list[Tensor]]:
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(
                f"sequence of length {T} is longer than block_size={self.config.block_size}; "
                "crop the context to the last block_size tokens"
            )
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
        weights = []
        for block in self.blocks:
            x, w = block(x, need_weights=need_weights)
            if w is not None:
                weights.append(w)
        return self.ln_f(x), weights

    def forward(self, input_ids: Tensor, labels: Tensor | None = None) -> Output:
        """Logits for every position and, when ``labels`` (the next tokens, shaped like ``input_ids``)
        are given, their mean cross-entropy as ``loss``."""
        logits = self.lm_head(self._hidden(input_ids, need_weights=False)[0])
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX)
        return Output(logits=logits, loss=loss)

    def forward_features(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """The hidden states after the final LayerNorm, ``(B, T, n_embd)``: what the output layer reads.

        This is the body that :class:`~tlnlp.models.heads.Classifier` pools (``pool="last"``:
        the last real token, the only one that has read the whole text). Under causal attention
        a token never sees the tokens after it, so padding on the *right* leaves every real
        token's state unchanged and the mask is not needed inside the model; padding on the
        left (or holes in the mask) would shift the positions and is refused.

        Arguments:
            input_ids: ``(B, T)`` token ids.
            attention_mask: ``(B, T)``, 1 on real tokens and 0 on padding after them.

        Example:
            >>> m = GPT(GPTConfig(vocab_size=9, block_size=8, n_layer=1, n_head=2, n_embd=8)).eval()
            >>> padded = m.forward_features(torch.tensor([[1, 2, 3, 0]]), torch.tensor([[1, 1, 1, 0]]))
            >>> bool(torch.allclose(padded[:, :3], m.forward_features(torch.tensor([[1, 2, 3]]))))
            True
        """
        if attention_mask is not None and bool((attention_mask[:, 1:] > attention_mask[:, :-1]).any()):
            raise ValueError(
                "the GPT reads padding on the right only (a 0 in attention_mask followed by a 1 was found): "
                "pad each text after its last token (tokenizer padding_side='right')"
            )
        return self._hidden(input_ids, need_weights=False)[0]

    @torch.no_grad()
    def attention_weights(self, idx: Tensor) -> list[Tensor]:
        """The attention weights of every block, computed on the hand-written path.

        Returns:
            One tensor per block, of shape ``(B, n_head, T, T)``; entry ``[b, h, t, s]`` is how
            much position ``t`` attends to position ``s`` (zero for ``s > t``).

        Example:
            >>> m = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=2, n_head=1, n_embd=4))
            >>> [tuple(w.shape) for w in m.attention_weights(torch.zeros(1, 3, dtype=torch.long))]
            [(1, 1, 3, 3), (1, 1, 3, 3)]
        """
        _, weights = self._hidden(idx, need_weights=True)
        return weights

    @torch.no_grad()
    def generate(
        self,
        idx: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Extend ``idx`` (shape ``(B, T)``) by sampling ``max_new_tokens`` tokens one at a time.

        Each step feeds the last ``block_size`` tokens, divides the last position's logits by
        ``temperature``, keeps the ``top_k`` most likely tokens (all if None) and samples from
        the softmax. ``top_k=1`` is greedy decoding. The model is put in eval mode while
        generating (no dropout) and restored afterwards.

        Arguments:
            idx: the prompt, token ids of shape ``(B, T)`` with ``T >= 1``.
            max_new_tokens: how many tokens to append.
            temperature: > 0; below 1 sharpens the distribution, above 1 flattens it.
            top_k: sample only among the ``top_k`` highest-scoring tokens.
            generator: a seeded :class:`torch.Generator` (on ``idx``'s device) makes the
                samples reproducible.

        Returns:
            ``(B, T + max_new_tokens)`` token ids, the prompt first.

        Example:
            >>> m = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4))
            >>> g = torch.Generator().manual_seed(0)
            >>> m.generate(torch.zeros(1, 1, dtype=torch.long), 6, generator=g).shape
            torch.Size([1, 7])
        """
        return sample_tokens(self, lambda ids: self(ids[:, -self.config.block_size :]).logits[:, -1, :], idx,
                             max_new_tokens, temperature, top_k, generator=generator)

    # ----- loading GPT-2 weights from Hugging Face -----------------------------------------

    @staticmethod
    def config_from_hf(hf_config: object, attention: AttentionImpl = "sdpa") -> GPTConfig:
        """The :class:`GPTConfig` equivalent to a transformers ``GPT2Config``.

        Raises :class:`GPTWeightsError` for another architecture than GPT-2 (``model_type``)
        and for GPT-2 options this implementation does not have (another activation,
        cross-attention, attention-score rescaling variants).
        """
        model_type = getattr(hf_config, "model_type", None)
        if model_type != "gpt2":
            raise GPTWeightsError(
                f"this is a {model_type!r} config, not a GPT-2 one (model_type 'gpt2'): tlnlp's GPT loads "
                "GPT-2 checkpoints only; load an encoder such as BERT with tlnlp.models.load_encoder(...)"
            )
        unsupported = {
            "activation_function": ("gelu_new", getattr(hf_config, "activation_function", "gelu_new")),
            "scale_attn_weights": (True, getattr(hf_config, "scale_attn_weights", True)),
            "scale_attn_by_inverse_layer_idx": (False, getattr(hf_config, "scale_attn_by_inverse_layer_idx", False)),
            "add_cross_attention": (False, getattr(hf_config, "add_cross_attention", False)),
        }
        bad = {k: got for k, (want, got) in unsupported.items() if got != want}
        if bad:
            raise GPTWeightsError(
                f"this GPT2Config uses options tlnlp's GPT does not implement: {bad}; "
                "only the original GPT-2 architecture (gelu_new, scaled attention, no cross-attention) loads"
            )
        n_inner = getattr(hf_config, "n_inner", None)
        if n_inner is not None and n_inner != 4 * hf_config.n_embd:
            raise GPTWeightsError(f"n_inner={n_inner} is not 4 * n_embd={4 * hf_config.n_embd}; tlnlp's MLP is 4x wide")
        return GPTConfig(
            vocab_size=hf_config.vocab_size,
            block_size=hf_config.n_positions,
            n_layer=hf_config.n_layer,
            n_head=hf_config.n_head,
            n_embd=hf_config.n_embd,
            dropout=0.0,
            bias=True,
            attention=attention,
            layer_norm_eps=hf_config.layer_norm_epsilon,
        )

    def load_hf_state_dict(self, hf_state: dict[str, Tensor]) -> None:
        """Copy the tensors of a Hugging Face ``GPT2LMHeadModel.state_dict()`` into this model.

        GPT-2 stores its Linear layers as ``Conv1D`` with weights of shape ``(in, out)``;
        ``nn.Linear`` keeps ``(out, in)``, so those weights are transposed. Every tensor is
        checked before anything is copied.

        Raises:
            GPTWeightsError: naming every missing, unexpected or wrongly shaped tensor.
        """
        if isinstance(hf_state, nn.Module) or not hasattr(hf_state, "items"):
            raise TypeError(
                f"load_hf_state_dict() takes a state dict, got {type(hf_state).__name__}: pass "
                "hf_model.state_dict(), or build the model with GPT.from_hf(hf_model)"
            )
        own = self.state_dict()
        mapped: dict[str, Tensor] = {}
        unexpected = []
        for hf_name, tensor in hf_state.items():
            name, transpose = _hf_name_to_ours(hf_name)
            if name is None:
                if not hf_name.endswith((".attn.bias", ".attn.masked_bias")):  # old causal-mask buffers
                    unexpected.append(hf_name)
                continue
            mapped[name] = tensor.t() if transpose else tensor
        if "lm_head.weight" not in mapped and "tok_emb.weight" in mapped:
            mapped["lm_head.weight"] = mapped["tok_emb.weight"]  # tied in both models
        head, emb = mapped.get("lm_head.weight"), mapped.get("tok_emb.weight")
        if head is not None and emb is not None and head.shape == emb.shape and not torch.equal(head, emb):
            raise GPTWeightsError(
                "the checkpoint's output layer (lm_head) differs from its token embedding (wte); "
                "tlnlp's GPT ties them, as GPT-2 does, so an untied checkpoint cannot be loaded"
            )
        missing = sorted(set(own) - set(mapped))
        wrong = [
            f"{name}: model has {tuple(own[name].shape)}, checkpoint gives {tuple(t.shape)}"
            for name, t in mapped.items()
            if name in own and own[name].shape != t.shape
        ]
        unexpected += sorted(set(mapped) - set(own))
        if missing or unexpected or wrong:
            parts = []
            if wrong:
                shown = wrong[:4] + ([f"... and {len(wrong) - 4} more"] if len(wrong) > 4 else [])
                parts.append("shape mismatch:\n  " + "\n  ".join(shown))
            if missing:
                parts.append(f"missing in checkpoint: {missing}")
            if unexpected:
                parts.append(f"not in this model: {unexpected}")
            raise GPTWeightsError(
                "the GPT-2 weights do not fit this GPTConfig "
                f"(n_layer={self.config.n_layer}, n_head={self.config.n_head}, n_embd={self.config.n_embd}, "
                f"vocab_size={self.config.vocab_size}, block_size={self.config.block_size}, bias={self.config.bias}); "
                + "; ".join(parts)
                + ". Build the model with GPT.from_hf(hf_model), which reads the config from the checkpoint."
            )
        with torch.no_grad():
            for name, tensor in mapped.items():
                own[name].copy_(tensor)

    @classmethod
    def from_hf(
        cls, hf_model: "GPT2LMHeadModel", config: GPTConfig | None = None, attention: AttentionImpl = "sdpa"
    ) -> "GPT":
        """A :class:`GPT` holding the weights of a Hugging Face ``GPT2LMHeadModel``.

        Arguments:
            hf_model: the loaded transformers model (a ``GPT2LMHeadModel``, or a bare
                ``GPT2Model``, whose output layer is its token embedding).
            config: the config to build; by default derived from ``hf_model.config``. A config
                that does not match the weights raises :class:`GPTWeightsError`.
            attention: which attention path the new model uses.

        Example:
            >>> from transformers import GPT2Config, GPT2LMHeadModel
            >>> hf = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=20,
            ...                                 n_positions=16, bos_token_id=0, eos_token_id=0))
            >>> GPT.from_hf(hf).config.n_embd
            8
        """
        if not isinstance(hf_model, nn.Module) or not hasattr(hf_model, "config"):
            raise TypeError(
                f"GPT.from_hf() takes a loaded transformers GPT-2 model, got {type(hf_model).__name__} "
                f"{hf_model!r:.60}; to load by name or folder use GPT.from_pretrained({hf_model!r:.60})"
            )
        config = config or cls.config_from_hf(hf_model.config, attention=attention)
        model = cls(config)
        model.load_hf_state_dict(hf_model.state_dict())
        return model.eval()

    @classmethod
    def from_pretrained(cls, name: "str | os.PathLike[str]" = "gpt2", attention: AttentionImpl = "sdpa") -> "GPT":
        """Load a published GPT-2 checkpoint (``gpt2``, ``gpt2-medium``, ...) or a saved GPT-2 folder.

        The weights come as safetensors from a local folder written by
        ``GPT2LMHeadModel.save_pretrained``, or from the Hugging Face hub (or its local
        cache), which needs network access the first time. Names resolve as in
        :func:`~tlnlp.models.load_encoder`: offline (``TLNLP_OFFLINE=1`` or
        ``HF_HUB_OFFLINE=1``) an uncached hub model fails at once, and a local path that does
        not exist is reported as such.

        Raises:
            TypeError: ``name`` is not a string or a path.
            GPTWeightsError: the checkpoint is not a GPT-2 (checked before any weight is read),
                or a tensor is missing, unexpected or of another shape.
            ModelLoadError: a local folder without config or safetensors weights, or with
                unreadable files.
            ModelNotAvailableError: not cached and not downloadable, or no such local folder.

        Example:
            >>> model = GPT.from_pretrained("gpt2")  # doctest: +SKIP
        """
        from transformers import AutoConfig, GPT2LMHeadModel

        from .encoders import check_loading_info, check_model_folder, load_model_source, resolve_model_source

        if attention not in ("sdpa", "manual"):
            raise ValueError(f"attention must be 'sdpa' or 'manual', got {attention!r}")
        source, label, from_hub = resolve_model_source(name, caller="GPT.from_pretrained", example='"gpt2"')
        if not from_hub:
            check_model_folder(source, label, weights=True, tokenizer=False)

        def load(local_files_only: bool) -> "GPT":
            hf_config = AutoConfig.from_pretrained(source, local_files_only=local_files_only)
            config = cls.config_from_hf(hf_config, attention=attention)  # the architecture, before any weight
            hf_model, info = GPT2LMHeadModel.from_pretrained(
                source, use_safetensors=True, output_loading_info=True, ignore_mismatched_sizes=True,
                local_files_only=local_files_only,
            )
            try:
                check_loading_info(hf_model, info, label)
            except ModelLoadError as err:
                raise GPTWeightsError(str(err)) from None
            return cls.from_hf(hf_model, config=config, attention=attention)

        return load_model_source(source, label, from_hub, load, alternative=_GPT_ALTERNATIVE)


_GPT_ALTERNATIVE = (
    "Run GPT.from_pretrained once with a network to fill the hub cache (~/.cache/huggingface), pass "
    "a local folder written by GPT2LMHeadModel.save_pretrained, or train a small GPT from scratch "
    "with GPT(GPTConfig(...)) (chapter 4)."
)


_HF_LAYER_NAMES = {
    "ln_1.weight": ("ln_1.weight", False),
    "ln_1.bias": ("ln_1.bias", False),
    "attn.c_attn.weight": ("attn.qkv.weight", True),
    "attn.c_attn.bias": ("attn.qkv.bias", False),
    "attn.c_proj.weight": ("attn.proj.weight", True),
    "attn.c_proj.bias": ("attn.proj.bias", False),
    "ln_2.weight": ("ln_2.weight", False),
    "ln_2.bias": ("ln_2.bias", False),
    "mlp.c_fc.weight": ("mlp.fc.weight", True),
    "mlp.c_fc.bias": ("mlp.fc.bias", False),
    "mlp.c_proj.weight": ("mlp.proj.weight", True),
    "mlp.c_proj.bias": ("mlp.proj.bias", False),
}
_HF_TOP_NAMES = {
    "transformer.wte.weight": "tok_emb.weight",
    "transformer.wpe.weight": "pos_emb.weight",
    "transformer.ln_f.weight": "ln_f.weight",
    "transformer.ln_f.bias": "ln_f.bias",
    "lm_head.weight": "lm_head.weight",
}


def _hf_name_to_ours(hf_name: str) -> tuple[str | None, bool]:
    """Map a transformers GPT-2 parameter name to ours; the flag says whether to transpose."""
    if hf_name in _HF_TOP_NAMES:
        return _HF_TOP_NAMES[hf_name], False
    if "transformer." + hf_name in _HF_TOP_NAMES or hf_name.startswith("h."):  # a bare GPT2Model's names
        return _hf_name_to_ours("transformer." + hf_name)
    prefix = "transformer.h."
    if hf_name.startswith(prefix):
        layer, _, rest = hf_name[len(prefix) :].partition(".")
        if rest in _HF_LAYER_NAMES:
            ours, transpose = _HF_LAYER_NAMES[rest]
            return f"blocks.{layer}.{ours}", transpose
    return None, False
