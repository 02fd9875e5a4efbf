"""Profile a few training steps of DMD on a dataset file: time per operator and peak memory.

    python scripts/profile_step.py DATA [--steps 2] [--batch-size 16] [--preset mosi]

One thread (set OMP_NUM_THREADS=1 too). Prints the seconds per step, the process's peak
resident memory, the top operators by self CPU time (torch.profiler) and, with
``profile_memory``, the top operators by memory they allocate (self CPU memory): the
tensors a training step keeps alive for its backward. docs/unaligned.md has the findings.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from dmdlab.orchestration.bench import make_trainer, peak_rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--preset", default="mosi")
    parser.add_argument("--rows", type=int, default=15)
    args = parser.parse_args()
    options = dict(data=args.data, preset=args.preset, overrides=[], variant="dmd", batch_size=args.batch_size,
                   loss_batch_size=64, threads=1, device="cpu", seed=1111, compile=False)
    trainer, data = make_trainer(options)
    model = trainer.model.train()
    batches = data.splits["train"].batches(args.batch_size, device=trainer.device, text=trainer.text)
    batch = next(batches)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model.loss(model.forward_batch(batch), batch.labels).total.backward()

    step()                                                          # warm-up
    base = peak_rss_mb()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = (time.perf_counter() - started) / args.steps
    print(f"{seconds:.2f} s per step at batch {args.batch_size} (1 thread); peak RSS {peak_rss_mb():.0f} MiB "
          f"(after the warm-up step: {base:.0f} MiB)")
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    table = prof.key_averages()
    print(table.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    print(table.table(sort_by="self_cpu_memory_usage", row_limit=args.rows))


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
