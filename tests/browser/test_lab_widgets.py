"""The notebooks with widgets, opened and run in JupyterLab in a real browser: every widget must
render (a broken widget shows "Error displaying widget", or its raw text such as ``Output()`` when
the widget manager is missing or mismatched; nbval, which runs kernels without a browser, sees none
of that).

JupyterLab serves copies of the notebooks from a temporary folder, with its settings and workspaces
there too: running them in the browser never writes outputs into ``notebooks/`` (autosave) nor into
the user's own JupyterLab settings. Kernels inherit ``CLOTHLIB_FAST`` from the caller (CI: fast).
"""
from __future__ import annotations

import json
import secrets
import shutil
import time
import urllib.request

import pytest
from browsing import REPO, free_port, server, venv_tool, wait_until

NOTEBOOKS = ["01_ccp_dataset_and_relabeling.ipynb", "03_dense_crf.ipynb", "06_retrieval.ipynb",
             "07_end_to_end_demo.ipynb"]
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
RUN_TIMEOUT = 900  # seconds for one notebook, fast mode on a loaded 2-core machine

# Every cell rendered (JupyterLab 4 otherwise renders only the cells in view), no autosave.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}

# The state of the current notebook: kernel status, code cells run, errors, widget outputs.
STATE = """
const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
if (!panel || !panel.content || !panel.sessionContext || !panel.sessionContext.session) return null;
const kernel = panel.sessionContext.session.kernel;
const cells = panel.content.widgets.filter(c => c.model.type === 'code');
const outputs = cells.map(c => c.model.outputs.toJSON());
return {
  kernel: kernel ? kernel.status : null,
  path: panel.context.path,
  cells: cells.length,
  run: cells.filter(c => c.model.executionCount !== null).length,
  busy: cells.filter(c => c.promptNode && c.promptNode.textContent.includes('*')).length,
  errors: outputs.flatMap((o, i) => o.filter(x => x.output_type === 'error')
                                     .map(x => i + ': ' + x.ename + ': ' + x.evalue)),
  widgets: outputs.flat().filter(x => x.data && x.data['""" + WIDGET_MIME + """']).length,
};
"""

# What the page shows of the widgets. A widget output is an lm-Panel output area holding the widget's
# view; one whose widget was closed (a finished tqdm progress bar, say) is hidden, as intended.
RENDERED = r"""
const areas = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')];
const raw = /^\s*(Output|[A-Z][A-Za-z]*Box|[A-Z][A-Za-z]*(Slider|Buttons|Dropdown|Upload|Checkbox|Text|HTML))\(/;
const panels = areas.filter(a => a.classList.contains('lm-Panel'));
const views = panels.filter(a => !a.classList.contains('lm-mod-hidden')
                                 && a.querySelector(':scope > .jupyter-widgets'));
return {
  errors: areas.filter(a => a.innerText.includes('Error displaying widget')).length
        + document.querySelectorAll('.jupyter-widgets-error-widget').length,
  raw: areas.filter(a => raw.test(a.innerText)).map(a => a.innerText.slice(0, 80)),
  views: views.length,
  closed: panels.filter(a => a.classList.contains('lm-mod-hidden')).length,
  empty: views.filter(v => v.offsetHeight === 0 || v.offsetWidth === 0).length,
  images: [...document.querySelectorAll('.jp-Notebook .jupyter-widgets img')].filter(i => i.naturalWidth > 0).length,
};
"""


@pytest.fixture(scope="module")
def lab(browser, out_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    for name in NOTEBOOKS:
        shutil.copy(REPO / "notebooks" / name, root / name)
    home = tmp_path_factory.mktemp("lab-home")
    for name, values in SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    command = [venv_tool("jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly", "--LabApp.news_url=",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    env = {"JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "JUPYTER_CONFIG_DIR": str(home / "config")}
    with server(command, f"{base}/api/status?token={token}", out_dir / "jupyterlab.log", env=env):
        yield base, token


def shut_down_kernels(base: str, token: str) -> None:
    """Every kernel of the server, so the next notebook has the memory to itself."""
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=30) as response:
        kernels = json.load(response)
    for kernel in kernels:
        request = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(request, timeout=60).close()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab_and_every_widget_renders(browser, lab, out_dir, name):
    base, token = lab
    browser.get(f"{base}/lab/tree/{name}?token={token}")
    state = wait_until(lambda: (s := browser.execute_script(STATE)) and s["path"] == name and s["kernel"] == "idle"
                       and s, 180, f"{name}: JupyterLab never showed the notebook with an idle kernel")
    started = time.monotonic()
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def finished():
        state = browser.execute_script(STATE)
        if state["errors"]:
            return state
        return state if state["run"] == state["cells"] and not state["busy"] and state["kernel"] == "idle" else None

    state = wait_until(finished, RUN_TIMEOUT, f"{name} did not finish running in JupyterLab", interval=1.0)
    seconds = time.monotonic() - started
    assert not state["errors"], f"{name}: cells failed in JupyterLab: {state['errors']}"
    assert state["widgets"] >= 1, f"{name} shows no widget: is it still on the list of notebooks with widgets?"
    # the widget views render asynchronously after the kernel is idle
    try:
        shown = wait_until(lambda: (r := browser.execute_script(RENDERED))["views"] + r["closed"] >= state["widgets"]
                           and r, 60, f"{name}: {state['widgets']} widget outputs, not as many widget views")
    finally:
        browser.execute_script("const v = document.querySelector('.jp-OutputArea-output > .jupyter-widgets');"
                               "if (v) v.scrollIntoView({block: 'center'});")
        browser.save_screenshot(str(out_dir / f"lab_{name.removesuffix('.ipynb')}.png"))
    print(f"\n{name}: {state['cells']} cells in {seconds:.0f} s, {state['widgets']} widget outputs, "
          f"{shown['views']} views shown ({shown['closed']} closed: progress bars), {shown['images']} images inside "
          "widgets")
    assert shown["errors"] == 0, f"{name}: 'Error displaying widget' in the page"
    assert not shown["raw"], f"{name}: widgets shown as raw text (no widget manager?): {shown['raw']}"
    assert shown["views"] >= 1 and shown["empty"] == 0, f"{name}: {shown['empty']} widget views have no size"
    shut_down_kernels(base, token)
