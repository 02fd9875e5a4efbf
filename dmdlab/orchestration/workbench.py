"""The workbench: one shared, cached set of runs that every notebook and the claims report read.

``open_workbench(mode)`` fixes the data, model, protocol and seeds of a mode
(:mod:`dmdlab.modes`) and a run folder in dmdlab's cache. ``Workbench.runs(variants)``
returns the runs asked for, training only those that are not finished yet (an interrupted
run resumes from its last epoch); ``python -m dmdlab workbench`` trains the standard set
(:data:`WORKBENCH_VARIANTS`) once, so that opening a notebook reads results instead of
training them.

The run folder is ``<cache>/workbench/<mode>/<data>/<preset>``, where ``<data>`` is the
dataset file's stem plus a short hash of its absolute path (MMSA names MOSI's and MOSEI's
files alike: ``aligned_50.pkl``).
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dmdlab import costs, modes, runs
from dmdlab.data import MMSADataset
from dmdlab.model import DMDConfig
from dmdlab.data.synth import WORLDS
from dmdlab.model.variants import VARIANTS, variant_names
from dmdlab.training.config import TrainConfig

WORKBENCH_VARIANTS: tuple[str, ...] = variant_names(workbench=True)
"""The standard set (``Variant.workbench`` of the registry): DMD, the paper's four ablations, the
three unimodal models and the two edge-prior variants (uniform prior; no edge regulariser)."""

PURPOSES: dict[str, str] = {name: VARIANTS[name].workbench for name in WORKBENCH_VARIANTS}
"""Why each variant of the standard set is trained: said before it trains."""


TEACHER_WORLD = "vision_strongest"
STYLE_WORLDS: tuple[str, ...] = ("style_none", "standard", "style_strong")
WORLD_VARIANTS: dict[str, tuple[str, ...]] = {world: names for world in WORLDS
                                              if (names := variant_names(world=world))}
"""What the counterfactual claims (dmdlab.claims.world_claims) read, per named world of the built-in
data (``Variant.worlds`` of the registry): the edges with vision strongest against the standard
world (DMD and the uniform-prior model), and DMD against w/o FD as the speaker style goes from
none to strong."""


@dataclass
class Workbench:
    """A mode's data, configurations and run folder."""

    mode: modes.Mode            # smoke, class or paper
    data: MMSADataset           # the loaded dataset (three splits)
    model_config: DMDConfig     # base model configuration (variants are derived from it)
    train_config: TrainConfig   # training protocol (its seed is replaced per run)
    seeds: list[int]            # the seeds runs are repeated over
    out: Path                   # folder of the runs: out/<variant>/seed<seed>

    @property
    def note(self) -> str | None:
        """The caveat every figure of this mode carries (None in class and paper mode)."""
        return self.mode.note

    def missing(self, variants: Sequence[str], seeds: Sequence[int] | None = None) -> list[tuple[str, int]]:
        """``(variant, seed)`` of the runs not finished in the cache yet (what :meth:`runs` would train)."""
        return [(variant, seed) for variant in variants for seed in (seeds or self.seeds)
                if not (self.out / variant / f"seed{seed}" / runs.METRICS).is_file()]

    def expected_seconds(self, variants: Sequence[str], seeds: Sequence[int] | None = None, *,
                         slots: int = 1) -> float | None:
        """Wall seconds to train what is missing, from the measured class-mode costs (:mod:`dmdlab.costs`);
        None outside class mode, and with a BERT text encoder (the figures are for the built-in features)."""
        if self.mode.name != "class" or self.model_config.arch.text_input != "features":
            return None
        return costs.class_seconds([v for v, _ in self.missing(variants, seeds)], slots=slots, start=False)

    def plan(self, variants: Sequence[str], seeds: Sequence[int] | None = None, *, slots: int = 1) -> str | None:
        """What :meth:`runs` is about to train, why, and roughly how long (None: everything is cached).
        ``slots``: runs side by side (1 in this process, one per core on Ray)."""
        todo = self.missing(variants, seeds)
        if not todo:
            return None
        counts = {variant: sum(v == variant for v, _ in todo) for variant in dict.fromkeys(v for v, _ in todo)}
        what = "; ".join(f"{PURPOSES.get(v, v)}: {n} run{'s' * (n != 1)}" for v, n in counts.items())
        expected = self.expected_seconds(variants, seeds, slots=slots)
        if expected is not None:
            cost = f"{costs.minutes(expected)} on 2 CPU cores ({costs.MEASURED})"
        elif self.mode.name == "smoke":
            cost = "seconds"
        elif self.mode.name == "class":
            cost = "minutes per run with a BERT text encoder (notebook 09 says how many)"
        else:
            cost = "hours per run on a CPU (the official protocol)"
        return (f"training {len(todo)} run{'s' * (len(todo) != 1)} not in the cache yet, {cost}: {what}. "
                f"`python -m dmdlab workbench --mode {self.mode.name}` trains them ahead of time.")

    def runs(self, variants: Sequence[str] = ("dmd",), *, seeds: Sequence[int] | None = None, cluster=None,
             progress: bool = True) -> runs.RunSet:
        """The runs of every variant and seed: read back when finished, trained (or resumed) otherwise;
        ``cluster``: None trains them here one after another, a :class:`~dmdlab.orchestration.cluster.Cluster` on Ray.
        With ``progress``, a line first says what will be trained, why and about how long (:meth:`plan`)."""
        from dmdlab.orchestration.experiments import run_experiment

        self._check_writable_for(variants, seeds or self.seeds)
        slots = 1 if cluster is None else costs.DEFAULT_SLOTS
        plan = self.plan(variants, seeds, slots=slots) if progress else None
        if plan:
            print(textwrap.fill(plan, 100, break_on_hyphens=False, break_long_words=False), flush=True)
        return run_experiment(self.data, tuple(variants), seeds=list(seeds or self.seeds), base_config=self.model_config,
                              train_config=self.train_config, out_dir=self.out, cluster=cluster, progress=progress,
                              expected_seconds=self.expected_seconds(variants, seeds, slots=slots))

    def _check_writable_for(self, variants: Sequence[str], seeds: Sequence[int]) -> None:
        """One line, with the command that trains them, when runs are missing and the cache cannot be written."""
        from dmdlab.files import can_write

        missing = [(variant, seed) for variant in variants for seed in seeds
                   if not (self.out / variant / f"seed{seed}" / runs.METRICS).is_file()]
        if missing and not can_write(self.out):
            shown = ", ".join(f"{variant} seed {seed}" for variant, seed in missing[:4])
            names = " ".join(dict.fromkeys(variant for variant, _ in missing))
            data = f" --data {self.data.path}" if self.mode.scale is None and self.data.path else ""
            raise ValueError(f"{self.out} cannot be written (a read-only or shared cache?) and lacks {len(missing)} "
                             f"run(s) ({shown}{' …' if len(missing) > 4 else ''}): whoever can write it trains them "
                             f"with `python -m dmdlab workbench --mode {self.mode.name}{data} --variants {names}`, or "
                             "set DMDLAB_HOME to a folder of your own")

    def model(self, variant: str = "dmd", seed: int | None = None):
        """The best checkpoint of one run (trained first if needed), in eval mode, on the CPU."""
        run = self.runs([variant], seeds=[seed or self.seeds[0]])[0]   # says so first when it has to train
        model, _ = run.load_model()
        return model.eval()

    def __repr__(self) -> str:
        a = self.model_config.arch
        t = self.train_config
        return (f"Workbench({self.mode.name} mode: {self.data.path.name if self.data.path else 'in-memory data'} "
                f"{self.data.sizes}, model d={a.d} heads={a.heads} layers={a.nlevels}, lr {t.lr:g}, accumulation "
                f"{t.grad_accumulation}, ≤{t.max_epochs} epochs, seeds {self.seeds}, runs in {self.out})")


def data_key(path: Path) -> str:
    """``<stem>-<8 hex of the absolute path's sha1>``: a folder name per dataset file."""
    resolved = str(Path(path).expanduser().resolve())
    return f"{Path(path).stem}-{hashlib.sha1(resolved.encode()).hexdigest()[:8]}"


def open_workbench(mode: str = "class", *, data: str | Path | None = None, preset: str = "mosi",
                   seeds: int | Sequence[int] | None = None, out: str | Path | None = None,
                   overrides: Sequence[str] = (), epochs: int | None = None, aligned: bool = True,
                   world: str = "standard") -> Workbench:
    """The workbench of ``mode`` (``smoke``, ``class`` or ``paper``).

    ``data``: an MMSA pickle (``paper`` mode needs one; ``smoke`` and ``class`` default to
    the built-in tiny / MOSI-size data, generated into the cache once). ``seeds``: a number
    (from 1111) or a list; default the mode's. ``out``: the run folder (default in the
    cache). ``overrides``: ``--set`` style model changes; ``epochs``: cap the mode's epochs.
    ``aligned`` False: the built-in data unaligned (audio and vision at their own frame rates,
    e.g. 375 and 500 frames at MOSI size: about 20× the time per run, docs/unaligned.md); a
    named file is used as it is, aligned or not. ``world``: a named world of the built-in data
    (:data:`dmdlab.data.synth.WORLDS`: the standard one, or a counterfactual one such as
    ``vision_strongest`` or ``style_strong``); each world has its own file and run folder.
    """
    from dmdlab.data.synth import builtin_dataset
    from dmdlab.orchestration.experiments import seed_list
    from dmdlab.training.resolve import resolve

    spec = modes.get_mode(mode)
    if data is not None and world != "standard":
        raise ValueError(f"world={world!r} (--world) picks the built-in data of a dialled world, but a dataset file "
                         f"was named too ({data}): drop one of them.")
    if data is not None and not aligned:
        raise ValueError(f"aligned=False (--unaligned) picks the built-in unaligned data, but a dataset file was "
                         f"named too ({data}): a named file is used as it is, aligned or unaligned; drop one of them.")
    if data is None:
        if spec.scale is None:
            raise ValueError(f"{mode} mode trains on a dataset file you name (an MMSA pickle, e.g. "
                             "data/MOSI/aligned_50.pkl); none was given.")
        data, _ = builtin_dataset(spec.scale, folder=modes.cache_dir() / "data", aligned=aligned, world=world)
    path = Path(data)
    dataset, model_config, train_config = resolve(path, preset=preset, overrides=overrides, mode=mode)
    if epochs is not None:
        train_config = train_config.replace(max_epochs=epochs)
    folder = Path(out) if out is not None else modes.cache_dir() / "workbench" / mode / data_key(path) / preset
    return Workbench(spec, dataset, model_config, train_config, seed_list(seeds or spec.seeds), folder)


def world_folder(mode: str, world: str, *, preset: str = "mosi", aligned: bool = True) -> Path:
    """The default run folder of the workbench of ``mode`` on the built-in data of ``world`` (nothing is
    generated or trained): where ``workbench --world`` puts its runs and the counterfactual claims read them."""
    from dmdlab.data.synth import builtin_path

    scale = modes.get_mode(mode).scale
    if scale is None:
        raise ValueError(f"{mode} mode has no built-in data, so no worlds: use smoke or class.")
    path = builtin_path(scale, modes.cache_dir() / "data", aligned=aligned, world=world)
    return modes.cache_dir() / "workbench" / mode / data_key(path) / preset


def world_runs(mode: str = "class", *, seeds: int | Sequence[int] | None = None, preset: str = "mosi",
               epochs: int | None = None, cluster=None, progress: bool = True,
               worlds: dict[str, Sequence[str]] | None = None) -> dict[str, runs.RunSet]:
    """``{world: runs}``: the runs of :data:`WORLD_VARIANTS` (or ``worlds``) in each world's workbench,
    read back when finished, trained otherwise (each world's data generated once into the cache)."""
    return {world: open_workbench(mode, preset=preset, seeds=seeds, epochs=epochs, world=world).runs(
                variants, cluster=cluster, progress=progress)
            for world, variants in (worlds or WORLD_VARIANTS).items()}
