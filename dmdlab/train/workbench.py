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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dmdlab import modes, runs
from dmdlab.data import MMSADataset
from dmdlab.model import DMDConfig
from dmdlab.model.config import apply_overrides
from dmdlab.train.config import TrainConfig

WORKBENCH_VARIANTS: tuple[str, ...] = ("dmd", "wo_fd", "wo_homogd", "wo_heterogd", "wo_ca",
                                       "unimodal_l", "unimodal_v", "unimodal_a", "uniform_prior", "no_edge_reg")
"""The standard set: DMD, the paper's four ablations, the three unimodal models and the two
edge-prior variants (uniform prior; no edge regulariser)."""


TEACHER_WORLD = "vision_strongest"
STYLE_WORLDS: tuple[str, ...] = ("style_none", "standard", "style_strong")
WORLD_VARIANTS: dict[str, tuple[str, ...]] = {
    "standard": ("dmd", "wo_fd", "uniform_prior"),
    TEACHER_WORLD: ("dmd", "uniform_prior"),
    "style_none": ("dmd", "wo_fd"),
    "style_strong": ("dmd", "wo_fd"),
}
"""What the counterfactual claims (dmdlab.claims.world_claims) read, per named world of the built-in
data: the edges with vision strongest against the standard world (DMD and the uniform-prior
model), and DMD against w/o FD as the speaker style goes from none to strong."""


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

    def runs(self, variants: Sequence[str] = ("dmd",), *, seeds: Sequence[int] | None = None, cluster=None,
             progress: bool = True) -> runs.RunSet:
        """The runs of every variant and seed: read back when finished, trained (or resumed) otherwise;
        ``cluster``: None trains them here one after another, a :class:`~dmdlab.train.cluster.Cluster` on Ray."""
        from dmdlab.train.experiments import run_experiment

        return run_experiment(self.data, tuple(variants), seeds=list(seeds or self.seeds), base_config=self.model_config,
                              train_config=self.train_config, out_dir=self.out, cluster=cluster, progress=progress)

    def model(self, variant: str = "dmd", seed: int | None = None):
        """The best checkpoint of one run (trained first if needed), in eval mode, on the CPU."""
        run = self.runs([variant], seeds=[seed or self.seeds[0]], progress=False)[0]
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
    from dmdlab.train.experiments import seed_list
    from dmdlab.train.trainer import load_dataset, text_mode

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

    def config(aligned: bool) -> DMDConfig:
        return apply_overrides(DMDConfig.preset(preset, aligned=aligned).replace(arch=spec.arch), overrides)

    dataset = load_dataset(path, text_mode(config(True)))  # features, or text_bert for a BERT encoder; a bad file:
    model_config = config(dataset.spec.aligned)             # one clear error naming it
    protocol = dict(spec.protocol)
    if epochs is not None:
        protocol["max_epochs"] = epochs
    train_config = TrainConfig(**protocol)
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
