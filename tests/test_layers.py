"""Imports run one way: data → model → checkpoints and runs → training (one run) → orchestration
(many runs) → viz → widgets, claims, notebook helpers → command lines → the notebooks and scripts;
no cycle between modules
(function-level imports included) and no private name imported from another package."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "dmdlab"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("modalities", "files", "modes", "costs", "metrics", "stats", "paper"),   # shared constants and pure helpers
    ("data",),
    ("model",),
    ("checkpoint", "runs", "comparison"),                              # a model's and a run's files; tables of runs
    ("training",),                                                     # one run: protocol, trainer, guards
    ("orchestration",),                                                # many runs: experiments, Ray, tune, workbench, bench
    ("viz",),
    ("widgets", "claims", "notebook"),
    ("cli", "__main__"),
    ("notebooks", "scripts"),                                          # users of the package, never imported
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("dmdlab", *path.relative_to(PACKAGE).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for folder in ("notebooks", "scripts"):
        modules.update({f"{folder}.{path.stem}": path for path in (PACKAGE.parent / folder).glob("*.py")})
    return modules


def _imports(modules: dict[str, Path]) -> dict[str, set[tuple[str, str]]]:
    """module → {(imported module, imported name or '')}, every import statement of the file."""
    found: dict[str, set[tuple[str, str]]] = {}
    for module, path in modules.items():
        found[module] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found[module] |= {(alias.name, "") for alias in node.names if alias.name.startswith("dmdlab")}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("dmdlab"):
                for alias in node.names:   # ``from dmdlab.model import losses`` imports the module dmdlab.model.losses
                    submodule = f"{node.module}.{alias.name}"
                    found[module].add((submodule, "") if submodule in modules else (node.module, alias.name))
    return found


def _part(module: str) -> str:
    """The layer part of a module: 'model' for dmdlab.model.dmd, 'runs' for dmdlab.runs, 'scripts'
    for scripts.inference_bound."""
    if not module.startswith("dmdlab"):
        return module.split(".")[0]
    return module.split(".")[1] if "." in module else "dmdlab"


def test_every_module_has_a_layer():
    assert {_part(m) for m in _modules()} - {"dmdlab"} <= set(RANK)


def test_imports_point_down_and_never_at_private_names_of_another_package():
    modules = _modules()
    wrong = []
    for module, imports in _imports(modules).items():
        for target, name in imports:
            if _part(target) == "dmdlab":          # ``import dmdlab`` (the version) is allowed everywhere
                continue
            if _part(module) != "dmdlab" and RANK[_part(target)] > RANK[_part(module)]:
                wrong.append(f"{module} imports {target} (a higher layer)")
            private = [p for p in target.split(".") + [name] if p.startswith("_") and p not in ("__init__", "__main__")]
            if private and _part(target) != _part(module):
                wrong.append(f"{module} imports the private {target}{'.' + name if name else ''}")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycle():
    modules = _modules()
    graph = {module: {target for target, _ in imports if target in modules and target != module}
             for module, imports in _imports(modules).items()}
    state: dict[str, int] = {}   # 1 on the current path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " → ".join(path[path.index(target):] + [target]))
            if target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
