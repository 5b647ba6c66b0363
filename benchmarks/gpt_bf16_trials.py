"""Does bf16 pay for nanoGPT's CPU recipe? Three ways to run the same GPT step, timed in turns.

The book's GPT (4 layers, 4 heads, 128 dimensions, context 64, batch 12, no dropout or biases,
AdamW, gradient clipping at 1.0) on tinyshakespeare characters, one plain training step each:

- ``fp32``: everything in fp32 (what ``fit`` runs for this model on a CPU whose probe measures
  bf16 below 1.25×);
- ``bf16 autocast``: fp32 weights, matmuls cast to bf16 on every step (what ``amp="bf16"`` runs);
- ``bf16 weights + fp32 master``: the model itself held in bf16, so there are no per-step casts of
  weights; AdamW updates fp32 master copies, which are copied back into the bf16 weights after
  each step (the usual mixed-precision recipe without autocast).

The three run in turns (``--rounds`` rounds of ``--steps`` steps each, after a warm-up), so that a
drift in the machine's speed hits all three alike; the median step time of each is printed with
its ratio to fp32. A measurement, not a test: run it under the heavy-run lock::

    TLNLP_DATA_DIR=../shared/data flock /tmp/tlnlp-heavy.lock .venv/bin/python benchmarks/gpt_bf16_trials.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from tlnlp.data import load_tinyshakespeare
from tlnlp.lm import get_batch, split_train_val
from tlnlp.models.gpt import GPT, GPTConfig
from tlnlp.precision import cpu_bf16_kernels, cpu_name
from tlnlp.text.tokenizers import CharTokenizer


def make_steps(config: GPTConfig, data: torch.Tensor, block: int, batch: int) -> dict[str, Callable[[], float]]:
    """One step function per way of running it, each on its own model built from the same seed."""
    generator = torch.Generator().manual_seed(0)

    def model() -> GPT:
        torch.manual_seed(0)
        return GPT(config)

    def plain(autocast: bool) -> Callable[[], float]:
        net = model()
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.1)

        def step() -> float:
            x, y = get_batch(data, block, batch, generator=generator)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = net(x, y).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return float(loss.detach())

        return step

    def bf16_weights() -> Callable[[], float]:
        net = model()
        master = [p.detach().clone() for p in net.parameters()]  # fp32 copies that AdamW updates
        net.to(torch.bfloat16)
        weights = list(net.parameters())
        optimizer = torch.optim.AdamW(master, lr=1e-3, weight_decay=0.1)

        def step() -> float:
            x, y = get_batch(data, block, batch, generator=generator)
            loss = net(x, y).loss.float()
            loss.backward()
            for m, w in zip(master, weights):
                m.grad = w.grad.float()
                w.grad = None
            torch.nn.utils.clip_grad_norm_(master, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                torch._foreach_copy_(weights, master)
            return float(loss.detach())

        return step

    return {"fp32": plain(False), "bf16 autocast": plain(True), "bf16 weights + fp32 master": bf16_weights()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=25, help="timed steps per way per round")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--n-embd", type=int, default=128, help="width (the recipe's 128; try 384 to see bf16 pay)")
    args = parser.parse_args()
    if not cpu_bf16_kernels():
        parser.error(f"this CPU ({cpu_name()}) has no native bf16 kernels: bf16 would be emulated, nothing to measure")

    text = load_tinyshakespeare()
    tokenizer = CharTokenizer.from_text(text)
    train, _ = split_train_val(tokenizer.pack([text]))
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=args.n_embd, dropout=0.0, bias=False)
    steps = make_steps(config, train, block=64, batch=12)
    times: dict[str, list[float]] = {name: [] for name in steps}
    last_loss: dict[str, float] = {}
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    for _ in range(args.rounds):
        for name, step in steps.items():
            for _ in range(args.steps):
                start = time.perf_counter()
                last_loss[name] = step()
                times[name].append(time.perf_counter() - start)
    print(f"GPT {config.n_layer} layers, {config.n_embd} dims, context 64, batch 12; {args.rounds} rounds x {args.steps} steps in turns; "
          f"{cpu_name()}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}")
    fp32 = statistics.median(times["fp32"])
    print(f"{'way':>28} | median ms/step | speed vs fp32 | loss after {args.warmup + args.rounds * args.steps} steps")
    for name, values in times.items():
        ms = statistics.median(values)
        print(f"{name:>28} | {1000 * ms:14.1f} | {fp32 / ms:12.2f}x | {last_loss[name]:.3f}")


if __name__ == "__main__":
    main()
