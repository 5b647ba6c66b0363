"""Training throughput of tlnlp's GPT on nanoGPT's CPU Shakespeare configuration, beside nanoGPT's.

Measures full optimizer steps (batch sampling, forward, backward, gradient clipping, AdamW,
learning-rate schedule) of the character-level tinyshakespeare model from nanoGPT's README:
4 layers, 4 heads, 128 dimensions, context 64, batch 12, no dropout, no biases. The steps are
the book's own: :func:`tlnlp.recipes.gpt.train_lm` (that is, :func:`tlnlp.train.fit`, with its
default ``amp="auto"``) with evaluation off and a record after every step, whose ``seconds`` is
the wall time of that step through the loop, bookkeeping included. The first ``--warmup`` steps
are run but not timed (allocator and kernel warm-up, and the precision probe).

With ``--nanogpt DIR`` (a checkout of https://github.com/karpathy/nanoGPT) it then runs
nanoGPT's own ``train.py`` as a subprocess in that folder on the same recipe and the same
machine (``--device=cpu --compile=False --dtype=float32``, fp32 as nanoGPT runs on a CPU),
parses its per-iteration times and prints both side by side with their ratio. nanoGPT's data
files are made once by its own ``data/shakespeare_char/prepare.py`` from the tinyshakespeare
text of tlnlp's data registry (no download). No nanoGPT code is copied here.

For each implementation it reports tokens/s and the matrix-multiplication work per second
(forward + backward, counted by ``torch.utils.flop_counter`` on tlnlp's model; nanoGPT's model
has the same layers) as a fraction of this machine's measured fp32 and bf16 matmul peaks at
the model's own shapes. This is a measurement, not a test. Run it under the heavy-run lock::

    TLNLP_DATA_DIR=../shared/data flock /tmp/tlnlp-heavy.lock \\
        .venv/bin/python benchmarks/gpt_throughput.py --iters 200 --warmup 20 --nanogpt ../nanoGPT
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from tlnlp.config import device as default_device
from tlnlp.data import load_tinyshakespeare
from tlnlp.lm import split_train_val
from tlnlp.models.gpt import GPT, GPTConfig
from tlnlp.precision import cpu_bf16_kernels, cpu_name, matmul_peak
from tlnlp.recipes.gpt import LMTrainConfig, train_lm
from tlnlp.text.tokenizers import CharTokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=200, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--attention", choices=("sdpa", "manual"), default="sdpa")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--device", default=None, help="default: tlnlp.config.device()")
    parser.add_argument("--amp", default="auto", choices=("auto", "off", "bf16"), help="tlnlp's precision (fit's amp=)")
    parser.add_argument("--nanogpt", type=Path, default=None, help="a nanoGPT checkout: run its train.py beside tlnlp")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args()
    if args.nanogpt is not None and not (args.nanogpt / "train.py").is_file():
        parser.error(f"--nanogpt {args.nanogpt}: no train.py there; give the folder of a nanoGPT checkout "
                     "(git clone https://github.com/karpathy/nanoGPT)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device) if args.device else default_device()

    text = load_tinyshakespeare()
    tokenizer = CharTokenizer.from_text(text)
    train_data, _ = split_train_val(tokenizer.pack([text]))
    # nanoGPT's CPU recipe (batch 12, context 64, lr 1e-3, wd 0.1, clip 1.0), a record after every step
    recipe = LMTrainConfig(max_iters=args.warmup + args.iters, warmup_iters=min(100, args.warmup + args.iters - 1), eval_interval=1)
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size,
        block_size=recipe.block_size,
        n_layer=4,
        n_head=4,
        n_embd=128,
        dropout=0.0,
        bias=False,
        attention=args.attention,
    )
    torch.manual_seed(0)
    model = GPT(config).to(device)
    start = time.perf_counter()
    history = train_lm(model, train_data, None, recipe, progress=False, device=device, amp=args.amp)
    wall_ms = 1000 * (time.perf_counter() - start) / recipe.max_iters
    step_ms = [1000 * record["seconds"] for record in history.records[args.warmup :]]

    tokens_per_step = recipe.batch_size * recipe.block_size
    rows = {
        f"tlnlp GPT ({args.attention}, {history.precision})": {
            "ms_per_iter": statistics.fmean(step_ms), "median_ms": statistics.median(step_ms),
            "final_loss": history.step_losses[-1],
        }
    }
    if args.nanogpt is not None:
        nano_ms, nano_loss = run_nanogpt(args.nanogpt, text, args.warmup, args.iters)
        rows["nanoGPT train.py (fp32)"] = {"ms_per_iter": statistics.fmean(nano_ms), "median_ms": statistics.median(nano_ms), "final_loss": nano_loss}

    flops = step_flops(model, recipe.batch_size, recipe.block_size, device)
    peak32 = matmul_peak(model, recipe.batch_size * recipe.block_size, torch.float32)
    peak16 = matmul_peak(model, recipe.batch_size * recipe.block_size, torch.bfloat16) if cpu_bf16_kernels() else float("nan")
    print(f"{config.n_layer} layers, {config.n_head} heads, {config.n_embd} dims, context {recipe.block_size}, batch {recipe.batch_size}; "
          f"{model.num_params() / 1e6:.2f} M non-embedding params; {args.iters} timed steps after {args.warmup} warm-up steps; "
          f"{cpu_name()}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}")
    print(f"matmul work per step (forward + backward): {flops / 1e9:.2f} GFLOP; this machine's matmul peak at the model's shapes: "
          f"fp32 {peak32:.0f} GFLOP/s, bf16 {peak16:.0f} GFLOP/s")
    print(f"{'implementation':>32} | ms/iter (mean; median) | tokens/s | GFLOP/s | of fp32 peak | of bf16 peak | last loss")
    for name, row in rows.items():
        rate = flops / row["ms_per_iter"] * 1e3 / 1e9
        row.update(tokens_per_s=1000 * tokens_per_step / row["ms_per_iter"], gflops=rate,
                   of_fp32_peak=rate / peak32, of_bf16_peak=rate / peak16)
        print(f"{name:>32} | {row['ms_per_iter']:8.1f}; {row['median_ms']:6.1f}       | {row['tokens_per_s']:8,.0f} | {rate:7.0f} | "
              f"{row['of_fp32_peak']:12.0%} | {row['of_bf16_peak']:12.0%} | {row['final_loss']:.3f}")
    if len(rows) == 2:
        (ours, a), (theirs, b) = rows.items()
        print(f"ratio: tlnlp time per iteration / nanoGPT's = {a['ms_per_iter'] / b['ms_per_iter']:.2f}x (target <= 0.6x)")
    print(f"tlnlp's whole train_lm call: {wall_ms:.1f} ms/iter (warm-up and the precision probe included)")
    if args.json:
        print(json.dumps({"rows": rows, "flops_per_step": flops, "peak_gflops": {"fp32": peak32, "bf16": peak16},
                          "cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__}))


def run_nanogpt(folder: Path, text: str, warmup: int, iters: int) -> tuple[list[float], float]:
    """nanoGPT's train.py on the same recipe: its per-iteration times (ms) after ``warmup`` and its last loss."""
    data = folder / "data" / "shakespeare_char"
    if not (data / "train.bin").is_file():  # its own preparation, on the registry's copy of the text
        (data / "input.txt").write_text(text, encoding="utf-8")
        subprocess.run([sys.executable, "prepare.py"], cwd=data, check=True, stdout=subprocess.DEVNULL)
    total = warmup + iters
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "train.py", "config/train_shakespeare_char.py", "--device=cpu", "--compile=False",
               "--dtype=float32", "--eval_iters=1", "--eval_interval=1000000", "--log_interval=1", "--block_size=64",
               "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128", "--dropout=0.0", "--bias=False",
               f"--max_iters={total}", f"--lr_decay_iters={total}", "--always_save_checkpoint=False",
               f"--out_dir={out}", "--wandb_log=False"]
        done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if done.returncode != 0:
        raise SystemExit(f"nanoGPT's train.py failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    found = [(int(i), float(loss), float(ms)) for i, loss, ms in re.findall(r"iter (\d+): loss ([\d.]+), time ([\d.]+)ms", done.stdout)]
    timed = [ms for i, _, ms in found if i >= warmup]
    if len(timed) < iters // 2:
        raise SystemExit(f"could not read nanoGPT's iteration times from its output:\n{done.stdout[-2000:]}")
    return timed, found[-1][1]


def step_flops(model: GPT, batch: int, block: int, device: torch.device) -> int:
    """Matrix-multiplication FLOPs of one forward + backward pass (``torch.utils.flop_counter``)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randint(0, model.config.vocab_size, (batch, block), device=device)
    counter = FlopCounterMode(display=False)
    with counter:
        model(input_ids=x, labels=x).loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


if __name__ == "__main__":
    main()
