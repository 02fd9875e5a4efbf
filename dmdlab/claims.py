"""The claims report: each claim of the paper, measured over seeds, held against a control.

A claim is a statement of the paper (Li, Wang, Cui, CVPR 2023) that a set of runs can
test. For each one the report gives the measured quantity as a mean with a 95 % interval
over seeds (Student's t, paired by seed where two models are compared:
:mod:`dmdlab.stats`), the same quantity on a control (the untrained model, or the variant
without the mechanism, or the fixed edge prior), the paper's value where it states one, and
a verdict: *holds*, *does not hold*, *inside seed noise* (the interval contains 0) or
*not measurable here* (runs missing, one seed, or no ground truth in the data).

The claims:

- ``beats/<variant>`` — DMD beats each ablation (w/o FD, w/o HomoGD, w/o HeteroGD, w/o CA;
  the paper's ablation table) and the best unimodal model (its unimodal comparison), on
  the test split: Acc-2, F1 (higher is better) and MAE (lower is better). The difference is
  oriented so that a positive value favours DMD. The best unimodal model is picked by its
  mean *validation* MAE, never by test.
- ``edges/homo`` — HomoGD: L→V and L→A dominate (supplementary Table 1: 0.330 each,
  every other edge ≤ 0.107). Measured as min(L→V, L→A) − max(other four) of the mean test
  edges. Controls: the same on the fixed prior (what the regulariser pulls towards), on the
  model with a uniform prior (what is learned without that pull), and at initialisation.
- ``edges/hetero`` — HeteroGD: V→A emerges as a teacher (Table 1: 0.268, beside the other
  non-language edges ≤ 0.081). Measured as V→A − max(V→L, A→L, A→V); same controls.
- ``homo/sentiment`` — decoupling makes the homogeneous space separate sentiment (the
  paper's t-SNE figure): silhouette by sentiment class (negative / positive, test clips,
  the three modalities' GD-unit representations) of DMD minus that of w/o FD; control:
  the untrained DMD.
- ``hetero/modality`` — the heterogeneous space separates the modalities: silhouette by
  modality of the hetero features, DMD minus w/o FD; control: the untrained DMD, which
  already separates by modality (each modality has its own encoder).
- ``attention/bursts`` — cross-modal attention looks where the evidence is: for each
  sentiment word of a test clip, the L←V attention (mean over layers and heads) on the
  frames where the built-in data placed that word's visual burst, divided by the mean
  attention on the other frames it may attend to (padding and masked frames excluded); the
  geometric mean over words. 1 means no preference. Measured as log(trained / untrained),
  paired by seed. Needs the ground truth the built-in data records, and more than one
  vision step: over one key (utterance-level features) every weight is 1, so the claim
  reads *not measurable here*.

Two more claims need counterfactual worlds of the built-in data (the same clips with one dial
changed; :func:`world_claims`, ``python -m dmdlab worlds`` or ``claims DIR --worlds``):

- ``worlds/teacher/<unit>/<variant>`` — the edges follow the teacher: with vision made the
  strongest modality, [mean(V→L, V→A) − mean(L→V, L→A)] of the unit's test edges rises
  against the standard world (paired by seed), for DMD and for DMD with a uniform prior.
- ``worlds/decoupling/<world>`` and ``worlds/decoupling/trend`` — decoupling pays where
  modalities differ: w/o FD − DMD on the test MAE with no, the standard and a strong
  modality-exclusive speaker style, and its change from none to strong.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dmdlab import paper, runs, stats
from dmdlab.modalities import EDGE_LABELS, MODALITIES
from dmdlab.model.variants import CLAIM_GROUPS, label, variant_names
from dmdlab.stats import signed

ABLATIONS: tuple[str, ...] = variant_names(role="ablation")
UNIMODAL: tuple[str, ...] = variant_names(role="unimodal")
# metric -> (column title, higher is better)
COMPARED: dict[str, tuple[str, bool]] = {"Non0_acc_2": ("Acc-2", True), "Non0_F1_score": ("F1", True),
                                         "MAE": ("MAE", False)}
WIDTH = 100
"""The longest line of the report as text."""
VERDICT_COLORS = {stats.HOLDS: "#d9f2d9", stats.FAILS: "#f9d6d5", stats.NOISE: "#fff2cc",
                  stats.NOT_MEASURABLE: "#e8e8e8"}


@dataclass
class Claim:
    """One row of the report."""

    claim: str                    # key, e.g. 'beats/wo_fd/Acc-2'
    statement: str                # the paper's claim in words
    measure: str                  # what is measured, and its sign convention
    value: stats.Interval         # the measurement over seeds
    control: str = ""             # the control(s), as text
    paper: str = ""               # what the paper reports
    verdict: str = stats.NOT_MEASURABLE
    notebook: str = ""            # the notebook that shows it
    scale: float = 1.0            # value × scale when printed (100 for percentage points)
    places: int = 2

    def row(self) -> dict:
        return {"claim": self.claim, "statement": self.statement, "measured": self.value.text(self.places, self.scale),
                "control": self.control, "paper": self.paper, "verdict": self.verdict, "seeds": self.value.n,
                "measure": self.measure}


@dataclass
class ClaimsReport:
    """The claims of one set of runs; ``table`` is one row per claim."""

    claims: list[Claim]
    source: str                   # the runs' folder and data
    notes: list[str] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        columns = ["claim", "statement", "measured", "control", "paper", "verdict", "seeds", "measure"]
        return pd.DataFrame([c.row() for c in self.claims], columns=columns).set_index("claim")

    def select(self, prefix: str | Sequence[str]) -> "ClaimsReport":
        """The claims whose key starts with ``prefix`` (or any of several)."""
        prefixes = (prefix,) if isinstance(prefix, str) else tuple(prefix)
        return ClaimsReport([c for c in self.claims if c.claim.startswith(prefixes)], self.source, self.notes)

    def to_string(self, *, width: int = WIDTH, measured_only: bool = False, settle: str = "") -> str:
        """The report as text, no line longer than ``width``: per claim a line with the statement
        and the verdict, then the measurement, control and paper's value, wrapped.

        ``measured_only``: leave out the claims *not measurable here* and name them in one
        paragraph instead, followed by ``settle`` (say, the command that measures them).
        The JSON form (:meth:`to_json`) always keeps every claim.
        """
        shown = [c for c in self.claims if not (measured_only and c.verdict == stats.NOT_MEASURABLE)]
        lines = _wrap(f"claims of the paper measured on {self.source}", width) + _wrap(
            "measured: mean [95 % interval] over seeds; a difference whose interval contains 0 is inside seed noise.",
            width)
        for claim in shown:
            lines.append("")
            head = f"{claim.statement}  "
            tail = f"[{claim.verdict}]"
            if len(head) + len(tail) <= width:
                lines.append(head + " " * (width - len(head) - len(tail)) + tail)
            else:
                lines += _wrap(head, width) + [tail.rjust(width)]
            row = claim.row()
            detail = f"measured {row['measured']} ({row['seeds']} seeds) | control: {row['control']} | paper: {row['paper']}"
            lines += _wrap(detail, width, indent="    ")
        lines.append("")
        counts = pd.Series([c.verdict for c in self.claims]).value_counts()
        lines += _wrap("verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()), width)
        left_out = [c for c in self.claims if c not in shown]
        if left_out:
            names = list(dict.fromkeys(_topic(c) for c in left_out))
            lines += _wrap(f"not measurable here ({len(left_out)} rows, left out above): {'; '.join(names)}."
                           + (f" {settle}" if settle else ""), width)
        lines += [line for note in self.notes for line in _wrap(f"note: {note}", width)]
        return "\n".join(lines)

    def to_json(self) -> str:
        """One JSON document (NaN written as null)."""
        return json.dumps(_finite({"source": self.source, "notes": self.notes,
                                   "claims": [{**c.row(), "value": asdict(c.value)} for c in self.claims]}),
                          ensure_ascii=False)

    def style(self):
        """The table for a notebook: a pandas Styler with each row coloured by its verdict."""
        columns = ["statement", "measured", "control", "paper", "verdict", "seeds"]

        def colour(row):
            return [f"background-color: {VERDICT_COLORS.get(row['verdict'], '')}"] * len(row)

        return self.table[columns].style.apply(colour, axis=1).set_caption(
            f"Claims measured on {self.source} — mean [95 % interval] over seeds")

    def _repr_html_(self) -> str:
        return self.style().to_html()


def _wrap(text: str, width: int, indent: str = "") -> list[str]:
    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False) or [""]


def _topic(claim: Claim) -> str:
    """The claim without its metric: 'DMD beats w/o CA' for the Acc-2, F1 and MAE rows alike."""
    return claim.statement.rsplit(" on ", 1)[0] if claim.claim.startswith("beats/") else claim.statement


def _finite(value):
    """NaN and infinities to None, recursively (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# --------------------------------------------------------------------------- measurements


METRIC_BOUNDS: dict[str, tuple[float, float]] = {"Non0_acc_2": (0.0, 1.0), "Non0_F1_score": (0.0, 1.0),
                                                  "MAE": (0.0, 1e3)}
"""The range of each metric the claims compare (accuracies and F1 as fractions): a run outside it is refused."""


def _check_runs(run_list: Sequence[runs.Run]) -> None:
    """One run per variant and seed, and finite, in-range compared metrics; else a line naming the folders."""
    seen: dict[tuple, runs.Run] = {}
    for run in run_list:
        where = run.path or run.name
        if not isinstance(run.seed, int) or isinstance(run.seed, bool):
            raise ValueError(f"claims: {where}: expected an integer seed in config.json, found {run.seed!r:.40}")
        key = (run.variant, run.seed)
        if key in seen:
            raise ValueError(f"claims: {seen[key].path or seen[key].name} and {where} are both {run.variant} seed "
                             f"{run.seed}; a seed counts once (remove or move the copy)")
        seen[key] = run
        for split, metric in [("test", m) for m in COMPARED] + [("valid", "MAE")]:
            value = run.metrics.get(split, {}).get(metric)
            low, high = METRIC_BOUNDS[metric]
            if not isinstance(value, (int, float)) or not low <= value <= high:   # NaN fails both comparisons
                raise ValueError(f"claims: {where}/metrics.json: {split}.{metric}: expected a finite number in "
                                 f"[{low:g}, {high:g}], found {value!r:.40}")


def _by_seed(run_set: Sequence[runs.Run], variant: str) -> dict[int, runs.Run]:
    return {run.seed: run for run in run_set if run.variant == variant}


def _paired(a: dict[int, float], b: dict[int, float]) -> tuple[list[float], list[float]]:
    seeds = sorted(set(a) & set(b))
    return [a[s] for s in seeds], [b[s] for s in seeds]


def _test_metric(run: runs.Run, metric: str) -> float:
    return float(run.test_metrics.get(metric, math.nan))


def _comparison_claims(run_set) -> list[Claim]:
    dmd = _by_seed(run_set, "dmd")
    claims = []
    uni = {v: _by_seed(run_set, v) for v in UNIMODAL if _by_seed(run_set, v)}
    best_uni = min(uni, key=lambda v: np.mean([r.metrics["valid"]["MAE"] for r in uni[v].values()])) if uni else None
    rivals = [*ABLATIONS, *([best_uni] if best_uni else [])]
    for variant in rivals:
        other = _by_seed(run_set, variant)
        for metric, (title, higher) in COMPARED.items():
            a, b = _paired({s: _test_metric(r, metric) for s, r in dmd.items()},
                           {s: _test_metric(r, metric) for s, r in other.items()})
            value = stats.paired_difference(a, b) if higher else stats.paired_difference(b, a)
            percent = metric != "MAE"
            mean_other = np.mean(b) * (100 if percent else 1) if b else math.nan
            name = label(variant)
            if variant == best_uni:
                name = f"{name} (best unimodal by validation MAE)"
            claims.append(Claim(
                claim=f"beats/{variant}/{title}",
                statement=f"DMD beats {name} on {title}",
                measure=f"DMD − {name} on test {title}" + (" (points)" if percent else "") if higher else
                f"{name} − DMD on test MAE (positive: DMD lower)",
                value=value, control=f"{name}: {mean_other:.{1 if percent else 3}f}" if b else "runs missing",
                paper="DMD better (paper's ablation / unimodal tables)", verdict=stats.verdict(value),
                notebook="04_ablations" if variant in ABLATIONS else "08_paper",
                scale=100.0 if percent else 1.0, places=1 if percent else 3))
    return claims


def _edge_row(run: runs.Run, unit: str, split: str = "test") -> np.ndarray | None:
    edges = run.edges
    if edges is None or edges.empty:
        return None
    rows = edges[(edges["split"] == split) & (edges["unit"] == unit)].set_index("edge")
    if len(rows) != 6:
        return None
    return rows.loc[list(EDGE_LABELS), "mean"].to_numpy(dtype=float)


def _edge_margin(unit: str, values: np.ndarray) -> float:
    """homo: min(L→V, L→A) − max(others); hetero: V→A − max(V→L, A→L, A→V)."""
    e = dict(zip(EDGE_LABELS, values))
    if unit == "homo":
        return min(e["L→V"], e["L→A"]) - max(e["V→L"], e["A→L"], e["A→V"], e["V→A"])
    return e["V→A"] - max(e["V→L"], e["A→L"], e["A→V"])


def _margins(run_set, variant: str, unit: str) -> list[float]:
    """The edge margin of ``unit`` (see :func:`_edge_margin`) of each finished run of ``variant``."""
    rows = (_edge_row(run, unit) for run in _by_seed(run_set, variant).values())
    return [_edge_margin(unit, values) for values in rows if values is not None]


def _edge_claims(run_set, untrained: dict[int, dict]) -> list[Claim]:
    from dmdlab.viz.edges import edge_prior

    claims = []
    statements = {"homo": ("HomoGD: L→V and L→A dominate", "min(L→V, L→A) − max(other edges), test mean"),
                  "hetero": ("HeteroGD: V→A emerges", "V→A − max(V→L, A→L, A→V), test mean")}
    table = paper.SUPPLEMENTARY_EDGES
    for unit, (statement, measure) in statements.items():
        value = stats.mean_interval(_margins(run_set, "dmd", unit))
        controls = []
        first = next(iter(_by_seed(run_set, "dmd").values()), None)
        if first is not None:
            controls.append(f"prior {signed(_edge_margin(unit, edge_prior(first.config['model']['gd'])[unit]), 3)}")
        margins = {variant: _margins(run_set, variant, unit) for variant in variant_names(role="control")}
        controls += [f"{label(variant)} {signed(np.mean(values), 3)}" for variant, values in margins.items() if values]
        init = [u[unit] for u in untrained.values() if u.get(unit) is not None]
        if init:
            controls.append(f"untrained {signed(np.mean([_edge_margin(unit, v) for v in init]), 3)}")
        if not margins["uniform_prior"]:   # the control that decides whether the pattern is learned or the prior's
            controls.append("no uniform-prior runs: the pattern could be the prior's pull, not measurable here")
        reference = np.array([table[unit][edge] for edge in EDGE_LABELS])
        claims.append(Claim(claim=f"edges/{unit}", statement=statement, measure=measure, value=value,
                            control="; ".join(controls), paper=f"{signed(_edge_margin(unit, reference), 3)} (MOSEI, Table 1)",
                            verdict=stats.verdict(value) if margins["uniform_prior"] else stats.NOT_MEASURABLE,
                            notebook="05_edges", places=3))
        # the control that decides whether the pattern is learned: the same model with a uniform prior
        if margins["uniform_prior"]:
            value = stats.mean_interval(margins["uniform_prior"])
            claims.append(Claim(claim=f"edges/{unit}/uniform_prior", statement=f"{statement}, with a uniform prior",
                                measure="the same, DMD trained with a uniform edge prior (what is learned, not put in)",
                                value=value, control="prior 0 (uniform)", paper="not tested in the paper",
                                verdict=stats.verdict(value), notebook="05_edges", places=3))
    return claims


# --------------------------------------------------------------------------- forward passes


def _untrained(run: runs.Run, spec):
    """The model of ``run`` as it was before its first step (same seed, same construction)."""
    from dmdlab.model import DMDConfig, build_model
    from dmdlab.training.trainer import seed_everything

    seed_everything(run.seed)
    return build_model(DMDConfig.from_dict(run.config["model"]), spec).eval()


def _silhouettes(model, split) -> dict[str, float]:
    from dmdlab.viz.separability import FeatureSet, sentiment_classes, silhouette

    features = FeatureSet.from_model(model, split)
    out = {}
    homo = features.points("homo")
    if homo is not None:
        X, _, clip = homo
        keep = features.labels[clip] != 0
        out["homo"] = silhouette(X[keep], sentiment_classes(features.labels, 2)[clip][keep])
    hetero = features.points("hetero")
    if hetero is not None:
        X, modality, _ = hetero
        out["hetero"] = silhouette(X, modality)
    return out


def burst_focus(model, split, *, batch_size: int = 64) -> float:
    """Geometric mean over sentiment words of (attention on the word's burst frames) /
    (mean attention on the other frames it may attend to), in the L←V cross-modal
    transformer, mean over layers and heads. NaN when the split has no ground truth."""
    from dmdlab.viz.collect import forward_batches

    if split.opinion_words is None or split.vision_word is None:
        return math.nan
    shift_l, shift_v = (model.kernels["l"] - 1) // 2, (model.kernels["v"] - 1) // 2
    logs = []
    for batch, output in forward_batches(model, split, batch_size=batch_size, return_attention=True):
        attention = (output.attention or {}).get("v->l")
        if attention is None:
            return math.nan
        weights = attention.float().mean(dim=(0, 2)).numpy()                 # (B, T'_L, T'_V)
        index = batch.index.numpy()
        t_l, t_v = weights.shape[1:]
        opinion = split.opinion_words[index][:, shift_l:shift_l + t_l]       # (B, T'_L) query centre is a sentiment word
        frame_word = split.vision_word[index][:, shift_v:shift_v + t_v]     # (B, T'_V) word shown at each key's centre
        query_word = np.arange(t_l) + shift_l
        burst = frame_word[:, None, :] == query_word[None, :, None]          # (B, T'_L, T'_V)
        allowed = (weights > 0) & (frame_word[:, None, :] >= 0)
        for b, q in zip(*np.nonzero(opinion)):
            on, off = burst[b, q] & allowed[b, q], ~burst[b, q] & allowed[b, q]
            if on.any() and off.any():
                logs.append(math.log(weights[b, q][on].mean() / max(weights[b, q][off].mean(), 1e-12)))
    return math.exp(float(np.mean(logs))) if logs else math.nan


def _untrained_edges(run_set, data) -> dict[int, dict[str, np.ndarray]]:
    """Per DMD seed: the mean test edges of each unit of the model before training."""
    from dmdlab.viz.edges import sample_edges

    return {seed: {unit: v.mean(0) for unit, v in sample_edges(_untrained(run, data.spec), data.splits["test"]).items()}
            for seed, run in _by_seed(run_set, "dmd").items()}


def _model_measures(run_set, data, progress: bool, variants: Sequence[str]) -> dict[str, dict[int, dict]]:
    """Per seed: silhouettes (and, for DMD, burst focus) of the trained ``variants`` and the untrained DMD."""
    from tqdm.auto import tqdm

    split = data.splits["test"]
    measures: dict[str, dict[int, dict]] = {"dmd": {}, "wo_fd": {}, "untrained": {}}
    jobs = [(variant, run) for variant in variants for run in _by_seed(run_set, variant).values()]
    what = "silhouettes and attention" if "wo_fd" in variants else "attention"
    for variant, run in tqdm(jobs, desc=f"claims: {what} over the test split, trained and untrained models",
                             unit="run", disable=not progress):
        model, _ = run.load_model()
        models = {variant: model.eval()}
        if variant == "dmd":
            models["untrained"] = _untrained(run, data.spec)
        for name, m in models.items():
            values = _silhouettes(m, split)
            if name != "wo_fd":
                values["bursts"] = burst_focus(m, split)
            measures[name][run.seed] = values
    return measures


def _space_claims(measures: dict) -> list[Claim]:
    claims = []
    for key, space, statement, paper_text in (
            ("homo/sentiment", "homo", "decoupling: the homogeneous space separates sentiment",
             "t-SNE figure: clusters by emotion with FD"),
            ("hetero/modality", "hetero", "decoupling: the heterogeneous space separates modalities",
             "t-SNE figure: clusters by modality with FD")):
        dmd = {s: v[space] for s, v in measures["dmd"].items() if space in v}
        wo = {s: v[space] for s, v in measures["wo_fd"].items() if space in v}
        init = {s: v[space] for s, v in measures["untrained"].items() if space in v}
        a, b = _paired(dmd, wo)
        value = stats.paired_difference(a, b)
        by = "sentiment (neg/pos)" if space == "homo" else "modality"
        control = (f"DMD {np.mean(a):.3f}, w/o FD {np.mean(b):.3f}" if a else "runs missing") + (
            f", untrained DMD {np.mean(list(init.values())):.3f}" if init else
            "; no untrained control (what the encoders separate before training): not measurable here")
        claims.append(Claim(claim=key, statement=statement,
                            measure=f"silhouette by {by}, test: DMD − w/o FD", value=value, control=control,
                            paper=paper_text, verdict=stats.verdict(value) if init else stats.NOT_MEASURABLE,
                            notebook="06_separability", places=3))
    return claims


def _attention_claim(measures: dict, has_truth: bool, one_key: bool = False) -> Claim:
    """``one_key``: the vision sequence has one step after the temporal conv (utterance-level
    features), so every L←V weight is 1 and the claim cannot be measured, ground truth or not."""
    trained = {s: v.get("bursts", math.nan) for s, v in measures["dmd"].items()}
    init = {s: v.get("bursts", math.nan) for s, v in measures["untrained"].items()}
    a, b = _paired(trained, init)
    ok = [(x, y) for x, y in zip(a, b) if x > 0 and y > 0] if not one_key else []
    value = stats.paired_difference([math.log(x) for x, _ in ok], [math.log(y) for _, y in ok])
    control = (f"focus ×{math.exp(np.mean([math.log(x) for x, _ in ok])):.2f} trained, "
               f"×{math.exp(np.mean([math.log(y) for _, y in ok])):.2f} untrained" if ok else
               "one vision step per clip (utterance-level features): attention over one key is a weight of 1"
               if one_key else
               ("no ground truth in this data (only the built-in data records where the bursts are)"
                if not has_truth else "runs missing"))
    return Claim(claim="attention/bursts", statement="cross-modal attention (L←V) weights the frames of each "
                 "sentiment word's visual burst", measure="log(burst focus trained / untrained), paired by seed",
                 value=value, control=control, paper="attention figure: words attend to the frames that express them",
                 verdict=stats.verdict(value) if has_truth and not one_key else stats.NOT_MEASURABLE,
                 notebook="07_attention", places=2)


CLAIM_VARIANTS: dict[str, tuple[str, ...]] = {group: variant_names(claims=group) for group in CLAIM_GROUPS}
"""The runs each group of claims reads (a claim's key starts with its group): ``Variant.claims`` of the registry."""


def runs_dataset(run_set: Sequence[runs.Run], path: str | Path | None = None):
    """The dataset ``run_set`` was trained on: ``path``, else the file the first run names, loaded with
    the text input its model reads (``text_bert`` token ids with a text encoder, else the features)."""
    from dmdlab.training.resolve import run_data

    try:
        return run_data(run_set[0].config, path)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"claims: {error}") from None


def claims_report(run_set: Sequence[runs.Run], data=None, *, groups: Sequence[str] = tuple(CLAIM_VARIANTS),
                  progress: bool = True, note: str | None = None) -> ClaimsReport:
    """Measure the claims of ``groups`` (default: all, see :data:`CLAIM_VARIANTS`) on ``run_set``.

    ``data`` (an ``MMSADataset``; None loads the file the runs name) is needed for the
    edge, separability and attention claims, which run the models over the test split.
    ``note``: a caveat printed with the report (smoke mode's, say).
    """
    unknown = set(groups) - set(CLAIM_VARIANTS)
    if unknown:
        raise ValueError(f"The 'groups' parameter must hold names from {list(CLAIM_VARIANTS)}. Got {sorted(unknown)}.")
    run_list = [run for run in run_set if run.finished]
    if not run_list:
        raise ValueError("claims: no finished runs.")
    _check_runs(run_list)
    if data is None:
        data = runs_dataset(run_list)
    notes = [note] if note else []
    seeds = sorted({run.seed for run in run_list})
    if len(seeds) < 3:
        notes.append(f"{len(seeds)} seed(s): an interval needs at least 2 seeds and says little with fewer than 3.")
    spaces = set(groups) & {"homo", "hetero", "attention"}
    models = CLAIM_VARIANTS["homo"] if spaces - {"attention"} else CLAIM_VARIANTS["attention"]  # DMD and w/o FD; DMD
    measures = _model_measures(run_list, data, progress, models) if spaces else {"dmd": {}, "wo_fd": {}, "untrained": {}}
    claims: list[Claim] = []
    if "beats" in groups:
        claims += _comparison_claims(run_list)
    if "edges" in groups:
        claims += _edge_claims(run_list, _untrained_edges(run_list, data))
    claims += [c for c in _space_claims(measures) if c.claim.split("/")[0] in groups]
    if "attention" in groups:
        kernel_v = next((run.config["model"]["arch"]["kernel_v"] for run in run_list if run.variant == "dmd"), 1)
        one_key = data.spec.vision_len is not None and data.spec.vision_len <= kernel_v    # T'_V = 1
        claims.append(_attention_claim(measures, data.splits["test"].opinion_words is not None, one_key))
    first = run_list[0]
    epochs = first.config.get("train", {}).get("max_epochs")
    source = (f"{first.config.get('dataset', {}).get('name') or 'in-memory data'}, {len(seeds)} seeds, "
              f"≤{epochs} epochs")
    return ClaimsReport(claims, source, notes)


# --------------------------------------------------------------------------- counterfactual worlds
#
# Two claims real data cannot test: they need the same clips in worlds that differ in one dial
# (dmdlab.data.synth.WORLDS). Runs of one seed share their initialisation and their clips across
# worlds, so differences between worlds are paired by seed.

# The worlds and the runs these claims read: dmdlab.orchestration.workbench.WORLD_VARIANTS.


def _vision_teaching(values: np.ndarray) -> float:
    """mean(V→L, V→A) − mean(L→V, L→A): how much more vision teaches than language in one unit's edges."""
    e = dict(zip(EDGE_LABELS, values))
    return (e["V→L"] + e["V→A"]) / 2 - (e["L→V"] + e["L→A"]) / 2


def _teaching(run_set, variant: str, unit: str) -> dict[int, float]:
    """Per seed: :func:`_vision_teaching` of the mean test edges of ``unit``."""
    rows = {seed: _edge_row(run, unit) for seed, run in _by_seed(run_set, variant).items()}
    return {seed: _vision_teaching(values) for seed, values in rows.items() if values is not None}


def _text(interval: stats.Interval, places: int = 3) -> str:
    return interval.text(places) if interval.n else "runs missing"


def teacher_claims(worlds: dict[str, Sequence[runs.Run]]) -> list[Claim]:
    """*The edges follow the teacher*: with vision made the strongest modality (the vision_strongest world),
    do the learned HomoGD / HeteroGD edges turn toward V→L and V→A? Per unit, for DMD (the
    paper's prior) and for DMD with a uniform prior (nothing put in): the vision-teaching
    margin in the vision world minus the standard world, paired by seed."""
    from dmdlab.orchestration.workbench import TEACHER_WORLD
    from dmdlab.viz.edges import edge_prior

    claims = []
    vision, standard = worlds.get(TEACHER_WORLD, ()), worlds.get("standard", ())
    for unit, name in (("homo", "HomoGD"), ("hetero", "HeteroGD")):
        for variant in variant_names(world=TEACHER_WORLD):
            a, b = _paired(_teaching(vision, variant, unit), _teaching(standard, variant, unit))
            value = stats.paired_difference(a, b)
            first = next(iter(_by_seed(vision, variant).values()), None)
            prior = (f"prior {_vision_teaching(edge_prior(first.config['model']['gd'])[unit]):+.3f} in both worlds"
                     if first is not None else "")
            control = "; ".join(part for part in (
                f"{TEACHER_WORLD} {_text(stats.mean_interval(a))}, standard {_text(stats.mean_interval(b))}", prior)
                if part)
            claims.append(Claim(
                claim=f"worlds/teacher/{unit}/{variant}",
                statement=f"the edges follow the teacher: with vision strongest, {name}'s V→L, V→A gain "
                          f"({label(variant)})",
                measure=f"[mean(V→L, V→A) − mean(L→V, L→A)] of {name}'s test edges, {TEACHER_WORLD} − standard "
                        "world, paired by seed",
                value=value, control=control if a else "runs missing",
                paper="the graph learns who distils into whom (Sec. 3.3); not tested in the paper",
                verdict=stats.verdict(value), notebook="11_worlds", places=3))
    return claims


def decoupling_curve(worlds: dict[str, Sequence[runs.Run]], metric: str = "MAE") -> pd.DataFrame:
    """DMD − w/o FD on test ``metric`` (oriented: positive favours DMD) in each style world, paired by seed:
    one row per world of :data:`STYLE_WORLDS` with the style dial, mean, low, high, n."""
    from dmdlab.data.synth import WORLDS
    from dmdlab.orchestration.workbench import STYLE_WORLDS

    title, higher = COMPARED.get(metric, (metric, True))
    rows = []
    for world in STYLE_WORLDS:
        run_set = worlds.get(world, ())
        dmd = {s: _test_metric(r, metric) for s, r in _by_seed(run_set, "dmd").items()}
        wo = {s: _test_metric(r, metric) for s, r in _by_seed(run_set, "wo_fd").items()}
        a, b = _paired(dmd, wo)
        value = stats.paired_difference(a, b) if higher else stats.paired_difference(b, a)
        scale = 100.0 if metric != "MAE" else 1.0
        rows.append({"world": world, "style": WORLDS[world].style, "metric": title, "mean": value.mean * scale,
                     "low": value.low * scale, "high": value.high * scale, "n": value.n})
    return pd.DataFrame(rows)


def decoupling_claims(worlds: dict[str, Sequence[runs.Run]]) -> list[Claim]:
    """*Decoupling pays where modalities differ*: DMD − w/o FD (test MAE, positive: DMD lower) as the
    modality-exclusive speaker style goes from none to strong, and the change from none to strong."""
    from dmdlab.data.synth import WORLDS
    from dmdlab.orchestration.workbench import STYLE_WORLDS

    claims = []
    gains: dict[str, dict[int, float]] = {}
    for world in STYLE_WORLDS:
        run_set = worlds.get(world, ())
        dmd = {s: _test_metric(r, "MAE") for s, r in _by_seed(run_set, "dmd").items()}
        wo = {s: _test_metric(r, "MAE") for s, r in _by_seed(run_set, "wo_fd").items()}
        gains[world] = {s: wo[s] - dmd[s] for s in sorted(set(dmd) & set(wo))}
        value = stats.mean_interval(list(gains[world].values()))
        claims.append(Claim(
            claim=f"worlds/decoupling/{world}", statement=f"decoupling pays, speaker style ×{WORLDS[world].style:g} "
            f"({world})", measure="w/o FD − DMD on test MAE, paired by seed (positive: DMD lower)", value=value,
            control=f"w/o FD {np.mean([_test_metric(r, 'MAE') for r in _by_seed(run_set, 'wo_fd').values()]):.3f}"
            if value.n else "runs missing",
            paper="DMD better than w/o FD (ablation table)", verdict=stats.verdict(value), notebook="11_worlds",
            places=3))
    a, b = _paired(gains["style_strong"], gains["style_none"])
    value = stats.paired_difference(a, b)
    claims.append(Claim(
        claim="worlds/decoupling/trend", statement="decoupling pays more where modalities differ more (style none → "
        "strong)", measure="(w/o FD − DMD on MAE) with strong style − with none, paired by seed", value=value,
        control=f"gain with no style {np.mean(b):+.3f}, strong {np.mean(a):+.3f}" if a else "runs missing",
        paper="decoupling removes modality heterogeneity (Sec. 3.2); not tested in the paper",
        verdict=stats.verdict(value), notebook="11_worlds", places=3))
    return claims


def world_claims(worlds: dict[str, Sequence[runs.Run]], *, source: str = "", notes: Sequence[str] = ()
                 ) -> ClaimsReport:
    """The two counterfactual claims (:func:`teacher_claims`, :func:`decoupling_claims`) on the runs of
    each named world (``{world: runs}``; unfinished runs are left out)."""
    finished = {world: [run for run in run_set if run.finished] for world, run_set in worlds.items()}
    seeds = sorted({run.seed for run_set in finished.values() for run in run_set})
    worlds_text = ", ".join(f"{world} ({len(run_set)} runs)" for world, run_set in finished.items())
    return ClaimsReport(teacher_claims(finished) + decoupling_claims(finished),
                        source or f"the built-in worlds {worlds_text}, {len(seeds)} seeds", list(notes))


def teaching_frame(worlds: dict[str, Sequence[runs.Run]]) -> pd.DataFrame:
    """The vision-teaching margin [mean(V→L, V→A) − mean(L→V, L→A)] of the test edges, per unit, variant
    (DMD, uniform prior) and world (standard, vision_strongest): mean, 95 % low and high over seeds, n,
    and the prior's margin -- what the teacher figure of notebook 11 draws."""
    from dmdlab.orchestration.workbench import TEACHER_WORLD
    from dmdlab.viz.edges import edge_prior

    rows = []
    for unit in ("homo", "hetero"):
        for variant in variant_names(world=TEACHER_WORLD):
            for world in ("standard", TEACHER_WORLD):
                run_set = worlds.get(world, ())
                value = stats.mean_interval(list(_teaching(run_set, variant, unit).values()))
                first = next(iter(_by_seed(run_set, variant).values()), None)
                prior = (_vision_teaching(edge_prior(first.config["model"]["gd"])[unit]) if first is not None
                         else math.nan)
                rows.append({"unit": unit, "variant": label(variant), "world": world, "mean": value.mean,
                             "low": value.low, "high": value.high, "n": value.n, "prior": prior})
    return pd.DataFrame(rows)
