"""Training and inference throughput and peak memory of a preset on a dataset file.

Each measurement runs in its own Python process (``python -m dmdlab.orchestration.bench``), so the
peak resident memory it reports (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, the
kernel's high-water mark of the process) belongs to that measurement alone. It includes
the interpreter, torch and the loaded dataset, as a user's training process would.

- train: the real training path (``Trainer.train_epoch``: official protocol, accumulation,
  clipping, optimizer steps, per-batch loss bookkeeping) for whole epochs, or for the first
  ``train_batches`` batches of one (the epoch time then extrapolated: unaligned MOSEI-size
  epochs take hours), after a warm-up of a few batches that is not timed.
  samples/s = training samples / seconds. With ``aligned_data`` the same measurement runs
  on a second file too (unaligned data beside aligned, in the same run).
- eval: inference (``evaluate`` without loss terms: eval mode, ``inference_mode``,
  predictions, edges and metrics) over the training split at ``eval_batch_size``, after a
  warm-up pass. The same process also times the trainer's per-epoch evaluation, which
  adds every loss term (``eval_with_loss_samples_per_s``, at ``loss_batch_size``).
- Arithmetic: the matrix-product FLOPs (``torch.utils.flop_counter``) of one training step
  (forward, loss, backward) and of one inference forward, per sample, and the throughput of
  one large fp32 matrix product on the same device and threads (the machine's practical
  peak). ``*_gflops`` = samples/s × FLOPs per sample: how much of that peak each pass uses,
  and what a throughput target would need.
- Which attention way ran (``attention``: the ``DMDLAB_ATTENTION`` mode; ``*_attention_calls``:
  calls per way in that process, ``dmdlab.model.attention.calls``).
- Both report wall-clock and CPU time (``time.process_time``, all threads of the process)
  and the 1-minute load average: on a shared machine, wall-clock throughput falls with
  the load while CPU time stays close to what an idle machine gives (for one thread).
"""

from __future__ import annotations

import functools
import json
import os
import resource
import subprocess
import sys
import time

import torch


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 2**20


def _flops_per_sample(step, samples: int) -> float:
    """FLOPs of ``step()`` per sample, as torch's flop counter counts them: matrix products,
    convolutions and fused attention (element-wise work is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops() / samples


def matmul_peak_gflops(device: torch.device, size: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` GFLOP/s of one (size × size) fp32 matrix product on ``device``."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    best = float("inf")
    for _ in range(repeats + 1):                       # the first product warms up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - started)
    return 2 * size ** 3 / best / 1e9


def make_trainer(options: dict) -> tuple:
    """``(Trainer, dataset)`` for a measurement's options (data, preset, variant, overrides, sizes, device)."""
    from dmdlab.training.config import TrainConfig
    from dmdlab.training.resolve import resolve
    from dmdlab.training.trainer import Trainer

    data, config, _ = resolve(options["data"], preset=options["preset"], overrides=options["overrides"],
                              variant=options["variant"])
    train_config = TrainConfig(batch_size=options["batch_size"], eval_batch_size=options["loss_batch_size"],
                               text_lr=options.get("text_lr"),
                               num_threads=options["threads"], device=options["device"], seed=options["seed"],
                               compile=options["compile"], progress=False)
    return Trainer(data, config, train_config), data


def measure(kind: str, options: dict) -> dict:
    """One measurement in this process: {'kind', 'samples_per_s', 'seconds', 'samples', 'peak_rss_mb', ...}."""
    from dmdlab.model import attention
    from dmdlab.training.trainer import evaluate

    trainer, data = make_trainer(options)
    result = {"kind": kind, "threads": torch.get_num_threads(), "device": str(trainer.device),
              "attention_mode": attention.ATTENTION}
    model, split = trainer.model, data.splits["train"]
    if kind == "train":
        batch = next(split.batches(options["batch_size"], device=trainer.device, text=trainer.text))

        def step():
            model.train()
            model.loss(model.forward_batch(batch), batch.labels).total.backward()

        way, attention.ATTENTION = attention.ATTENTION, "torch"   # the counter sees torch's products, not the kernel's
        result["mflop_per_sample"] = _flops_per_sample(step, len(batch)) / 1e6
        attention.ATTENTION = way
        model.zero_grad(set_to_none=True)
        trainer.train_epoch(max_batches=options["warmup_batches"])
        started, cpu_started = time.perf_counter(), time.process_time()
        if options.get("train_batches"):       # part of one epoch (the epoch time is extrapolated)
            trainer.train_epoch(max_batches=options["train_batches"])
            samples = min(options["train_batches"] * options["batch_size"], len(split))
        else:
            for _ in range(options["epochs"]):
                trainer.train_epoch()
            samples = len(split) * options["epochs"]
        result["epoch_samples"] = len(split)
    elif kind == "eval":
        batch = next(split.batches(options["eval_batch_size"], device=trainer.device, text=trainer.text))
        with torch.inference_mode():
            model.eval()
            result["mflop_per_sample"] = _flops_per_sample(lambda: model.forward_batch(batch), len(batch)) / 1e6
            model.train()
        result["matmul_peak_gflops"] = matmul_peak_gflops(trainer.device)
        infer = functools.partial(evaluate, trainer.model, split, batch_size=options["eval_batch_size"],
                                  device=trainer.device, precision=trainer.config.precision, with_loss=False)
        trainer.evaluate("valid")
        started = time.perf_counter()
        trainer.evaluate("train")  # the trainer's per-epoch pass: predictions, metrics and every loss term
        result["with_loss_samples_per_s"] = len(split) / (time.perf_counter() - started)
        infer()
        started, cpu_started = time.perf_counter(), time.process_time()
        infer()  # inference: predictions, edges and metrics
        samples = len(split)
    else:
        raise ValueError(f"unknown measurement {kind!r}: 'train' or 'eval'.")
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if trainer.device.type == "cuda":
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    result["attention_calls"] = dict(attention.calls)    # which attention way ran (warm-up and FLOP count included)
    result.update(samples=samples, seconds=seconds, cpu_seconds=cpu_seconds, samples_per_s=samples / seconds,
                  peak_rss_mb=peak_rss_mb(), load_average=os.getloadavg()[0])
    return result


def _run(kind: str, options: dict, isolate: bool) -> dict:
    """``measure(kind, options)``, in its own process when ``isolate``."""
    if not isolate:
        return measure(kind, options)
    completed = subprocess.run([sys.executable, "-m", "dmdlab.orchestration.bench", kind, json.dumps(options)],
                               capture_output=True, text=True, env=os.environ.copy())
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"bench {kind} measurement on {options['data']} failed: {last}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _train_fields(train: dict, prefix: str = "") -> dict:
    """The training figures of one ``measure('train')``: throughput, epoch time (extrapolated from
    the timed samples when fewer than an epoch), CPU time and peak memory."""
    per_epoch = train["epoch_samples"] / train["samples"]
    return {f"{prefix}train_samples": train["samples"],
            f"{prefix}train_samples_per_s": round(train["samples_per_s"], 2),
            f"{prefix}train_s_per_epoch": round(train["seconds"] * per_epoch, 2),
            f"{prefix}train_cpu_s_per_epoch": round(train["cpu_seconds"] * per_epoch, 2),
            f"{prefix}train_peak_rss_mb": round(train["peak_rss_mb"], 1)}


def bench(data, *, preset: str = "mosi", variant: str = "dmd", overrides: tuple[str, ...] = (), batch_size: int = 16,
          eval_batch_size: int = 64, loss_batch_size: int = 64, threads: int | None = None, epochs: int = 1,
          warmup_batches: int = 3, device: str = "auto", seed: int = 1111, compile: bool = False,
          isolate: bool = True, text_lr: float | None = None, train_batches: int | None = None,
          aligned_data=None, inference: bool = True) -> dict:
    """Measure training and inference; returns one flat dict (the CLI prints it as a JSON line).

    A BERT text encoder comes in through ``overrides`` (``arch.text_encoder=PATH``, what
    ``--text-encoder`` adds); ``text_lr`` is its learning rate (None: the rest's).
    ``train_batches``: time that many training batches instead of ``epochs`` whole epochs
    (``train_s_per_epoch`` is then extrapolated). ``aligned_data``: also measure training on
    that file with the same options (``aligned_*`` fields and ``train_over_aligned``, the
    throughput ratio): unaligned data beside aligned, on the same machine in the same run.
    ``inference`` False skips the inference measurement."""
    options = dict(data=str(data), preset=preset, variant=variant, overrides=list(overrides), batch_size=batch_size,
                   text_lr=text_lr,
                   eval_batch_size=eval_batch_size, loss_batch_size=loss_batch_size, threads=threads, epochs=epochs,
                   warmup_batches=warmup_batches, device=device, seed=seed, compile=compile,
                   train_batches=train_batches)
    train = _run("train", options, isolate)
    record = {
        "data": str(data), "preset": preset, "variant": variant, "overrides": list(overrides),
        "device": train["device"], "threads": train["threads"], "batch_size": batch_size,
        "eval_batch_size": eval_batch_size, **_train_fields(train),
        "train_epoch_extrapolated": bool(train_batches) and train["samples"] < train["epoch_samples"],
        "train_mflop_per_sample": round(train["mflop_per_sample"], 1),
        "train_gflops": round(train["samples_per_s"] * train["mflop_per_sample"] / 1e3, 1),
        "attention": train["attention_mode"], "train_attention_calls": train["attention_calls"],
    }
    loads = [train["load_average"]]
    if aligned_data is not None:
        aligned = _run("train", {**options, "data": str(aligned_data)}, isolate)
        loads.append(aligned["load_average"])
        record.update(aligned_data=str(aligned_data), **_train_fields(aligned, "aligned_"),
                      aligned_train_attention_calls=aligned["attention_calls"],
                      train_over_aligned=round(train["samples_per_s"] / aligned["samples_per_s"], 3))
    if inference:
        evaluation = _run("eval", options, isolate)
        loads.append(evaluation["load_average"])
        record.update({
            "eval_samples_per_s": round(evaluation["samples_per_s"], 2),
            "eval_peak_rss_mb": round(evaluation["peak_rss_mb"], 1),
            "eval_cpu_s": round(evaluation["cpu_seconds"], 2),
            "eval_with_loss_samples_per_s": round(evaluation["with_loss_samples_per_s"], 2),
            "eval_over_train": round(evaluation["samples_per_s"] / train["samples_per_s"], 2),
            "eval_mflop_per_sample": round(evaluation["mflop_per_sample"], 1),
            "eval_gflops": round(evaluation["samples_per_s"] * evaluation["mflop_per_sample"] / 1e3, 1),
            "eval_attention_calls": evaluation["attention_calls"],
            "matmul_peak_gflops": round(evaluation["matmul_peak_gflops"], 1)})
        if "peak_cuda_mb" in evaluation:
            record["eval_peak_cuda_mb"] = round(evaluation["peak_cuda_mb"], 1)
    if "peak_cuda_mb" in train:
        record["train_peak_cuda_mb"] = round(train["peak_cuda_mb"], 1)
    record.update({
        "load_average": round(max(loads), 2),
        "isolated": isolate, "compile": compile, "torch": str(torch.__version__),
        "text_encoder": next((o.split("=", 1)[1] for o in overrides if o.startswith("arch.text_encoder=")), None),
    })
    return record


# --------------------------------------------------------------------------- seeds together


def _train_steps(forward_losses, parameters: list, batches: list, train_config) -> None:
    """The protocol's training step over ``batches`` (one item per step): losses summed over
    members, one backward, value clipping after every backward, an Adam step every
    ``grad_accumulation`` batches (the trainer's order)."""
    optimizer = torch.optim.Adam(parameters, lr=train_config.lr, weight_decay=train_config.weight_decay)
    for index, batch in enumerate(batches):
        if index % train_config.grad_accumulation == 0:
            optimizer.zero_grad(set_to_none=True)
        forward_losses(batch).sum().backward()
        if train_config.grad_clip_value is not None:
            torch.nn.utils.clip_grad_value_(parameters, train_config.grad_clip_value)
        if (index + 1) % train_config.grad_accumulation == 0:
            optimizer.step()


def bench_seeds(data, *, seeds: int = 3, preset: str = "mosi", variant: str = "dmd", overrides: tuple[str, ...] = (),
                batch_size: int = 16, batches: int = 20, repeats: int = 3, threads: int | None = None,
                device: str = "auto", seed: int = 1111) -> dict:
    """Training throughput of ``seeds`` members trained together as one stacked model
    (``dmdlab.training.stacked.StackedModels``) beside one member alone, in this process.

    Three ways, each ``batches`` protocol steps (batch ``batch_size``, accumulation, clipping,
    Adam) per member on that member's own shuffled batches, timed ``repeats`` times in turn
    (the best of each counts, so a busy moment of a shared machine hurts none of them alone):

    - ``alone``: one model, one step at a time (what every run does today);
    - ``stacked``: the K members in one vmapped step (member-samples per second);
    - ``wide_batch``: one model at K × ``batch_size``: the bound no stacked form can pass (the
      same weights for all samples make truly wider products and one dispatch per operation).

    Every dropout rate is 0 in all three (``without_dropout``: the stacked form needs it).
    ``loss_max_abs_difference``: the largest difference between a member's first-step loss
    stacked and alone (float rounding).
    """
    from dmdlab.model import build_model
    from dmdlab.training.config import TrainConfig
    from dmdlab.training.stacked import StackedModels, without_dropout
    from dmdlab.training.resolve import resolve
    from dmdlab.training.trainer import resolve_device

    if seeds < 1:
        raise ValueError(f"bench --seeds must be at least 1. Got {seeds}.")
    if threads is not None:
        torch.set_num_threads(threads)
    target = resolve_device(device)
    dataset, config, _ = resolve(data, preset=preset, overrides=overrides, variant=variant)
    config, text = without_dropout(config), config.arch.text_input
    split = dataset.splits["train"]
    needed = batches * batch_size * seeds
    if needed > len(split):
        raise ValueError(f"bench --seeds {seeds}: {batches} batches of {batch_size} per member need {needed} training "
                         f"clips, {data} has {len(split)}: lower --train-batches.")
    members = [seed + offset for offset in range(seeds)]
    models = []
    for member in members:
        torch.manual_seed(member)
        models.append(build_model(config, dataset.spec).to(target).train())
    stacked = StackedModels(models).train()

    def member_batches(member: int, size: int) -> list:
        order = torch.Generator().manual_seed(member)
        return [b for _, b in zip(range(batches), split.batches(size, shuffle=True, generator=order, device=target,
                                                                    text=text))]

    own = [member_batches(member, batch_size) for member in members]      # each member's own data order
    rounds = [list(step) for step in zip(*own)]                            # step i: one batch per member
    wide = member_batches(members[0], batch_size * seeds)
    single = models[0]

    def one(batch):
        return single.loss(single.forward_batch(batch), batch.labels).total

    with torch.no_grad():
        alone_losses = torch.stack([model.loss(model.forward_batch(b), b.labels).total
                                    for model, b in zip(models, rounds[0])])
    difference = float((stacked.loss(rounds[0]).detach() - alone_losses).abs().max())
    train_config = TrainConfig()
    ways = {
        "alone": (lambda: _train_steps(one, list(single.parameters()), own[0], train_config), batches * batch_size),
        "stacked": (lambda: _train_steps(stacked.loss, stacked.parameters, rounds, train_config),
                    batches * batch_size * seeds),
        "wide_batch": (lambda: _train_steps(one, list(single.parameters()), wide, train_config),
                       batches * batch_size * seeds),
    }
    best = {name: (0.0, 0.0) for name in ways}
    for name, (run, _) in ways.items():    # warm-up
        run()
    for _ in range(repeats):
        for name, (run, samples) in ways.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            run()
            if target.type == "cuda":
                torch.cuda.synchronize(target)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            best[name] = (max(best[name][0], samples / wall), max(best[name][1], samples / cpu))
    record = {"data": str(data), "preset": preset, "variant": variant, "overrides": list(overrides), "seeds": seeds,
              "device": str(target), "threads": torch.get_num_threads(), "batch_size": batch_size,
              "batches": batches, "repeats": repeats, "dropout": 0.0}
    for name, (wall, cpu) in best.items():
        record[f"{name}_samples_per_s"] = round(wall, 2)
        record[f"{name}_samples_per_cpu_s"] = round(cpu, 2)
    record.update(stacked_over_alone=round(best["stacked"][0] / best["alone"][0], 3),
                  wide_batch_over_alone=round(best["wide_batch"][0] / best["alone"][0], 3),
                  loss_max_abs_difference=difference, load_average=round(os.getloadavg()[0], 2),
                  torch=str(torch.__version__))
    return record


if __name__ == "__main__":  # a worker: python -m dmdlab.orchestration.bench KIND OPTIONS_JSON
    print(json.dumps(measure(sys.argv[1], json.loads(sys.argv[2]))))
