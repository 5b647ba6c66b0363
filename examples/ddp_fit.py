"""Train with tlnlp.train.fit on several processes: the same script, started by a launcher.

    python examples/ddp_fit.py                                             # one process
    torchrun --nproc_per_node=2 examples/ddp_fit.py                        # two processes, DDP
    accelerate launch --multi_gpu --num_processes=2 examples/ddp_fit.py    # the same via accelerate
                                                                           # (its multi-process mode, CPU too)

Nothing below knows about the launcher: ``fit`` reads it from the environment, shards the
batches (each step takes one batch per process, so the global batch is 2 x 16 under two
processes), averages the gradients, and lets rank 0 alone draw the progress bar and write
the checkpoint. ``steps_per_epoch`` sizes the schedule for whichever run it is. On CPU the
processes talk through gloo; on a machine with GPUs each takes ``cuda:LOCAL_RANK`` (nccl).

The task is synthetic, so the script runs offline in seconds: a text is positive when it
holds token 7.
"""

from __future__ import annotations

import os
import tempfile

import torch
from torch import nn

from tlnlp.models import Classifier
from tlnlp.train import accuracy, fit, steps_per_epoch
from tlnlp.transfer import TokenizedDataset, configure, make_loader


def texts(n: int, seed: int) -> TokenizedDataset:
    g = torch.Generator().manual_seed(seed)
    ids = [torch.randint(8, 100, (int(torch.randint(4, 20, (), generator=g)),), generator=g) for _ in range(n)]
    labels = [i % 2 for i in range(n)]
    for seq, label in zip(ids, labels):
        if label:
            seq[int(torch.randint(len(seq), (), generator=g))] = 7
    return TokenizedDataset([seq.tolist() for seq in ids], labels)


def main() -> None:
    torch.manual_seed(0)
    train = make_loader(texts(512, 0), batch_size=16, shuffle=True, pad_token_id=0)
    valid = make_loader(texts(200, 1), batch_size=50, shuffle=False, pad_token_id=0)
    model = Classifier(nn.Embedding(100, 32, padding_idx=0), num_labels=2, pool="max", dropout=0.1)
    epochs = 6
    setup = configure(model, "full", lr=3e-2, total_steps=epochs * steps_per_epoch(train))
    path = os.path.join(tempfile.gettempdir(), "tlnlp-ddp-example.safetensors")
    history = fit(
        setup.model, train, optimizer=setup.optimizer, scheduler=setup.scheduler, epochs=epochs,
        eval_loader=valid, metrics={"accuracy": accuracy}, seed=0,
        checkpoint=path, checkpoint_config={"vocab": 100, "dim": 32},
    )
    if int(os.environ.get("RANK", 0)) == 0:
        print(f"{os.environ.get('WORLD_SIZE', 1)} process(es): {history}; checkpoint {path}")


if __name__ == "__main__":
    main()
