"""Training throughput of tlnlp's GPT on nanoGPT's CPU Shakespeare configuration.

Measures full optimizer steps (batch sampling, forward, backward, gradient clipping, AdamW,
learning-rate schedule) of the character-level tinyshakespeare model from nanoGPT's README:
4 layers, 4 heads, 128 dimensions, context 64, batch 12, no dropout, no biases. The steps are
the book's own: :func:`tlnlp.recipes.gpt.train_lm` (that is, :func:`tlnlp.train.fit`) with
evaluation off and a record after every step, whose ``seconds`` is the wall time of that step
through the loop, bookkeeping included. The first ``--warmup`` steps are run but not timed
(allocator and kernel warm-up). It prints tokens/s and ms/iteration so the
numbers can be put side by side with another implementation run on the same machine (for
nanoGPT: ``python train.py config/train_shakespeare_char.py --device=cpu --compile=False
--eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4
--n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0``, whose log prints the
time per iteration).

This is a measurement, not a test. On a shared machine run it under the heavy-run lock::

    TLNLP_DATA_DIR=../shared/data flock /tmp/tlnlp-heavy.lock \\
        .venv/bin/python benchmarks/gpt_throughput.py --iters 200 --warmup 20
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from tlnlp.config import device as default_device
from tlnlp.data import load_tinyshakespeare
from tlnlp.lm import split_train_val
from tlnlp.models.gpt import GPT, GPTConfig
from tlnlp.recipes.gpt import LMTrainConfig, train_lm
from tlnlp.text.tokenizers import CharTokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=200, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--attention", choices=("sdpa", "manual"), default="sdpa")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--device", default=None, help="default: tlnlp.config.device()")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args()
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
    history = train_lm(model, train_data, None, recipe, progress=False, device=device)
    wall_ms = 1000 * (time.perf_counter() - start) / recipe.max_iters
    step_ms = [1000 * record["seconds"] for record in history.records[args.warmup :]]

    tokens_per_step = recipe.batch_size * recipe.block_size
    mean_ms = statistics.fmean(step_ms)
    result = {
        "implementation": f"tlnlp GPT ({args.attention})",
        "params_non_embedding": model.num_params(),
        "tokens_per_step": tokens_per_step,
        "timed_steps": args.iters,
        "warmup_steps": args.warmup,
        "ms_per_iter_mean": round(mean_ms, 2),
        "ms_per_iter_median": round(statistics.median(step_ms), 2),
        "tokens_per_s": round(1000 * tokens_per_step / mean_ms, 1),
        "ms_per_iter_whole_call": round(wall_ms, 2),
        "final_train_batch_loss": round(history.step_losses[-1], 4),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    print(
        f"{result['implementation']}: {result['tokens_per_s']:,.0f} tokens/s, "
        f"{result['ms_per_iter_mean']:.1f} ms/iter mean ({result['ms_per_iter_median']:.1f} median) "
        f"over {args.iters} steps after {args.warmup} warm-up steps ({wall_ms:.1f} ms/iter over the whole train_lm call); "
        f"{config.n_layer} layers, {config.n_head} heads, {config.n_embd} dims, context {recipe.block_size}, "
        f"batch {recipe.batch_size}, {result['params_non_embedding'] / 1e6:.2f} M non-embedding params, "
        f"{device}, {result['threads']} threads, torch {torch.__version__}"
    )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
