"""The install paths agree: environment.yml pins exactly what pyproject.toml pins."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + project["optional-dependencies"]["dev"]


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _pip_section(env: dict) -> list[str]:
    sections = [item["pip"] for item in env["dependencies"] if isinstance(item, dict) and "pip" in item]
    assert len(sections) == 1, f"environment.yml: expected one 'pip:' list, found {len(sections)}"
    return sections[0]


def test_environment_yml_pins_what_pyproject_pins():
    pip = [line for line in _pip_section(_environment()) if not line.startswith("-")]
    assert sorted(pip) == sorted(_pyproject_requirements())


def test_environment_yml_has_only_python_and_pip_from_conda():
    conda = [item for item in _environment()["dependencies"] if isinstance(item, str)]
    assert [re.split(r"[=<>]", name)[0] for name in conda] == ["python", "pip"]


@pytest.mark.parametrize("source", ["pyproject.toml", "environment.yml"])
def test_torch_is_pinned_exactly(source):
    # A range (or a bare 'torch') resolves to a newer release plus gigabytes of CUDA wheels.
    text = (ROOT / source).read_text()
    # requirement lines only: '"torch==2.13.0",' in pyproject, '- torch==2.13.0' in environment.yml
    pins = re.findall(r'^\s*(?:-\s*|")torch\b([^"\n]*)', text, flags=re.MULTILINE)
    assert pins and all(pin.strip() == "==2.13.0" for pin in pins), f"{source}: torch pins {pins}"


def test_editable_install_of_the_package_in_environment_yml():
    assert "-e ." in _pip_section(_environment())
