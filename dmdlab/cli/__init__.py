"""``python -m dmdlab``: the command line.

Each command group is one module of this package and exposes ``register(subparsers)``; the
options several commands share live in ``dmdlab.cli.options``. This module only assembles the
groups, so adding a command never touches another's file.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module, what it adds) -- imported lazily so `--help` stays fast.
COMMAND_MODULES = (
    "dmdlab.cli.data",       # data synth | build | inspect | baseline
    "dmdlab.cli.train",      # train | evaluate | reproduce | bench
    "dmdlab.cli.workbench",  # workbench | claims | worlds | demo
    "dmdlab.cli.tune",       # tune
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
