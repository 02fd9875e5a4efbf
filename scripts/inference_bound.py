"""An upper bound on inference throughput: the time of the model's matrix products alone.

Records every linear and convolution product (mm, bmm, addmm, baddbmm, convolution) of one
inference forward pass, replays each on hot caches (best of 7), and prints the samples/s the
model could reach if everything else (attention, softmax, LayerNorm, element-wise work,
Python) took no time at all. docs/training.md uses it to show which throughput targets this
machine cannot reach.

    OMP_NUM_THREADS=2 python scripts/inference_bound.py --data data/synth_mosi.pkl --threads 2
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from dmdlab.orchestration.bench import make_trainer

aten = torch.ops.aten
PRODUCTS = {aten.mm.default, aten.bmm.default, aten.addmm.default, aten.baddbmm.default,
            aten.convolution.default}


class RecordProducts(TorchDispatchMode):
    """Keeps (op, copied arguments) of every product that runs under it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in PRODUCTS:
            self.calls.append((func, [a.clone() if isinstance(a, torch.Tensor) else a for a in args], kwargs or {}))
        return func(*args, **(kwargs or {}))


def best_seconds(call, repeats: int = 7) -> float:
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="MMSA pickle (e.g. data/synth_mosi.pkl)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64, help="inference batch (default: %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    trainer, data = make_trainer(dict(data=args.data, preset="mosi", variant="dmd", overrides=[], batch_size=16,
                                  loss_batch_size=64, threads=args.threads, device="cpu", seed=1111, compile=False))
    model = trainer.model.eval()
    batch = next(data.splits["train"].batches(args.batch_size, text=trainer.text))
    with torch.inference_mode():
        recorder = RecordProducts()
        with recorder:
            model.forward_batch(batch)
        seconds = flops = 0.0
        for func, call_args, kwargs in recorder.calls:
            seconds += best_seconds(lambda: func(*call_args, **kwargs))
            counter = FlopCounterMode(display=False)
            with counter:
                func(*call_args, **kwargs)
            flops += counter.get_total_flops()
        whole = best_seconds(lambda: model.forward_batch(batch), repeats=3)
    n = len(batch)
    print(f"threads {args.threads}, batch {n}: {len(recorder.calls)} linear/conv products, "
          f"{flops / n / 1e6:.0f} MFLOP per sample, {seconds * 1e3:.1f} ms alone on hot caches "
          f"({flops / seconds / 1e9:.0f} GFLOP/s): at most {n / seconds:.0f} samples/s if nothing else took time; "
          f"the whole forward: {whole * 1e3:.1f} ms = {n / whole:.0f} samples/s")


if __name__ == "__main__":
    main()
