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

**Beyond one machine**: the same script runs data-parallel under a launcher, unchanged::

    torchrun --nproc_per_node=2 train.py    # or: accelerate launch --multi_gpu --num_processes=2 train.py

:func:`fit` sees the launcher's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``,
initialises the process group (gloo on CPU, nccl on CUDA, ``cuda:LOCAL_RANK`` per process)
unless the caller did, trains a ``DistributedDataParallel`` wrapper of the model, gives each
rank every ``WORLD_SIZE``-th batch of one shared batch order (so a step's global batch is
``WORLD_SIZE`` local batches; see :func:`steps_per_epoch` for sizing a schedule), evaluates
on shards gathered into whole-set metrics, records the same :class:`History` on every rank,
and lets only rank 0 show progress and write the ``checkpoint``.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import os
import random
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from .cache import save_checkpoint
from .lm.metrics import NonFiniteLossError as _LossNotFinite
from .config import device as default_device
from .config import seed_everything
from . import precision

if TYPE_CHECKING:
    import pandas as pd

Metric = Callable[[torch.Tensor, torch.Tensor], float]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
AmpMode = Literal["auto", "bf16", "fp16", "off"]

_LOWER_IS_BETTER = ("loss", "perplexity", "error")
_FLUSH_EVERY = 50  # steps between two reads of the loss from the device (for the progress bar)


class NonFiniteLossError(_LossNotFinite):
    """:func:`fit` met a NaN or infinite training loss (a :class:`tlnlp.lm.NonFiniteLossError`).

    Attributes:
        step: the 1-based optimizer step whose loss was not finite.
        history: what was recorded before it (the records and step losses so far).
    """

    def __init__(self, message: str, step: int, history: "History") -> None:
        super().__init__(message)
        self.step = step
        self.history = history


_NAN_CAUSES = (
    "usual causes: a learning rate too high (lower lr=, or pass grad_clip=1.0), NaN or inf in the "
    "inputs, a batch whose targets are all ignored (-100) so that its mean loss is 0/0, or fp16 overflow "
    "(amp='bf16' or 'off'); the records so far are in the error's .history"
)


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
        precision: what the training steps ran in: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (autocast).

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
    precision: str = "fp32"

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
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_config: Any = None,
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
            float16 with a ``GradScaler`` on older ones (T4), and on a CPU bf16 autocast when
            a probe of the first batch measures it faster (:mod:`tlnlp.precision`; fp32 on CPUs
            without bf16 kernels and under a distributed launcher); ``$TLNLP_AMP`` (``auto``,
            ``off``, ``bf16``) says what ``"auto"`` means. ``"bf16"`` forces bf16 (CUDA, or a CPU
            with bf16 kernels), ``"fp16"`` float16 (CUDA only), ``"off"``/``False`` fp32. What
            ran is in the returned history's ``precision``.
        progress: show a tqdm bar per epoch.
        seed: call :func:`tlnlp.config.seed_everything` first, which fixes the shuffling
            of a ``DataLoader`` and dropout. Seed the model's initialisation yourself,
            before building it.
        eval_every: evaluate and record every this many steps instead of every epoch
            (and after the last step).
        restore_best: at the end, load the weights that had the best ``monitor`` value
            (kept as an in-memory copy of the state dict). Ignored when no record has
            ``monitor`` (e.g. no ``eval_loader`` with the default ``"eval_loss"``).
        checkpoint: a path: save the final (best, with ``restore_best``) weights there
            with :func:`tlnlp.cache.save_checkpoint`, the records of the history as its
            extra; rank 0 alone writes it under a distributed launcher.
        checkpoint_config: the checkpoint's ``config``, what rebuilds the model in
            :func:`tlnlp.cache.load_checkpoint`.

    Under a distributed launcher (see the module docstring) ``max_steps``, ``eval_every``
    and the recorded steps count global steps, each of which takes one batch on every
    process; ``seed`` also fixes the shared batch order, and dropout differs across ranks.

    Returns:
        The :class:`History` of the run (the same on every rank).

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
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip must be > 0 (a maximum gradient norm, e.g. 1.0), got {grad_clip}")
    _check_optimizer(model, optimizer)
    if isinstance(model, nn.parallel.DistributedDataParallel):
        raise TypeError("fit() got a model already wrapped in DistributedDataParallel: pass the bare module; fit wraps it itself under a launcher")
    launch = _launch()
    device = torch.device(default_device() if device is None else device)
    epoch_steps = _len_or_none(train_loader)
    if launch is not None:
        device = _rank_device(device, launch)
        epoch_steps = _sharded_len(train_loader, launch)
    if seed is not None:  # under a launcher the batch order is shared (see _shard) and dropout differs by rank
        seed_everything(seed if launch is None else seed + launch.rank)

    autocast_dtype = precision.requested_dtype(amp, device)
    if autocast_dtype is precision.PROBE and launch is not None:
        autocast_dtype = None  # every rank must take the same path; a probe per rank could disagree
    scaler = torch.amp.GradScaler("cuda") if autocast_dtype == torch.float16 else None
    modes = _module_modes(model)
    model.to(device)
    model.train()

    history = History(monitor=monitor, precision=_precision_name(autocast_dtype))
    best_value: float | None = None
    best_state: dict[str, torch.Tensor] | None = None
    bad_evals = 0
    step = 0
    pending: list[torch.Tensor] = []  # step losses not yet read from the device
    n_pending_record = 0  # steps since the last record
    n_epochs = math.ceil(max_steps / epoch_steps) if max_steps and epoch_steps else epochs
    if max_steps is not None and epoch_steps is None:
        n_epochs = max_steps  # an unsized loader: cycle until max_steps
    net: nn.Module = model  # what the training steps call: a DistributedDataParallel wrapper under a launcher
    trainable: tuple[bool, ...] = ()
    order_seed = 0
    t_last = time.perf_counter()

    def flush() -> None:
        losses = torch.stack(pending).float()
        if launch is not None:  # the global batch's loss: the mean of the ranks' (equal-sized) batch means
            dist.all_reduce(losses)
            losses /= launch.world
        values = losses.cpu().tolist()
        first_step = step - len(values) + 1
        history.step_losses.extend(values)
        pending.clear()
        bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
        if bad:  # only on accelerators and under a launcher; on one CPU _train_step checks every step
            at = first_step + bad[0]
            raise NonFiniteLossError(
                f"fit: the training loss was {values[bad[0]]} at step {at}; the weights were updated "
                f"with it and are no longer valid: rebuild the model (or reload a checkpoint); {_NAN_CAUSES}",
                at, history,
            )

    def record(epoch: int) -> bool:
        """Write a record; return True when training should stop early."""
        nonlocal best_value, best_state, bad_evals, n_pending_record, t_last
        if pending:
            flush()
        row: dict[str, Any] = {"epoch": epoch, "step": step}
        if n_pending_record:
            row["train_loss"] = sum(history.step_losses[-n_pending_record:]) / n_pending_record
        row["lr"] = optimizer.param_groups[0]["lr"]
        if eval_loader is not None:
            if launch is None:
                scores = evaluate(model, eval_loader, metrics=metrics, loss_fn=loss_fn, device=device, amp=amp)
            else:
                parts = _evaluate_parts(model, _shard(eval_loader, launch, order_seed, whole_groups=False), metrics, loss_fn, device, amp)
                scores = _scores(_gather_parts(parts, launch.world), metrics)
            row.update({f"eval_{k}": v for k, v in scores.items()})
        row["seconds"] = time.perf_counter() - t_last
        if launch is not None:  # rank 0's record everywhere, so every rank stops and restores alike
            shared = [row]
            dist.broadcast_object_list(shared, src=0)
            row = shared[0]
        history.records.append(row)
        n_pending_record = 0
        t_last = time.perf_counter()
        if monitor not in row:
            if patience is not None or monitor != "eval_loss":
                raise KeyError(f"monitor {monitor!r} is not recorded; recorded keys: {sorted(row)}: pass one of them as monitor=")
            if eval_loader is not None and restore_best and len(history.records) == 1:
                warnings.warn(
                    f"fit: restore_best is off because 'eval_loss' is not recorded (the model computes no loss "
                    f"on eval_loader); recorded keys: {sorted(row)}: pass one of them as monitor=",
                    stacklevel=3,
                )
            return False
        value = row[monitor]
        if not math.isfinite(value):  # a NaN would stay "best" forever: NaN compares False with everything
            warnings.warn(f"fit: {monitor} is {value} at step {step}; that record cannot be the best", stacklevel=3)
            bad_evals += 1
            return patience is not None and bad_evals >= patience
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
    owns_group = False
    try:
        if launch is not None:
            owns_group = _init_process_group(launch, device)
            order_seed = _shared_seed(seed)
        for epoch in range(1, n_epochs + 1):
            total = epoch_steps
            if max_steps is not None and total is not None:
                total = min(total, max_steps - step)
            batches = train_loader if launch is None else _shard(train_loader, launch, order_seed + epoch)
            show = progress and (launch is None or launch.rank == 0)
            bar = tqdm(batches, total=total, desc=f"epoch {epoch}/{n_epochs}", disable=not show, leave=False)
            for batch in bar:
                if launch is not None:
                    net, trainable = _ddp(model, net, trainable, device)
                check_now = launch is None and device.type == "cpu"  # free on CPU; elsewhere flush() checks
                if autocast_dtype is precision.PROBE:  # amp="auto" on a CPU with bf16 kernels: measure once
                    autocast_dtype = _probe(model, batch, loss_fn, device, train=True)
                    history.precision = _precision_name(autocast_dtype)
                try:
                    pending.append(_train_step(net, batch, optimizer, loss_fn, device, autocast_dtype, scaler, grad_clip, check_now))
                except _NonFinite as bad:
                    if pending:
                        flush()
                    raise NonFiniteLossError(
                        f"fit: the training loss was {bad.value} at step {step + 1} (epoch {epoch}); that step was "
                        f"not applied, so the weights are those after step {step}; {_NAN_CAUSES}",
                        step + 1, history,
                    ) from None
                if scheduler is not None:
                    scheduler.step()
                step += 1
                n_pending_record += 1
                if progress and len(pending) >= _FLUSH_EVERY:  # `progress`, not `show`: flush is collective under a launcher
                    flush()
                    recent = history.step_losses[-_FLUSH_EVERY:]
                    bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}", refresh=False)
                done = max_steps is not None and step >= max_steps
                if eval_every is not None and step % eval_every == 0:
                    stop = record(epoch)
                if stop or done:
                    break
            bar.close()
            if stop or done or step == 0:
                break
            if eval_every is None:
                stop = record(epoch)
                if stop:
                    break
        if step == 0:
            if launch is not None:
                raise ValueError(f"train_loader yielded fewer batches than the {launch.world} processes: {_TOO_SHORT}")
            raise ValueError(
                f"train_loader yielded no batches: it is empty ({type(train_loader).__name__}); check the "
                "dataset's length, and that batch_size is not larger than it with drop_last=True"
            )
        if n_pending_record:  # max_steps ended mid-epoch, or eval_every did not divide the steps
            record(epoch)
        history.stopped_early = stop
        if restore_best and best_state is not None and history.best_step != step:
            model.load_state_dict(best_state)
        if checkpoint is not None:
            if launch is None or launch.rank == 0:
                extra = {"records": history.records, "best_step": history.best_step}
                save_checkpoint(model, checkpoint, config=checkpoint_config, extra=extra)
            if launch is not None:  # the file exists on return, on every rank
                dist.barrier()
    finally:
        _restore_modes(modes)
        if owns_group:
            net = model  # the DDP wrapper holds the group: free it first, or its teardown can block
            gc.collect()
            dist.destroy_process_group()
    return history


def steps_per_epoch(loader: Iterable[Any]) -> int:
    """The optimizer steps :func:`fit` takes per pass over ``loader``.

    ``len(loader)`` in one process; under a distributed launcher every step takes one batch
    on each of the ``WORLD_SIZE`` processes, so ``len(loader) // WORLD_SIZE`` (the ragged
    tail is dropped). Size a learning-rate schedule with it, so that the same script gets
    the same schedule in one process and under ``torchrun``.

    Example:
        >>> from torch.utils.data import DataLoader
        >>> steps_per_epoch(DataLoader(range(10), batch_size=4))  # one process: 3 batches
        3
    """
    launch = _launch()
    n = _len_or_none(loader) if launch is None else _sharded_len(loader, launch)
    if n is None:
        raise TypeError(f"the loader ({type(loader).__name__}) has no len(): count its steps yourself")
    return n


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
    return _scores(_evaluate_parts(model, loader, metrics, loss_fn, device, amp), metrics)


_EvalParts = tuple[float, int, list[torch.Tensor], list[torch.Tensor]]  # loss sum, its count, logits, targets


def _evaluate_parts(
    model: nn.Module,
    loader: Iterable[Any],
    metrics: Mapping[str, Metric] | None,
    loss_fn: LossFn | None,
    device: torch.device,
    amp: AmpMode | bool,
) -> _EvalParts:
    """What :func:`evaluate` sums and concatenates over the batches, before scoring."""
    autocast_dtype = precision.requested_dtype(amp, device)
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
                if autocast_dtype is precision.PROBE:
                    autocast_dtype = _probe(model, batch, loss_fn, device, train=False)
                with precision.autocast(device, autocast_dtype):
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
    return float(loss_sum), n_loss, logits_parts, target_parts


def _scores(parts: _EvalParts, metrics: Mapping[str, Metric] | None) -> dict[str, float]:
    loss_sum, n_loss, logits_parts, target_parts = parts
    result: dict[str, float] = {}
    if n_loss:
        result["loss"] = loss_sum / n_loss
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
    check_finite: bool = False,
) -> torch.Tensor:
    """One optimizer step; returns the detached loss (still on the device: no sync).

    With ``check_finite`` a NaN/inf loss raises :class:`_NonFinite` before the weights change.
    """
    batch = _to_device(batch, device)
    with precision.autocast(device, autocast_dtype):
        loss, _, _ = _forward(model, batch, loss_fn, need_loss=True)
    if loss.numel() != 1:
        raise ValueError(
            f"the training loss must be one number, got a tensor of shape {tuple(loss.shape)}: "
            "reduce it (a loss_fn with reduction='mean')"
        )
    if check_finite and not torch.isfinite(loss).item():
        raise _NonFinite(float(loss.detach()))
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


class _NonFinite(Exception):
    def __init__(self, value: float) -> None:
        self.value = value


def _check_optimizer(model: nn.Module, optimizer: Any) -> None:
    """Refuse an optimizer that would train nothing of ``model`` (a silent no-op otherwise)."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}: e.g. "
            "torch.optim.AdamW(model.parameters(), lr=1e-3), or the one tlnlp.transfer.configure returns"
        )
    own = {id(p) for p in model.parameters()}
    held = [p for group in optimizer.param_groups for p in group["params"]]
    if not any(id(p) in own for p in held):
        raise ValueError(
            "the optimizer holds none of the model's parameters, so fit() would train nothing: build it on "
            "this model's parameters (with tlnlp.transfer.configure, train the model it returns: it may be a new one)"
        )
    if not any(p.requires_grad for p in held if id(p) in own):
        raise ValueError(
            "every parameter the optimizer holds is frozen (requires_grad=False): unfreeze some, "
            "e.g. with tlnlp.transfer.configure(model, 'probe' | 'full' | ...)"
        )


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


def _precision_name(dtype: Any) -> str:
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")


def _probe(model: nn.Module, batch: Any, loss_fn: LossFn | None, device: torch.device, train: bool) -> torch.dtype | None:
    """bf16 or fp32 for ``model`` on batches like ``batch``: measured once on a throw-away copy, then cached.

    Training is probed as forward + backward (what autocast changes; the optimizer's step is
    the same in both), evaluation as a forward pass under ``inference_mode``. The copy, and the
    saved random states, leave the model, its loss module and the seeds exactly as they were.
    """
    kind = "train" if train else "eval"
    key = precision.shape_key(kind, model)
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    what = f"{type(model).__name__} ({params / 1e6:.2f} M params" + (f", {trainable / 1e6:.2f} M trained)" if train else ", evaluation)")

    def measure() -> float:
        try:
            copy_model, copy_loss = precision.throwaway_copy(model, loss_fn)
        except Exception as err:  # an object deepcopy cannot handle: no probe, no change of behaviour
            warnings.warn(f"fit: cannot copy {type(model).__name__} to probe bf16 ({err}); fp32 (set amp='bf16' to force it)", stacklevel=4)
            return 0.0
        copy_model.train(train)
        batch_dev = _to_device(batch, device)

        def run(dtype: torch.dtype | None) -> None:
            with precision.autocast(device, dtype):
                if train:
                    loss, _, _ = _forward(copy_model, batch_dev, copy_loss, need_loss=True)
                else:
                    with torch.inference_mode():
                        _forward(copy_model, batch_dev, copy_loss, need_loss=False)
            if train:
                loss.backward()
                copy_model.zero_grad(set_to_none=True)

        with precision.preserved_rng():
            return precision.probe_speedup(run)

    return precision.decide(key, measure, what=what)


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


# --- beyond one machine -------------------------------------------------------------------

_TOO_SHORT = "every process needs a batch at every step; use a smaller batch_size or fewer processes (--nproc_per_node)"
_END = object()


@dataclass(frozen=True)
class _Launch:
    """This process's place in a distributed launch."""

    rank: int
    world: int
    local_rank: int


def _launch() -> _Launch | None:
    """The launch this process is part of (None for a single process).

    A process group the caller initialised wins; otherwise the environment that torchrun and
    ``accelerate launch`` set (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``PORT``).
    """
    env_world = os.environ.get("WORLD_SIZE")
    if dist.is_available() and dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
        if env_world is not None and int(env_world) != world:
            raise RuntimeError(
                f"this process was launched with WORLD_SIZE={env_world}, but the process group already "
                f"initialised has {world} process(es): initialise it with "
                "world_size=int(os.environ['WORLD_SIZE']) (or leave it to fit), or launch "
                f"--nproc_per_node={world}"
            )
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
    elif env_world is not None and int(env_world) > 1:
        missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise RuntimeError(
                f"WORLD_SIZE={env_world} is set but {', '.join(missing)} not: start the processes with "
                "torchrun or accelerate launch, which set them all"
            )
        world, rank = int(env_world), int(os.environ["RANK"])
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        if not dist.is_available():
            raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    else:
        return None
    return _Launch(rank, world, local_rank) if world > 1 else None


def _rank_device(device: torch.device, launch: _Launch) -> torch.device:
    """One GPU per process: an unnumbered CUDA device becomes ``cuda:LOCAL_RANK``."""
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", launch.local_rank)
        torch.cuda.set_device(device)  # nccl's collectives use the current device
    return device


_GROUPS_MADE = itertools.count()  # the same sequence on every rank: each makes the same calls of fit


def _init_process_group(launch: _Launch, device: torch.device) -> bool:
    """Initialise the default process group unless the caller did; True when this call did.

    Each group fit makes gets its own prefix in the launcher's store: torch names every
    default group alike, so when a script calls fit twice, a rank quicker to start the
    second group would read a peer's address from the first, now closed ("Connection refused").
    """
    if dist.is_initialized():
        return False
    store, _, _ = next(dist.rendezvous("env://", launch.rank, launch.world))
    store = dist.PrefixStore(f"tlnlp.fit/{next(_GROUPS_MADE)}", store)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, store=store, rank=launch.rank, world_size=launch.world)
    return True


def _shared_seed(seed: int | None) -> int:
    """The seed of the shared batch order: ``seed``, or one drawn by rank 0 and sent to all."""
    if seed is not None:
        return seed
    drawn = [int(torch.randint(2**31 - 1, ()).item())]
    dist.broadcast_object_list(drawn, src=0)
    return drawn[0]


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed the CPU generators of torch, NumPy and Python, and give back their states after."""
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):  # CPU only: CUDA generators (dropout) stay each rank's own
        torch.default_generator.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


def _shard(loader: Iterable[Any], launch: _Launch, seed: int, whole_groups: bool = True) -> Iterator[Any]:
    """This rank's batches of one pass over ``loader``: batch ``i`` goes to rank ``i % world``.

    Why this rather than a ``DistributedSampler``: it shards every loader the book builds
    unchanged -- a ``DataLoader`` with ``shuffle``, tlnlp's length-bucketed ``make_loader``
    (a ``batch_sampler``), any iterable -- and a step's ``world`` batches are ``world``
    consecutive batches of one order, i.e. exactly one batch of a single-process loader
    with ``world`` times the batch size. The price: each rank also collates the batches it
    skips, small next to their forward and backward passes.

    Every rank must draw the same order, so the loader draws it (samplers draw at the first
    batch) from generators seeded alike, whatever dropout consumed; each rank's own random
    state is given back for training. With ``whole_groups`` a last group of fewer than
    ``world`` batches is dropped, so every rank takes the same number of steps.
    """
    with _seeded(seed):
        iterator = iter(loader)
        first = next(iterator, _END)
    if first is _END:
        return
    batches = itertools.chain([first], iterator)
    if not whole_groups:
        yield from itertools.islice(batches, launch.rank, None, launch.world)
        return
    mine = None
    for i, batch in enumerate(batches):
        if i % launch.world == launch.rank:
            mine = batch
        if i % launch.world == launch.world - 1:
            yield mine


def _sharded_len(loader: Iterable[Any], launch: _Launch) -> int | None:
    """Steps per pass over ``loader`` under ``launch`` (None if unsized); refuses a loader too short."""
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, torch.utils.data.DistributedSampler):
        raise ValueError("fit() shards the batches itself under a launcher: give it the loader without a DistributedSampler")
    n = _len_or_none(loader)
    if n is not None and n < launch.world:
        raise ValueError(f"train_loader gives {n} batch(es) per epoch, fewer than the {launch.world} processes: {_TOO_SHORT}")
    return None if n is None else n // launch.world


def _ddp(model: nn.Module, wrapper: nn.Module, trainable: tuple[bool, ...], device: torch.device) -> tuple[nn.Module, tuple[bool, ...]]:
    """The DDP wrapper of ``model`` for the next step, rebuilt when the trainable parameters changed.

    DDP fixes the parameters it averages when it is built, and gradual unfreezing turns more
    on as training goes; it also broadcasts rank 0's weights, so every rank starts alike.
    ``static_graph``: a trainable parameter outside the loss (a body's pooler under
    ``Classifier(pool="mean")``) gets no gradient, which DDP would otherwise wait for; a
    static graph learns which ones at the first step, where ``find_unused_parameters`` would
    search the graph at every step (and warn on every rank when it finds none).
    """
    now = tuple(p.requires_grad for p in model.parameters())
    if wrapper is not model and now == trainable:
        return wrapper, trainable
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, static_graph=True), now


def _gather_parts(parts: _EvalParts, world: int) -> _EvalParts:
    """Every rank's evaluation parts, joined (the metrics then see the whole evaluation set)."""
    loss_sum, n_loss, logits, targets = parts
    mine = (loss_sum, n_loss, [t.cpu() for t in logits], [t.cpu() for t in targets])
    everyone: list[Any] = [None] * world
    dist.all_gather_object(everyone, mine)
    return (
        sum(p[0] for p in everyone),
        sum(p[1] for p in everyone),
        [t for p in everyone for t in p[2]],
        [t for p in everyone for t in p[3]],
    )
