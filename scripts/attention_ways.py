"""CPU time of one attention forward + backward, each way of ``dmdlab.model.attention``, at the sizes
of the MOSI-size training step: the numba kernel against the torch ways it would replace.

Shapes are (samples · members, heads, Tq, Tk, head width), batch 16, 10 heads: the calls of an
aligned step (T = 46 after the convolutions; two members of one dropout rate, width 5; the three
memory members, width 10), six members at once (scores no longer fit in a core's cache),
unaligned L attending to A (50 × 375) and A attending to V (375 × 500). Each way runs on the same inputs, best of ``--repeats`` CPU times
(``time.process_time``, so other processes on a shared machine count less), alternating the ways.
docs/performance.md quotes it.

    OMP_NUM_THREADS=1 python scripts/attention_ways.py --repeats 7
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from dmdlab.model import attention

SIZES = {"aligned, 2 members": (32, 46, 46, 5), "aligned memory, 3 members": (48, 46, 46, 10),
         "6 members, T 50": (96, 50, 50, 5), "unaligned L<-A": (16, 50, 375, 5), "unaligned A<-V": (16, 375, 500, 5)}


def _time(mode: str, q, k, v, p: float, grad) -> float:
    attention.ATTENTION = mode
    started = time.process_time()
    out, _ = attention.attend(q, k, v, dropout_p=p, training=True)
    out.backward(grad)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dropout", type=float, default=0.1, help="attention dropout rate (default: 0.1)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name, (n, t_q, t_k, width) in SIZES.items():
        torch.manual_seed(0)
        q, k, v = (torch.randn(n, 10, t, width, requires_grad=True) for t in (t_q, t_k, t_k))
        grad = torch.randn(n, 10, t_q, width)
        before = attention.calls.copy()
        _time("torch", q, k, v, args.dropout, grad)
        torch_way = next(iter(attention.calls - before))          # the way DMDLAB_ATTENTION=torch takes
        best = {"torch": float("inf"), "kernel": float("inf")}
        for _ in range(args.repeats):
            for mode in best:
                best[mode] = min(best[mode], _time(mode, q, k, v, args.dropout, grad))
        print(json.dumps({"size": name, "shape": [n, 10, t_q, t_k, width], "dropout": args.dropout,
                          "torch_way": torch_way, "torch_ms": round(best["torch"] * 1e3, 1),
                          "kernel_ms": round(best["kernel"] * 1e3, 1),
                          "kernel_over_torch": round(best["kernel"] / best["torch"], 2)}))


if __name__ == "__main__":
    main()
