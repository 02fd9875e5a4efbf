"""``python -m dmdlab``: the command line.

Each command group lives beside the code it drives and exposes ``register(subparsers)``;
this module only assembles them, so adding a command never touches another's file.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module, what it adds) -- imported lazily so `--help` stays fast.
COMMAND_MODULES = (
    "dmdlab.data.cli",    # data synth | inspect | baseline
    "dmdlab.train.cli",   # train | evaluate | reproduce | bench
    "dmdlab.workbench_cli",  # workbench | claims | demo
    "dmdlab.train.tune_cli",  # tune
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dmdlab",
        description="dmdlab: study, reproduce and teach Decoupled Multimodal Distilling (DMD, CVPR 2023).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:  # that command group is not written yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as error:  # user errors and unreadable files: one clear line, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
