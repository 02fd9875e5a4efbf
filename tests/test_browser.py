"""The real-browser test: JupyterLab + Debian's Chromium (Playwright) on notebook 07.

JupyterLab runs on 127.0.0.1 with a token, from a temporary folder with its own settings
(news and update checks off: their pop-up covers the page and tries the network). The test
opens ``07_attention.ipynb``, waits for the kernel to be really idle, runs all cells, waits
for the attention explorer (ipywidgets controls above a plotly FigureWidget), picks another
clip in the sample dropdown and checks that the heatmap's data and title changed. A
screenshot is saved to ``artifacts/browser_07_attention.png`` (git-ignored).

Needs ``/usr/bin/chromium`` (``make browser`` / ``scripts/install-browser.sh`` installs it);
skipped with a message when it is absent. Never ``playwright install``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "07_attention.ipynb"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run `make browser` "
                       "(scripts/install-browser.sh, needs root and apt-get) to enable the real-browser test"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on 127.0.0.1 serving a copy of notebook 07; yields (base url, token)."""
    root, home = tmp_path / "root", tmp_path / "home"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    settings = tmp_path / "app-settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(json.dumps(
        {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}))
    token, port = secrets.token_hex(16), _free_port()
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "NUMBA_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               f"--LabApp.app_settings_dir={settings}", f"--LabApp.user_settings_dir={tmp_path / 'user-settings'}",
               f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}"]
    log = open(tmp_path / "jupyterlab.log", "wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


PLOT_STATE = """el => JSON.stringify({title: el.layout && el.layout.title && el.layout.title.text,
                                     drawn: [...el.querySelectorAll('.gtitle')]
                                       .filter(t => getComputedStyle(t).display !== 'none')
                                       .map(t => t.textContent).join(' ') || null,
                                     z: el.data && el.data[0] && el.data[0].z})"""


def test_attention_explorer_responds_in_jupyterlab(jupyterlab, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, token = jupyterlab
    started = time.monotonic()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{url}/lab/tree/{NOTEBOOK.name}?token={token}")
            # The status bar says "Python 3 (ipykernel) | Idle" only once the kernel is ready;
            # an earlier idle marker appears while it is still starting (Run All would do nothing).
            page.locator("#jp-main-statusbar").get_by_text("| Idle").wait_for()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

            # the explorer: a "sample" dropdown above a FigureWidget heatmap
            sample = page.locator(".widget-dropdown").filter(has_text="sample").locator("select")
            sample.wait_for()
            explorer = page.locator(".widget-vbox").filter(has=sample).locator(".js-plotly-plot").first
            explorer.wait_for()
            explorer.scroll_into_view_if_needed()
            before = json.loads(explorer.evaluate(PLOT_STATE))
            assert before["z"] and "sample 0" in before["title"]

            sample.select_option(index=3)
            page.wait_for_function(
                "([el, old]) => el.layout.title.text !== old", arg=[explorer.element_handle(), before["title"]])
            after = json.loads(explorer.evaluate(PLOT_STATE))
            assert "sample 3" in after["drawn"] and "$_$" in after["drawn"]  # drawn as written (no LaTeX)
            assert "sample 3" in after["title"] and after["z"] != before["z"]
            page.wait_for_timeout(500)  # let plotly finish drawing before the picture
            explorer.screenshot(path=str(ARTIFACTS / "browser_07_attention_plot.png"))
            sample.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "browser_07_attention.png"))
        finally:
            context.close()
    print(f"browser test: {time.monotonic() - started:.1f} s after the server was up")
