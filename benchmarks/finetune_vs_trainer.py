"""Fine-tuning throughput: tlnlp's loop against Hugging Face ``Trainer``, same job.

All loops fine-tune the same model (all-MiniLM-L6-v2 + :class:`tlnlp.models.Classifier`,
every parameter trainable) on the same SST-2 training sentences, tokenised once up front
(max 64 tokens), with the same batch size, number of steps, seed, learning rate, linear
schedule with 10 % warm-up, AdamW (weight decay 0.01) and gradient clipping at 1.0:

- **tlnlp (defaults)**: :func:`tlnlp.train.fit` as a user calls it, fed by
  :func:`tlnlp.transfer.make_loader` (length-bucketed batches, padded to the batch maximum),
  ``amp="auto"``: bf16 autocast where a probe measures it faster on this CPU
  (:mod:`tlnlp.precision`), else fp32;
- **tlnlp (fp32)**: the same with ``amp="off"``, to show what the precision choice is worth;
- **Trainer (defaults)**: ``TrainingArguments`` left at its defaults for the loop: random
  batches, fp32, dynamic padding with ``DataCollatorWithPadding``;
- **Trainer (best CPU)**: its best CPU settings: ``train_sampling_strategy="group_by_length"``
  (transformers 5's name for ``group_by_length=True``), ``bf16=True`` where this CPU has bf16
  kernels, and with ``--trainer-compile`` also ``torch_compile=True``.

Every Trainer run has no evaluation, saving or logging during training,
``dataloader_num_workers=0`` (2 cores), no pinned memory and its default fused AdamW. All run
in the same process, so with the same number of torch threads. Timed: the training call alone
(``fit(...)`` / ``trainer.train()``), after one untimed warm-up run of each, repeated
``--repeats`` times in turns, on a fresh copy of the pretrained weights each time. Every final
model is scored on the full SST-2 dev set (872 sentences) by the same function, in fp32. It
prints sentences/s, the ratios and the accuracies, then the token slots each loader makes the
model compute in one epoch (real tokens + padding), then the floating-point work of an epoch
(forward + backward matrix multiplications, counted by ``torch.utils.flop_counter``) and the
rate each loop achieved against this machine's fp32 and bf16 matmul peaks at the model's
shapes; with ``--profile-steps N`` a ``torch.profiler`` summary of N steps of tlnlp's and
Trainer's best. Run it under the heavy-run lock so a neighbour's job does not skew the timings
(about 8 minutes on 2 cores)::

    TLNLP_DATA_DIR=../shared/data flock /tmp/tlnlp-heavy.lock \\
        .venv/bin/python benchmarks/finetune_vs_trainer.py
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import statistics
import tempfile
import time
import warnings
from typing import Any, Callable

import torch

from tlnlp.data import load_sst2, sample_labelled
from tlnlp.models import load_encoder
from tlnlp.optim import decay_groups
from tlnlp.precision import cpu_bf16_kernels, cpu_name, matmul_peak
from tlnlp.train import accuracy, evaluate, fit
from tlnlp.models import Classifier
from tlnlp.transfer import TokenizedDataset, make_loader, tokenize


def build_model(pretrained: torch.nn.Module, seed: int) -> Classifier:
    """A fresh classifier: a copy of the pretrained encoder and a head initialised from ``seed``."""
    torch.manual_seed(seed)
    return Classifier(copy.deepcopy(pretrained), num_labels=2)


def linear_warmup(optimizer: torch.optim.Optimizer, total_steps: int, warmup_ratio: float) -> Any:
    from transformers import get_linear_schedule_with_warmup

    return get_linear_schedule_with_warmup(optimizer, int(warmup_ratio * total_steps + 0.999), total_steps)


def run_tlnlp(model: Classifier, data: TokenizedDataset, args: argparse.Namespace, pad_id: int, amp: str = "auto") -> float:
    loader = make_loader(data, args.batch_size, shuffle=True, pad_token_id=pad_id)
    optimizer = torch.optim.AdamW(
        decay_groups(model, args.weight_decay),  # on BERT, exactly Trainer's no-decay names (bias, LayerNorm)
        lr=args.lr,
        fused=True,  # one kernel per step over all parameters, as Trainer's default "adamw_torch_fused"
    )
    steps = args.epochs * len(loader)
    start = time.perf_counter()
    history = fit(model, loader, optimizer=optimizer, scheduler=linear_warmup(optimizer, steps, 0.1), epochs=args.epochs,
                  grad_clip=1.0, progress=False, seed=args.seed, device="cpu", amp=amp)
    PRECISION[f"tlnlp (amp={amp})"] = history.precision
    return time.perf_counter() - start


PRECISION: dict[str, str] = {}
"""What each tlnlp run trained in (its history's ``precision``)."""


def padded_tokens(loader: Any) -> tuple[int, int]:
    """(token slots computed, real tokens) over one pass of ``loader``: the padding each pays for."""
    slots = real = 0
    for batch in loader:
        slots += batch["input_ids"].numel()
        real += int(batch["attention_mask"].sum())
    return slots, real


class TrainingFlops:
    """Floating-point operations of one forward + backward pass, counted by ``torch.utils.flop_counter``.

    The count depends only on a batch's shape, so each shape is run once (on real
    tensors) and remembered. Matrix multiplications and attention are counted; the
    element-wise work (GELU, LayerNorm, dropout, the optimizer) is not, so the rates it
    gives are a lower bound on the arithmetic done.
    """

    def __init__(self, model: Classifier) -> None:
        self.model = model
        self._by_shape: dict[tuple[int, ...], int] = {}

    def batch(self, batch: dict[str, torch.Tensor]) -> int:
        from torch.utils.flop_counter import FlopCounterMode

        shape = tuple(batch["input_ids"].shape)
        if shape not in self._by_shape:
            counter = FlopCounterMode(display=False)
            with counter:
                self.model(**batch).loss.backward()
            self.model.zero_grad(set_to_none=True)
            self._by_shape[shape] = counter.get_total_flops()
        return self._by_shape[shape]

    def epoch(self, loader: Any) -> int:
        """FLOPs of one pass over ``loader``, padding included."""
        return sum(self.batch(batch) for batch in loader)

    def unpadded(self, data: TokenizedDataset) -> int:
        """FLOPs if every sentence were computed alone at its own length: no padding at all."""
        return sum(self.batch(_single(data[i])) for i in range(len(data)))


def _single(example: dict[str, Any]) -> dict[str, torch.Tensor]:
    ids = torch.tensor([example["input_ids"]])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([example["labels"]])}


def make_trainer(
    model: Classifier, data: TokenizedDataset, args: argparse.Namespace, tokenizer: Any, sampling: str, out: str,
    bf16: bool = False, compile: bool = False,
) -> Any:
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    training_args = TrainingArguments(
        output_dir=out,
        per_device_train_batch_size=args.batch_size,
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        warmup_steps=0.1,  # a float < 1 is a ratio of the total steps
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        train_sampling_strategy=sampling,
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        use_cpu=True,
        seed=args.seed,
        data_seed=args.seed,
        bf16=bf16,
        torch_compile=compile,
    )
    return Trainer(
        model=model,
        args=training_args,
        train_dataset=data,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
    )


def run_trainer(
    model: Classifier, data: TokenizedDataset, args: argparse.Namespace, tokenizer: Any, sampling: str,
    bf16: bool = False, compile: bool = False,
) -> float:
    with tempfile.TemporaryDirectory() as out:
        trainer = make_trainer(model, data, args, tokenizer, sampling, out, bf16=bf16, compile=compile)
        start = time.perf_counter()
        trainer.train()
        return time.perf_counter() - start


def profile(name: str, run: Callable[[], Any], rows: int = 8) -> None:
    """Run ``run()`` under ``torch.profiler`` and print where its CPU time goes."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    start = time.perf_counter()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    wall = time.perf_counter() - start
    events = prof.key_averages()
    print(f"\n--- profile: {name}: {wall:.1f} s wall (profiler on); top ops by self CPU time")
    print(events.table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=40))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=2000, help="SST-2 training sentences")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each, in turns")
    parser.add_argument("--trainer-compile", action="store_true",
                        help="add torch_compile=True to Trainer's best settings (compiles once per run)")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    parser.add_argument("--profile-steps", type=int, default=0,
                        help="after the timings, profile this many training steps of each (torch.profiler)")
    args = parser.parse_args()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    fast_bf16 = cpu_bf16_kernels()

    train, dev = load_sst2("train"), load_sst2("dev")
    subset = train.subset(sample_labelled(train.labels, args.n_train, seed=args.seed))
    encoder = load_encoder("minilm", device="cpu")
    tokenizer = encoder.tokenizer
    data = tokenize(tokenizer, subset.texts, subset.labels, max_length=args.max_length)
    dev_loader = make_loader(tokenize(tokenizer, dev.texts, dev.labels, max_length=args.max_length), 128,
                             shuffle=False, pad_token_id=tokenizer.pad_token_id)
    best = "Trainer (best CPU)"
    runners: dict[str, Callable[[Classifier, TokenizedDataset, argparse.Namespace], float]] = {
        "tlnlp (defaults)": lambda m, d, a: run_tlnlp(m, d, a, tokenizer.pad_token_id),
        "tlnlp (fp32)": lambda m, d, a: run_tlnlp(m, d, a, tokenizer.pad_token_id, amp="off"),
        "Trainer (defaults)": lambda m, d, a: run_trainer(m, d, a, tokenizer, "random"),
        best: lambda m, d, a: run_trainer(m, d, a, tokenizer, "group_by_length", bf16=fast_bf16, compile=args.trainer_compile),
    }
    settings = f"group_by_length{', bf16' if fast_bf16 else ' (no bf16: this CPU has no bf16 kernels)'}" + (
        ", torch_compile" if args.trainer_compile else "")
    print(f"{best}: {settings}", flush=True)
    # Untimed warm-up of each (first-call costs: kernels, allocator, Trainer's imports and set-up, the precision probe).
    warm = argparse.Namespace(**{**vars(args), "n_train": 2 * args.batch_size, "epochs": 1})
    for run in runners.values():
        run(build_model(encoder.model, args.seed), data.subset(range(warm.n_train)), warm)
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    accuracies: dict[str, list[float]] = {name: [] for name in runners}
    for repeat in range(args.repeats):
        for name, run in runners.items():
            model = build_model(encoder.model, args.seed)
            seconds[name].append(run(model, data, args))
            accuracies[name].append(evaluate(model, dev_loader, metrics={"accuracy": accuracy}, device="cpu", amp="off")["accuracy"])
            print(f"run {repeat + 1} {name:>20}: {args.n_train * args.epochs / seconds[name][-1]:6.1f} sentences/s, "
                  f"dev accuracy {accuracies[name][-1]:.4f}", flush=True)

    rate = {name: args.n_train * args.epochs / statistics.median(s) for name, s in seconds.items()}
    print(f"\n{args.n_train} SST-2 sentences x {args.epochs} epoch(s), batch {args.batch_size}, lr {args.lr}, "
          f"seed {args.seed}; torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu_name()} "
          f"({torch.backends.cpu.get_cpu_capability()}, bf16 kernels: {'yes' if fast_bf16 else 'no'}); "
          f"tlnlp's defaults trained in {PRECISION.get('tlnlp (amp=auto)', '?')}")
    print(f"{'loop':>20} | sentences/s | dev accuracy (mean; runs)")
    for name in runners:
        print(f"{name:>20} | {rate[name]:11.1f} | {statistics.mean(accuracies[name]):.4f}; "
              f"{', '.join(f'{a:.4f}' for a in accuracies[name])}")
    for other in ("Trainer (defaults)", best, "tlnlp (fp32)"):
        print(f"ratio: tlnlp (defaults) / {other} = {rate['tlnlp (defaults)'] / rate[other]:.2f}x")

    # Where a difference comes from: token slots each loader makes the model compute (one epoch,
    # counted after the timed runs on loaders of their own, so the timings' random draws are untouched).
    torch.manual_seed(args.seed)
    tlnlp_loader = make_loader(data, args.batch_size, shuffle=True, pad_token_id=tokenizer.pad_token_id)
    loaders = {"tlnlp (defaults)": tlnlp_loader, "tlnlp (fp32)": tlnlp_loader}
    with tempfile.TemporaryDirectory() as out:
        for name, sampling in [("Trainer (defaults)", "random"), (best, "group_by_length")]:
            trainer = make_trainer(build_model(encoder.model, args.seed), data, args, tokenizer, sampling, out)
            loaders[name] = trainer.get_train_dataloader()
        slots = {name: padded_tokens(loader) for name, loader in loaders.items()}
    print()
    for name, (n_slots, n_real) in slots.items():
        print(f"{name:>20}: {n_slots:,} token slots per epoch for {n_real:,} real tokens "
              f"({1 - n_real / n_slots:.1%} padding); {n_slots * args.epochs / statistics.median(seconds[name]):,.0f} slots/s")

    # How close each loop runs to the machine's limits: matmul work per second against the fp32 and bf16 peaks.
    counter = TrainingFlops(build_model(encoder.model, args.seed))
    flops = {name: counter.epoch(loader) * args.epochs for name, loader in loaders.items()}
    peak32 = matmul_peak(counter.model, rows=640)  # a batch of 32 sentences of 20 tokens
    peak16 = matmul_peak(counter.model, rows=640, dtype=torch.bfloat16) if fast_bf16 else float("nan")
    achieved = {name: flops[name] / statistics.median(seconds[name]) / 1e9 for name in flops}
    print(f"\nmatmul peak of this machine at the model's shapes: fp32 {peak32:.0f} GFLOP/s, bf16 {peak16:.0f} GFLOP/s "
          f"({torch.get_num_threads()} threads)")
    print(f"{'loop':>20} | TFLOP/epoch | GFLOP/s | of fp32 peak | of bf16 peak")
    for name in flops:
        print(f"{name:>20} | {flops[name] / 1e12:11.2f} | {achieved[name]:7.0f} | {achieved[name] / peak32:12.0%} | "
              f"{achieved[name] / peak16:12.0%}")
    if args.profile_steps:
        short = argparse.Namespace(**{**vars(args), "n_train": args.profile_steps * args.batch_size, "epochs": 1})
        part = data.subset(range(short.n_train))
        for name in ("tlnlp (defaults)", best):
            profile(name, lambda: runners[name](build_model(encoder.model, args.seed), part, short))
    if args.json:
        print(json.dumps({"sentences_per_s": rate, "accuracy": accuracies, "seconds": seconds, "token_slots": slots,
                          "flops": flops, "gemm_peak_gflops": {"fp32": peak32, "bf16": peak16},
                          "tlnlp_precision": PRECISION, "cpu": cpu_name()}))


if __name__ == "__main__":
    main()
