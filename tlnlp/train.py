"""One training and evaluation loop for every chapter.

:func:`fit` trains any ``torch.nn.Module`` on batches of one of two shapes, evaluates
it, records a :class:`History`, stops early and restores the best weights; AMP is used
on CUDA only, so CPU runs are fp32 and reproducible given a seed.

**The batch contract** (the same for :func:`fit` and :func:`evaluate`):

**The model contract**: a model returns a tensor of logits, or an object with ``logits`` and,
when the batch gives it targets, ``loss`` -- :class:`tlnlp.models.Output` for every tlnlp model
(the :class:`~tlnlp.models.Classifier` head, the GPT, the LSTM language model, the DANN loss
module) and ``ModelOutput`` for Hugging Face's. Anything else is refused with an error that
says so.

* **dict batch** (Hugging Face style), e.g. ``{"input_ids", "attention_mask", "labels"}``:

  - without ``loss_fn``: ``out = model(**batch)``; the loss is ``out.loss`` (or
    ``out["loss"]``), which Hugging Face models compute when ``"labels"`` is in the
    batch; the logits are ``out.logits`` and the targets ``batch["labels"]``.
  - with ``loss_fn``: ``out = model(**inputs)`` where ``inputs`` is the batch without
    ``"labels"``; ``out`` is a tensor of logits or has ``.logits``; the loss is
    ``loss_fn(logits, batch["labels"])``. Use this for plain modules that return a
    tensor, or to replace a Hugging Face model's own loss.

* **tuple batch** ``(inputs, targets)``: ``out = model(inputs)`` (``model(*inputs)``
  when ``inputs`` is a tuple/list, ``model(**inputs)`` when it is a dict), logits as
  above, and the loss is ``loss_fn(logits, targets)``; ``loss_fn`` is required to train.

Tensors are moved to the device; other values are passed through untouched.

Metrics are functions ``metric(logits, targets) -> float`` computed once over the whole
evaluation set (see :func:`accuracy`). For sequence outputs, logits ``(B, T, C)`` with
targets ``(B, T)`` are flattened to ``(B*T, C)`` and ``(B*T,)`` before the metric sees them.

>>> import torch
>>> from torch.utils.data import DataLoader, TensorDataset
>>> X = torch.randn(64, 2); y = (X[:, 0] > 0).long()
>>> loader = DataLoader(TensorDataset(X, y), batch_size=16)
>>> model = torch.nn.Linear(2, 2)
>>> history = fit(model, loader, optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
...               epochs=20, eval_loader=loader, metrics={"accuracy": accuracy},
...               loss_fn=torch.nn.functional.cross_entropy, progress=False, seed=0)
>>> history.last["eval_accuracy"] > 0.9
True
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal

import torch
from torch import nn

from .config import device as default_device
from .config import seed_everything

if TYPE_CHECKING:
    import pandas as pd

Metric = Callable[[torch.Tensor, torch.Tensor], float]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
AmpMode = Literal["auto", "bf16", "fp16", "off"]

_LOWER_IS_BETTER = ("loss", "perplexity", "error")
_FLUSH_EVERY = 50  # steps between two reads of the loss from the device (for the progress bar)


def accuracy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> float:
    """Fraction of targets predicted correctly.

    Arguments:
        logits: ``(N, C)`` class scores (argmax is the prediction), or ``(N,)`` scores of
            a binary classifier (prediction: score > 0).
        targets: ``(N,)`` class indices; entries equal to ``ignore_index`` (padding,
            sub-word continuations) are not counted.

    Example:
        >>> accuracy(torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]), torch.tensor([0, 1, 1]))
        0.6666666666666666
    """
    predictions = (logits > 0).long() if logits.dim() == targets.dim() else logits.argmax(dim=-1)
    keep = targets != ignore_index
    if not bool(keep.any()):
        raise ValueError("accuracy() got no targets to score (all equal ignore_index)")
    return float((predictions[keep] == targets[keep]).double().mean())


def lower_is_better(monitor: str) -> bool:
    """True for names that are minimised (containing "loss", "perplexity" or "error").

    Example:
        >>> lower_is_better("eval_loss"), lower_is_better("eval_accuracy")
        (True, False)
    """
    return any(word in monitor for word in _LOWER_IS_BETTER)


@dataclass
class History:
    """What :func:`fit` measured.

    Attributes:
        records: one dict per evaluation point (the end of each epoch, or every
            ``eval_every`` steps): ``epoch`` (1-based), ``step`` (optimizer steps so far),
            ``train_loss`` (mean over the steps since the previous record), ``lr``,
            ``eval_loss`` and ``eval_<metric>`` when there is an ``eval_loader``, and
            ``seconds`` (wall time since the previous record, evaluation included).
        step_losses: the training loss of every optimizer step.
        monitor: the record key that early stopping and ``restore_best`` watched.
        best_step: the step of the best ``monitor`` value (None without it).
        stopped_early: True when ``patience`` ended the run.

    Example:
        >>> h = History(records=[{"epoch": 1, "step": 10, "train_loss": 0.7, "eval_loss": 0.5},
        ...                      {"epoch": 2, "step": 20, "train_loss": 0.4, "eval_loss": 0.6}])
        >>> h.best("eval_loss")["epoch"], h.last["train_loss"]
        (1, 0.4)
    """

    records: list[dict[str, float]] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    monitor: str = "eval_loss"
    best_step: int | None = None
    stopped_early: bool = False

    @property
    def last(self) -> dict[str, float]:
        """The latest record."""
        if not self.records:
            raise ValueError("the history is empty: fit() recorded nothing")
        return self.records[-1]

    def best(self, monitor: str | None = None) -> dict[str, float]:
        """The record with the best ``monitor`` value (min for losses, max otherwise).

        Arguments:
            monitor: a record key; default: the one :func:`fit` monitored.
        """
        monitor = monitor or self.monitor
        scored = [r for r in self.records if monitor in r]
        if not scored:
            keys = sorted({k for r in self.records for k in r})
            raise KeyError(f"no record has {monitor!r}; recorded keys: {keys}")
        pick = min if lower_is_better(monitor) else max
        return pick(scored, key=lambda r: r[monitor])

    def to_frame(self) -> "pd.DataFrame":
        """The records as a pandas DataFrame, one row per evaluation point."""
        import pandas as pd

        return pd.DataFrame(self.records)

    def __repr__(self) -> str:
        if not self.records:
            return "History(empty)"
        last = ", ".join(
            f"{k}={v:.4g}" for k, v in self.last.items() if k not in ("epoch", "step", "seconds", "lr")
        )
        stop = ", stopped early" if self.stopped_early else ""
        return f"History({self.last['epoch']} epochs, {self.last['step']} steps{stop}; last: {last})"


def fit(
    model: nn.Module,
    train_loader: Iterable[Any],
    *,
    optimizer: torch.optim.Optimizer,
    epochs: int = 1,
    eval_loader: Iterable[Any] | None = None,
    metrics: Mapping[str, Metric] | None = None,
    scheduler: Any = None,
    loss_fn: LossFn | None = None,
    max_steps: int | None = None,
    patience: int | None = None,
    monitor: str = "eval_loss",
    grad_clip: float | None = None,
    device: Any = None,
    amp: AmpMode | bool = "auto",
    progress: bool = True,
    seed: int | None = None,
    eval_every: int | None = None,
    restore_best: bool = True,
) -> History:
    """Train ``model`` and evaluate it after every epoch (or every ``eval_every`` steps).

    See the module docstring for the batch contract. The model is moved to ``device``
    and put in train mode (Hugging Face's ``from_pretrained`` returns models in eval
    mode); each module's previous mode is restored at the end.

    Arguments:
        model: the module to train.
        train_loader: an iterable of batches (usually a ``DataLoader``).
        optimizer: built on the model's parameters.
        epochs: passes over ``train_loader`` (ignored when ``max_steps`` is given).
        eval_loader: batches for :func:`evaluate`; adds ``eval_loss`` and
            ``eval_<metric>`` to each record.
        metrics: name -> ``metric(logits, targets) -> float``, e.g. ``{"accuracy": accuracy}``.
        scheduler: stepped after every optimizer step (per-step schedules such as
            ``transformers.get_linear_schedule_with_warmup``).
        loss_fn: ``loss_fn(logits, targets)``; needed for tuple batches and for models
            that do not compute their loss.
        max_steps: train for exactly this many optimizer steps, cycling through
            ``train_loader`` as often as needed (overrides ``epochs``, as in Hugging
            Face's ``Trainer``).
        patience: stop after this many evaluations in a row without improvement of
            ``monitor``.
        monitor: the record key to watch, minimised if it names a loss/perplexity/error
            and maximised otherwise (e.g. ``"eval_accuracy"``).
        grad_clip: clip the gradients' global L2 norm to this value.
        device: default :func:`tlnlp.config.device`.
        amp: ``"auto"`` uses bfloat16 autocast on CUDA GPUs that support it (Ampere+),
            float16 with a ``GradScaler`` on older ones (T4), and fp32 on CPU; ``"bf16"``
            and ``"fp16"`` force a type (CUDA only); ``"off"``/``False`` is fp32.
        progress: show a tqdm bar per epoch.
        seed: call :func:`tlnlp.config.seed_everything` first, which fixes the shuffling
            of a ``DataLoader`` and dropout. Seed the model's initialisation yourself,
            before building it.
        eval_every: evaluate and record every this many steps instead of every epoch
            (and after the last step).
        restore_best: at the end, load the weights that had the best ``monitor`` value
            (kept as an in-memory copy of the state dict). Ignored when no record has
            ``monitor`` (e.g. no ``eval_loader`` with the default ``"eval_loss"``).

    Returns:
        The :class:`History` of the run.

    Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> X = torch.randn(32, 3); y = (X.sum(1) > 0).long()
        >>> net = torch.nn.Linear(3, 2)
        >>> h = fit(net, DataLoader(TensorDataset(X, y), batch_size=8),
        ...         optimizer=torch.optim.Adam(net.parameters(), lr=0.1), epochs=3,
        ...         loss_fn=torch.nn.functional.cross_entropy, progress=False, seed=0)
        >>> len(h.records), h.last["step"]
        (3, 12)
    """
    from tqdm.auto import tqdm

    if epochs < 1 and max_steps is None:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    if eval_every is not None and eval_every < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    if patience is not None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        if monitor.startswith("eval_") and eval_loader is None:
            raise ValueError(f"early stopping on {monitor!r} needs an eval_loader (or monitor='train_loss')")
    if seed is not None:
        seed_everything(seed)

    device = torch.device(default_device() if device is None else device)
    autocast_dtype = _autocast_dtype(amp, device)
    scaler = torch.amp.GradScaler("cuda") if autocast_dtype == torch.float16 else None
    modes = _module_modes(model)
    model.to(device)
    model.train()

    history = History(monitor=monitor)
    best_value: float | None = None
    best_state: dict[str, torch.Tensor] | None = None
    bad_evals = 0
    step = 0
    pending: list[torch.Tensor] = []  # step losses not yet read from the device
    n_pending_record = 0  # steps since the last record
    steps_per_epoch = _len_or_none(train_loader)
    n_epochs = math.ceil(max_steps / steps_per_epoch) if max_steps and steps_per_epoch else epochs
    if max_steps is not None and steps_per_epoch is None:
        n_epochs = max_steps  # an unsized loader: cycle until max_steps
    t_last = time.perf_counter()

    def flush() -> None:
        history.step_losses.extend(torch.stack(pending).float().cpu().tolist())
        pending.clear()

    def record(epoch: int) -> bool:
        """Write a record; return True when training should stop early."""
        nonlocal best_value, best_state, bad_evals, n_pending_record, t_last
        if pending:
            flush()
        row: dict[str, Any] = {"epoch": epoch, "step": step}
        row["train_loss"] = sum(history.step_losses[-n_pending_record:]) / n_pending_record
        row["lr"] = optimizer.param_groups[0]["lr"]
        if eval_loader is not None:
            scores = evaluate(model, eval_loader, metrics=metrics, loss_fn=loss_fn, device=device, amp=amp)
            row.update({f"eval_{k}": v for k, v in scores.items()})
        row["seconds"] = time.perf_counter() - t_last
        history.records.append(row)
        n_pending_record = 0
        t_last = time.perf_counter()
        if monitor not in row:
            if patience is not None:
                raise KeyError(f"monitor {monitor!r} is not recorded; recorded keys: {sorted(row)}")
            return False
        value = row[monitor]
        improved = best_value is None or (value < best_value if lower_is_better(monitor) else value > best_value)
        if improved:
            best_value, bad_evals, history.best_step = value, 0, step
            if restore_best:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad_evals += 1
        return patience is not None and bad_evals >= patience

    stop = done = False
    epoch = 0
    try:
        for epoch in range(1, n_epochs + 1):
            total = steps_per_epoch
            if max_steps is not None and total is not None:
                total = min(total, max_steps - step)
            bar = tqdm(train_loader, total=total, desc=f"epoch {epoch}/{n_epochs}", disable=not progress, leave=False)
            for batch in bar:
                pending.append(_train_step(model, batch, optimizer, loss_fn, device, autocast_dtype, scaler, grad_clip))
                if scheduler is not None:
                    scheduler.step()
                step += 1
                n_pending_record += 1
                if progress and len(pending) >= _FLUSH_EVERY:
                    flush()
                    recent = history.step_losses[-_FLUSH_EVERY:]
                    bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}", refresh=False)
                done = max_steps is not None and step >= max_steps
                if eval_every is not None and step % eval_every == 0:
                    stop = record(epoch)
                if stop or done:
                    break
            bar.close()
            if stop or done:
                break
            if eval_every is None:
                stop = record(epoch)
                if stop:
                    break
        if step == 0:
            raise ValueError("train_loader yielded no batches")
        if n_pending_record:  # max_steps ended mid-epoch, or eval_every did not divide the steps
            record(epoch)
        history.stopped_early = stop
        if restore_best and best_state is not None and history.best_step != step:
            model.load_state_dict(best_state)
    finally:
        _restore_modes(modes)
    return history


def evaluate(
    model: nn.Module,
    loader: Iterable[Any],
    *,
    metrics: Mapping[str, Metric] | None = None,
    loss_fn: LossFn | None = None,
    device: Any = None,
    amp: AmpMode | bool = "auto",
) -> dict[str, float]:
    """Loss and metrics of ``model`` over a whole loader, without gradients.

    Runs in eval mode under ``torch.inference_mode()`` and restores each module's mode
    afterwards. See the module docstring for the batch contract.

    Arguments:
        model: the module to evaluate.
        loader: an iterable of batches.
        metrics: name -> ``metric(logits, targets) -> float`` over all batches at once.
        loss_fn: as in :func:`fit`; without it (and without a model-computed loss) no
            ``"loss"`` is reported.
        device: default :func:`tlnlp.config.device`.
        amp: as in :func:`fit`.

    Returns:
        ``{"loss": ..., <metric>: ...}``. The loss is the mean of the batch losses
        weighted by batch size: the mean over examples for per-example losses.

    Example:
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> X = torch.tensor([[1.0, 0.0], [0.0, 1.0]]); y = torch.tensor([0, 1])
        >>> net = torch.nn.Linear(2, 2)
        >>> with torch.no_grad():
        ...     _ = net.weight.copy_(torch.eye(2)); _ = net.bias.zero_()
        >>> evaluate(net, DataLoader(TensorDataset(X, y)), metrics={"accuracy": accuracy})
        {'accuracy': 1.0}
    """
    device = torch.device(default_device() if device is None else device)
    autocast_dtype = _autocast_dtype(amp, device)
    modes = _module_modes(model)
    model.to(device)
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    n_loss = 0
    logits_parts: list[torch.Tensor] = []
    target_parts: list[torch.Tensor] = []
    try:
        with torch.inference_mode():
            for batch in loader:
                batch = _to_device(batch, device)
                with _autocast(device, autocast_dtype):
                    loss, logits, targets = _forward(model, batch, loss_fn, need_loss=False)
                if loss is not None:
                    n = _batch_size(batch, targets)
                    loss_sum += loss.double() * n
                    n_loss += n
                if metrics:
                    if logits is None or targets is None:
                        raise ValueError("metrics need logits and targets, but the model output or the batch lacks them")
                    if targets.dim() > 1 and logits.dim() == targets.dim() + 1:  # (B, T, C) token outputs
                        logits, targets = logits.flatten(0, -2), targets.flatten()
                    logits_parts.append(logits.float())
                    target_parts.append(targets)
    finally:
        _restore_modes(modes)
    result: dict[str, float] = {}
    if n_loss:
        result["loss"] = float(loss_sum / n_loss)
    if metrics and logits_parts:
        all_logits, all_targets = torch.cat(logits_parts), torch.cat(target_parts)
        result.update({name: float(metric(all_logits, all_targets)) for name, metric in metrics.items()})
    if not result:
        raise ValueError("evaluate() computed nothing: the loader is empty, or there is neither a loss nor metrics")
    return result


def _train_step(
    model: nn.Module,
    batch: Any,
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn | None,
    device: torch.device,
    autocast_dtype: torch.dtype | None,
    scaler: "torch.amp.GradScaler | None",
    grad_clip: float | None,
) -> torch.Tensor:
    """One optimizer step; returns the detached loss (still on the device: no sync)."""
    batch = _to_device(batch, device)
    with _autocast(device, autocast_dtype):
        loss, _, _ = _forward(model, batch, loss_fn, need_loss=True)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
    else:
        scaler.scale(loss).backward()
    if grad_clip is not None:
        if scaler is not None:
            scaler.unscale_(optimizer)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        nn.utils.clip_grad_norm_(params, grad_clip)
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    return loss.detach()


def _forward(
    model: nn.Module, batch: Any, loss_fn: LossFn | None, need_loss: bool
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Apply the batch contract: return (loss, logits, targets); loss is None if not computable."""
    if isinstance(batch, Mapping):
        if loss_fn is None:
            out = model(**batch)
            if isinstance(out, torch.Tensor):
                raise ValueError("the model returned a plain tensor for a dict batch: pass loss_fn=... to score it")
            _check_output(out)
            loss, logits, targets = _field(out, "loss"), _field(out, "logits"), batch.get("labels")
            if loss is None and need_loss:
                raise ValueError(
                    "the model returned no loss: put 'labels' in the batch (Hugging Face models "
                    "then compute it) or pass loss_fn=..."
                )
            return loss, logits, targets
        if "labels" not in batch:
            raise ValueError(f"a dict batch used with loss_fn needs a 'labels' key; it has {sorted(batch)}")
        targets = batch["labels"]
        logits = _logits(model(**{k: v for k, v in batch.items() if k != "labels"}))
        return loss_fn(logits, targets), logits, targets
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        inputs, targets = batch
        if isinstance(inputs, Mapping):
            out = model(**inputs)
        elif isinstance(inputs, (tuple, list)):
            out = model(*inputs)
        else:
            out = model(inputs)
        logits = _logits(out)
        if loss_fn is None:
            if need_loss:
                raise ValueError("tuple batches (inputs, targets) need loss_fn=..., e.g. torch.nn.functional.cross_entropy")
            return None, logits, targets
        return loss_fn(logits, targets), logits, targets
    raise TypeError(
        f"a batch must be a dict of tensors or a tuple (inputs, targets), got {type(batch).__name__}"
        + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
    )


def _field(out: Any, name: str) -> Any:
    return out.get(name) if isinstance(out, Mapping) else getattr(out, name, None)


_CONTRACT = (
    "a model trained by fit() returns a tensor of logits, or an object with .logits and, when it is given "
    "targets, .loss: tlnlp.models.Output(logits=..., loss=...) or a Hugging Face ModelOutput"
)


def _check_output(out: Any) -> None:
    """Reject outputs fit() cannot read, saying what the contract is."""
    if isinstance(out, torch.Tensor) or isinstance(out, Mapping) or hasattr(out, "logits") or hasattr(out, "loss"):
        return
    kind = type(out).__name__
    if isinstance(out, (tuple, list)):
        kind = f"a {kind} of {len(out)} items (fit cannot tell which is the loss)"
    raise TypeError(f"fit() cannot read the model's output, {kind}: {_CONTRACT}")


def _logits(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    _check_output(out)
    logits = _field(out, "logits")
    if logits is None:
        raise TypeError(f"the model output ({type(out).__name__}) has no logits: {_CONTRACT}")
    return logits


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _batch_size(batch: Any, targets: torch.Tensor | None) -> int:
    if targets is not None:
        return int(targets.shape[0])
    first = next(_tensors(batch), None)
    return 1 if first is None or first.dim() == 0 else int(first.shape[0])


def _tensors(batch: Any) -> Iterator[torch.Tensor]:
    if isinstance(batch, torch.Tensor):
        yield batch
    elif isinstance(batch, Mapping):
        for value in batch.values():
            yield from _tensors(value)
    elif isinstance(batch, (tuple, list)):
        for value in batch:
            yield from _tensors(value)


def _autocast_dtype(amp: AmpMode | bool, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``; None means fp32."""
    if amp is True:
        amp = "auto"
    if amp in (False, None, "off"):
        return None
    if amp not in ("auto", "bf16", "fp16"):
        raise ValueError(f"amp must be 'auto', 'bf16', 'fp16' or 'off', got {amp!r}")
    if device.type != "cuda":
        if amp == "auto":
            return None
        raise ValueError(f"amp={amp!r} needs a CUDA device, got {device}; use amp='auto' (fp32 on CPU) or 'off'")
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        return torch.float16
    return torch.bfloat16 if torch.cuda.get_device_capability(device)[0] >= 8 else torch.float16


def _autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)


def _module_modes(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    return [(module, module.training) for module in model.modules()]


def _restore_modes(modes: list[tuple[nn.Module, bool]]) -> None:
    for module, training in modes:
        module.training = training


def _len_or_none(loader: Iterable[Any]) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None
