"""How the class protocol was chosen: DMD on the built-in MOSI-size data, validation split only.

For each learning rate (one optimizer step per batch of 16, no accumulation) this trains
DMD for ``--epochs`` epochs with one seed and prints the validation MAE and Corr after
every epoch, and the seconds per epoch. The test split is never scored. The class mode
(dmdlab.modes.CLASS_PROTOCOL) takes the learning rate and epoch count with the lowest
validation MAE that fit a few minutes per run.

    python scripts/class_protocol.py --lrs 5e-4 1e-3 2e-3 --epochs 6 --jobs 2
"""

from __future__ import annotations

import argparse
import time

import pandas as pd


def one(lr: float, epochs: int, seed: int, data_path: str) -> pd.DataFrame:
    import torch

    from dmdlab.training import TrainConfig, train
    from dmdlab.training.resolve import resolve

    torch.set_num_threads(1)
    protocol = TrainConfig(lr=lr, grad_accumulation=1, max_epochs=epochs, early_stop_patience=None,
                           eval_test_each_epoch=False, seed=seed, progress=False, num_threads=1)
    data, config, protocol = resolve(data_path, train_config=protocol)
    run = train(data, config, protocol)
    h = run.history
    return pd.DataFrame({"lr": f"{lr:g}", "epoch": h["epoch"], "valid MAE": h["valid/MAE"], "valid Corr": h["valid/Corr"],
                         "valid Acc-2": h["valid/Non0_acc_2"], "s/epoch": h["time/train_s"] + h["time/eval_s"]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lrs", type=float, nargs="+", default=[5e-4, 1e-3, 2e-3])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1111)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    from dmdlab.data.synth import builtin_dataset
    from dmdlab.modes import cache_dir

    path, _ = builtin_dataset("mosi", folder=cache_dir() / "data")
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        frames = list(pool.map(one, args.lrs, [args.epochs] * len(args.lrs), [args.seed] * len(args.lrs),
                               [str(path)] * len(args.lrs)))
    table = pd.concat(frames, ignore_index=True)
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(table.pivot(index="epoch", columns="lr", values=["valid MAE", "valid Corr", "s/epoch"]))
        best = table.loc[table["valid MAE"].idxmin()]
        print(f"lowest validation MAE: lr {best['lr']} at epoch {int(best['epoch'])} ({best['valid MAE']:.3f}); "
              f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
