"""The real-browser test: JupyterLab + Debian's Chromium (Playwright) on notebooks 05, 06, 07 in class mode.

A person opening a notebook gets class mode (``MODE = "class"``), which reads its runs from
dmdlab's cache. The module first fills that cache the way the notebooks read it
(``dmdlab.notebook.setup("class", dataset=...)``: DMD, w/o FD and the two edge-prior
controls with two seeds), on the built-in *tiny* data: a few minutes on two cores, where the
MOSI-size data takes minutes per run. The notebooks are served with their parameters cell
pointing ``DATASET`` at that file, ``SEEDS = 2`` and ``MODE = "class"`` kept.

One JupyterLab server (127.0.0.1, a token, its own settings: news and update checks off,
their pop-up covers the page and tries the network) and one Chromium serve the three
notebooks. For each, one helper opens it, waits for the kernel to be really idle, runs all
cells, waits for the notebook's explorer (ipywidgets controls above a plotly FigureWidget),
picks another option in one of its dropdowns and checks, in the page, that the plot's data
changed and that its drawn titles now name the choice. It also checks that the figures
carry no smoke-mode caveat and that nothing was trained or rewritten in the cache. In 05 it
also checks the epoch-slider explorer after Run All: both figures hold data (it once showed
empty axes) and the slider redraws them. A screenshot of each explorer is saved to
``artifacts/browser_<notebook>.png`` (git-ignored; ``browser_05_edges_epochs.png`` for the slider).

Needs ``/usr/bin/chromium`` (``make browser`` / ``scripts/install-browser.sh`` installs it);
skipped with a message when it is absent. Never ``playwright install``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from processes import stop

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
RUN_ALL_TIMEOUT_MS = 300_000  # 06 fits t-SNE and UMAP (numba's first compile) before its explorer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run `make browser` "
                       "(scripts/install-browser.sh, needs root and apt-get) to enable the real-browser test"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@dataclass(frozen=True)
class Check:
    """Which control of a notebook's explorer to move, and what its plot's titles say before and after.

    In ``before`` and ``after``, ``{first}`` is the label of the dropdown's first option (selected
    when the notebook opens) and ``{option}`` that of the option picked.
    """

    notebook: str     # file name in notebooks/
    control: str      # the description of an ipywidgets Dropdown of the explorer
    option: int       # the option to pick
    before: str       # drawn before the change, gone after
    after: str        # drawn after the change


CHECKS = [
    Check("05_edges.ipynb", "sample", 3, "edges of {first}", "edges of {option}"),            # SampleEdgesExplorer
    Check("06_separability.ipynb", "colour by", 2, "silhouette by class", "silhouette by modality"),  # SeparabilityExplorer
    Check("07_attention.ipynb", "sample", 3, "sample 0 ({first})", "sample 3 ({option})"),    # AttentionExplorer
]

# What the user sees of a plotly figure: its data, and the drawn text of its title and
# subplot titles (a title plotly hands to MathJax is hidden: that one does not count).
PLOT_STATE = """el => ({data: JSON.stringify(el.data),
                       drawn: [...el.querySelectorAll('.gtitle, .annotation-text')]
                           .filter(t => getComputedStyle(t).display !== 'none').map(t => t.textContent).join(' | ')})"""
RETITLED = f"""([el, before, after]) => {{ const drawn = ({PLOT_STATE})(el).drawn;
                                          return drawn.includes(after) && !drawn.includes(before); }}"""
REDRAWN = f"([el, data]) => ({PLOT_STATE})(el).data !== data"  # titles and data can land in two steps
TRACEBACK = "Traceback (most recent call last)"
SEEDS = 2  # seeds of the prepared cache (the notebooks' SEEDS is set to match): enough for the claims to compute


@pytest.fixture(scope="module")
def class_cache(tiny_dataset_path, dmdlab_home):
    """The class-mode runs notebooks 05-07 read, trained into the session's cache; yields the
    tiny dataset's path (the notebooks' ``DATASET``) and the run folder."""
    from dmdlab.notebook import setup

    started = time.monotonic()
    bench = setup("class", dataset=tiny_dataset_path, seeds=SEEDS)  # the notebooks' own call: the same folder rule
    assert bench.out.is_relative_to(dmdlab_home), bench.out
    # what the views and the claims beside them read: DMD, w/o FD (06's control without
    # decoupling) and the two edge-prior controls (05), every seed; two runs at once
    bench.runs(["dmd", "wo_fd", "uniform_prior", "no_edge_reg"], progress=False)
    print(f"class-mode cache for the browser test: {time.monotonic() - started:.1f} s")
    return tiny_dataset_path, bench.out


def _class_mode_copy(notebook: Path, folder: Path, dataset: Path) -> None:
    """Copy ``notebook`` into ``folder`` with its parameters cell set to read ``dataset`` (class mode kept)."""
    import nbformat

    content = nbformat.read(notebook, as_version=4)
    cell = next(c for c in content.cells if "parameters" in c.metadata.get("tags", []))
    assert 'MODE = "class"' in cell.source, f"{notebook.name}: the parameters cell no longer sets MODE = \"class\""
    cell.source, found = re.subn(r"^DATASET = .*$", f"DATASET = {str(dataset)!r}", cell.source, flags=re.M)
    assert found == 1, f"{notebook.name}: expected one `DATASET = ...` line in the parameters cell"
    cell.source, found = re.subn(r"^SEEDS = .*$", f"SEEDS = {SEEDS}", cell.source, flags=re.M)
    assert found == 1, f"{notebook.name}: expected one `SEEDS = ...` line in the parameters cell"
    nbformat.write(content, folder / notebook.name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url: str, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{url}/api/{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="module")
def jupyterlab(class_cache, dmdlab_home):
    """One JupyterLab server on 127.0.0.1 serving class-mode copies of the notebooks of ``CHECKS``;
    yields (base url, token). Stopped by its pid; its folders are removed."""
    dataset, _ = class_cache
    with tempfile.TemporaryDirectory(prefix="dmdlab-browser-", ignore_cleanup_errors=True) as temp:
        temp = Path(temp)
        root, settings = temp / "root", temp / "app-settings"
        root.mkdir()
        settings.mkdir()
        for check in CHECKS:
            _class_mode_copy(NOTEBOOKS / check.notebook, root, dataset)
        (settings / "overrides.json").write_text(json.dumps(
            {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}))
        token, port = secrets.token_hex(16), _free_port()
        env = {**os.environ, **THREADS, "HOME": str(temp / "home"), "JUPYTER_CONFIG_DIR": str(temp / "config"),
               "JUPYTER_RUNTIME_DIR": str(temp / "runtime"), "DMDLAB_HOME": str(dmdlab_home)}
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
                   f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                   f"--LabApp.app_settings_dir={settings}", f"--LabApp.user_settings_dir={temp / 'user-settings'}",
                   f"--LabApp.workspaces_dir={temp / 'workspaces'}"]
        log_path = temp / "jupyterlab.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
            url = f"http://127.0.0.1:{port}"
            try:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        _api(url, token, "status")
                        break
                    except OSError:
                        if server.poll() is not None or time.monotonic() > deadline:
                            pytest.fail(f"JupyterLab did not start:\n{log_path.read_text()[-3000:]}")
                        time.sleep(0.5)
                yield url, token
            finally:
                stop(server, timeout=20)  # the server shuts its kernels down on SIGTERM


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium (a fresh profile, removed afterwards) for the module."""
    with tempfile.TemporaryDirectory(prefix="dmdlab-chromium-", ignore_cleanup_errors=True) as profile, \
            sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1800})
        try:
            yield context
        finally:
            context.close()


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def _run_all(page, url: str, token: str, notebook: str) -> None:
    """Open ``notebook`` alone in a fresh JupyterLab workspace (the default one would reopen
    the notebooks of the earlier tests) and run all its cells once the kernel is ready."""
    page.goto(f"{url}/lab/workspaces/{Path(notebook).stem}/tree/{notebook}?token={token}")
    # The status bar says "Python 3 (ipykernel) | Idle" only once the kernel is ready;
    # an earlier idle marker appears while it is still starting (Run All would do nothing).
    page.locator("#jp-main-statusbar").get_by_text("| Idle").wait_for()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def _check_epoch_explorer(page) -> None:
    """05's epoch-slider explorer after Run All: both its figures have data and titles (it
    once showed two empty axes), and the slider redraws the heatmaps for another epoch."""
    label = page.locator(".widget-label").filter(has_text=re.compile("^epoch$"))
    explorer = page.locator(".widget-vbox").filter(has=page.locator(".widget-slider").filter(has=label)).last
    plots = explorer.locator(".js-plotly-plot")
    plots.last.wait_for()
    assert plots.count() == 2, f"the epoch explorer should hold two figures, found {plots.count()}"
    states = [plots.nth(i).evaluate(PLOT_STATE) for i in range(2)]
    for name, state in zip(("heatmaps", "evolution"), states):
        assert state["data"] not in ("[]", "") and ('"z"' in state["data"] or '"y"' in state["data"]), \
            f"the epoch explorer's {name} figure is empty after Run All"
    epochs = re.findall(r"graph edges at epoch (\d+)", states[0]["drawn"])
    assert epochs, f"the heatmaps' title names no epoch: {states[0]['drawn'][:300]}"
    explorer.scroll_into_view_if_needed()
    explorer.locator(".widget-slider [role=slider], .widget-slider .noUi-handle").first.focus()
    page.keyboard.press("ArrowLeft")
    earlier = f"graph edges at epoch {int(epochs[0]) - 1}"
    page.wait_for_function(RETITLED, arg=[plots.first.element_handle(), f"graph edges at epoch {epochs[0]}", earlier])
    page.wait_for_timeout(500)
    explorer.screenshot(path=str(ARTIFACTS / "browser_05_edges_epochs.png"))


@pytest.mark.parametrize("check", CHECKS, ids=[c.notebook.split(".")[0] for c in CHECKS])
def test_explorer_responds_in_jupyterlab(check, class_cache, jupyterlab, browser):
    from dmdlab.modes import SMOKE_NOTE

    url, token = jupyterlab
    _, runs_folder = class_cache
    cached = _files(runs_folder)
    ARTIFACTS.mkdir(exist_ok=True)
    started = time.monotonic()
    page = browser.new_page()
    page.set_default_timeout(60_000)
    try:
        _run_all(page, url, token, check.notebook)
        label = page.locator(".widget-label").filter(has_text=re.compile(f"^{re.escape(check.control)}$"))
        control = page.locator(".widget-dropdown").filter(has=label).locator("select")
        error = page.locator(".jp-OutputArea-output").filter(has_text=TRACEBACK)
        control.or_(error).first.wait_for(timeout=RUN_ALL_TIMEOUT_MS)
        assert not error.count(), f"{check.notebook} failed in JupyterLab:\n{error.first.inner_text()[-3000:]}"
        explorer = page.locator(".widget-vbox").filter(has=control)
        plot = explorer.locator(".js-plotly-plot").first
        plot.wait_for()
        plot.scroll_into_view_if_needed()
        before = plot.evaluate(PLOT_STATE)
        assert before["data"] != "[]", "the explorer's figure is empty"

        options = [" ".join(o.split()) for o in control.locator("option").all_text_contents()]  # ipywidgets pads with U+00A0
        labels = {"first": options[0], "option": options[check.option]}
        was, expected = check.before.format(**labels), check.after.format(**labels)
        assert was in before["drawn"], (was, before["drawn"])
        control.select_option(index=check.option)
        page.wait_for_function(RETITLED, arg=[plot.element_handle(), was, expected])
        try:
            page.wait_for_function(REDRAWN, arg=[plot.element_handle(), before["data"]], timeout=15_000)
        except sync_api.TimeoutError:
            pytest.fail(f"{check.notebook}: the titles changed but the plotted data did not (15 s)")
        assert SMOKE_NOTE not in page.locator(".jp-Notebook").text_content(), "class mode drew the smoke caveat"

        explorer.evaluate("el => el.scrollIntoView({block: 'center'})")  # whole, not under the toolbar
        page.wait_for_timeout(500)  # let plotly finish drawing before the picture
        explorer.screenshot(path=str(ARTIFACTS / f"browser_{check.notebook.split('.')[0]}.png"))
        if check.notebook == "05_edges.ipynb":
            _check_epoch_explorer(page)
    finally:
        page.close()
        for session in _api(url, token, "sessions"):  # free the kernel's memory for the next notebook
            _api(url, token, f"sessions/{session['id']}", method="DELETE")
    assert _files(runs_folder) == cached, "the notebook trained or rewrote runs: class mode must read the prepared cache"
    print(f"{check.notebook}: {time.monotonic() - started:.1f} s in the browser")
