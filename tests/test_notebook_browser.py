"""The ZoomWidget in a real JupyterLab, driven by headless Debian Chromium through Playwright.

The test starts JupyterLab on 127.0.0.1 (a free port, a temporary folder holding a copy of
notebooks/02_zoom_widget.ipynb), runs the notebook, zooms with the wheel and pans by dragging on
the canvas, then checks that the kernel saw the new view and that a new LIIF image for exactly
that view reached the page. Server, kernel and browser are stopped at the end.
A screenshot goes to the test's temporary folder; with LIIF_UPDATE_DOCS=1 also to docs/jupyter.png.
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from liif_plugin.notebook.view import fit_viewport

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """HTTP calls to the test's JupyterLab: cookies kept, and the _xsrf token sent on writes."""

    def __init__(self, base):
        import http.cookiejar

        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def call(self, path, method="GET", body=None, timeout=10):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        xsrf = next((c.value for c in self.jar if c.name == "_xsrf"), None)
        if xsrf:
            req.add_header("X-XSRFToken", xsrf)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with self.opener.open(req, timeout=timeout) as r:
            text = r.read()
            return r.status, (json.loads(text) if text and path.startswith("/api") else text)


def lab_settings(folder):
    """User settings for the test's JupyterLab: start the notebook's kernel without asking, no news."""
    settings = folder / ".settings"
    for name, values in {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    }.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return settings


def session_kernel(server, notebook):
    """The id of the kernel of the notebook's session on the server, or None."""
    for sess in server.call("/api/sessions")[1]:
        if sess.get("path") == notebook and sess.get("kernel"):
            return sess["kernel"]["id"]
    return None


def warm_kernel(runtime_dir, kernel_id):
    """Wait until the kernel answers and has imported what the notebook needs (a fresh venv's first
    import of torch takes tens of seconds; JupyterLab must never wait on it mid-run)."""
    from jupyter_client import BlockingKernelClient

    conn = Path(runtime_dir) / f"kernel-{kernel_id}.json"
    deadline = time.time() + 60
    while not conn.exists():
        if time.time() > deadline:
            raise RuntimeError(f"kernel {kernel_id} wrote no connection file in {runtime_dir}")
        time.sleep(0.2)
    kc = BlockingKernelClient(connection_file=str(conn))
    kc.load_connection_file()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=300)
        reply = kc.execute_interactive(
            "import torch, skimage.data, liif_plugin.notebook",
            store_history=False,
            timeout=300,
            output_hook=lambda msg: None,
        )
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        kc.stop_channels()


def start_warm_kernel(server, runtime_dir, notebook):
    """Create the notebook's session (kernel python3) through the REST API and warm its kernel, so
    that the page can attach to a ready kernel (and any kernel started later imports from a warm cache)."""
    _, session = server.call(
        "/api/sessions", "POST", {"path": notebook, "name": notebook, "type": "notebook", "kernel": {"name": "python3"}}
    )
    warm_kernel(runtime_dir, session["kernel"]["id"])
    return session["kernel"]["id"]


def settled_kernel(page, server, runtime_dir, notebook, quiet_s=5.0, timeout=300):
    """Wait until JupyterLab has settled on the notebook's kernel, warm that kernel, return its id.

    Settled: no dialog open, the page shows the kernel idle, and the session's kernel id has not
    changed for `quiet_s` seconds. On a brand-new venv JupyterLab was seen to replace the kernel it
    found right after opening the notebook, and to ask "Select Kernel" when a cell ran meanwhile;
    running cells only on a settled, warm kernel takes that race away.
    """
    idle = "() => !!document.querySelector(\".jp-Notebook-ExecutionIndicator[data-status='idle']\")"
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        accept_kernel_dialog(page)
        kernel_id = session_kernel(server, notebook)
        now = time.monotonic()
        if kernel_id != last:
            last, since = kernel_id, now
        elif kernel_id and now - since >= quiet_s and page.evaluate(idle) and not page.locator(".jp-Dialog").count():
            warm_kernel(runtime_dir, kernel_id)
            if session_kernel(server, notebook) == kernel_id:
                return kernel_id
            last, since = None, time.monotonic()  # replaced while warming: settle again
        if now > deadline:
            raise TimeoutError(f"JupyterLab did not settle on a kernel for {notebook} in {timeout} s")
        page.wait_for_timeout(500)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; `make test` installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


NOTEBOOK = "02_zoom_widget.ipynb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server in a temporary folder, with the notebook's kernel started and warm.

    Yields the server (its `base` URL, REST calls) and the folder; kernels and server are stopped at the end.
    """
    folder = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, folder)
    port = free_port()
    runtime = folder / ".runtime"
    env = dict(
        os.environ,
        JUPYTERLAB_WORKSPACES_DIR=str(folder / ".workspaces"),
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTERLAB_SETTINGS_DIR=str(lab_settings(folder)),
    )
    log = open(folder / "server.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--allow-root",
            f"--ServerApp.root_dir={folder}",
            "--LabApp.news_url=None",
        ],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}")
    try:
        deadline = time.time() + 90
        while True:
            try:
                if server.call("/lab")[0] == 200:  # this also sets the _xsrf cookie that writes need
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("JupyterLab did not start:\n" + (folder / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        start_warm_kernel(server, runtime, NOTEBOOK)
        yield server, folder
    finally:
        try:  # stop kernels first so that none outlives the server
            for k in server.call("/api/kernels")[1]:
                server.call(f"/api/kernels/{k['id']}", method="DELETE")
        except OSError:
            pass
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def screenshot(page, folder, name):
    path = folder / name
    page.screenshot(path=str(path))
    if os.environ.get("LIIF_UPDATE_DOCS") == "1":
        shutil.copy(path, ROOT / "docs" / name)
    print(f"screenshot: {path}")


def run_all(page):
    """Run > Run All Cells, again if a kernel that was still starting let the first request go."""
    wait_js(
        page, "() => document.querySelector(\".jp-Notebook-ExecutionIndicator[data-status='idle']\")", timeout=120_000
    )
    started = "() => [...document.querySelectorAll('.jp-InputPrompt')].some(p => /\\[(\\*|\\d+)\\]/.test(p.innerText))"
    for attempt in range(4):
        accept_kernel_dialog(page)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        page.wait_for_timeout(500)
        accept_kernel_dialog(page)
        try:
            page.wait_for_function(started, timeout=15_000)
            return
        except Exception:
            if attempt == 3:
                raise


def accept_kernel_dialog(page):
    """Answer a JupyterLab dialog ("Select Kernel" and the like) with its default; True if there was one.

    The warm kernel and the lab settings should keep it from appearing; if it does, the test goes on.
    """
    dialog = page.locator(".jp-Dialog .jp-mod-accept")
    if not dialog.count():
        return False
    print("answered a JupyterLab dialog:", page.locator(".jp-Dialog").first.inner_text()[:200].replace("\n", " "))
    dialog.first.click()
    page.wait_for_timeout(1000)
    return True


def wait_js(page, expr, arg=None, timeout=120_000, rerun=False):
    """page.wait_for_function that answers any dialog on the way (and with `rerun`, runs the
    notebook again after one, since a dialog can mean the cells ran on a kernel that is gone)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout / 1000
    while True:
        if accept_kernel_dialog(page) and rerun:
            run_all(page)
        try:
            return page.wait_for_function(expr, arg=arg, timeout=2000)
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise


def scale_text(z):
    """A scale as the widget's label writes it (zoom.js fmtScale)."""
    return f"x{z:.2f}" if z < 10 else f"x{z:.1f}"


def cell_output(page, index):
    return page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea-output").inner_text()


def with_zoom_js(browser, script, arg=None):
    """Run `script` ((m, arg) => value, an async arrow taking zoom.js's module) in a blank page; its value."""
    src = (ROOT / "liif_plugin" / "notebook" / "zoom.js").read_bytes()
    url = "data:text/javascript;base64," + base64.b64encode(src).decode()
    page = browser.new_page()
    try:
        return page.evaluate(
            f"async ([url, arg]) => {{ const m = await import(url); return ({script})(m, arg); }}", [url, arg]
        )
    finally:
        page.close()


def test_js_viewport_rule_matches_python(browser):
    """zoom.js repeats view.fit_viewport so the page reacts at once; both must agree."""
    cases = [
        ([10, 10, 20, 20], [100, 200], [64, 64]),
        ([-500, -500, 900, 900], [100, 200], [64, 32]),
        ([-5, 50, 5, 70], [100, 100], [64, 64]),
        ([30, 30, 30.0001, 30.0001], [100, 100], [64, 64]),
        ([3.3, 1.7, 9.1, 40.2], [256, 384], [128, 96]),
    ]
    got = with_zoom_js(browser, "(m, cases) => cases.map(([v, c, s]) => m.fit(v, c[0], c[1], s[0], s[1], 256))", cases)
    for (v, c, s), js in zip(cases, got):
        assert js == pytest.approx(fit_viewport(v, c, s), abs=1e-9)


def test_js_a_frame_is_current_only_for_the_detail_plane_and_model_it_was_rendered_with(browser):
    """After a change of detail, plane or model the label said 'took 2.7 s' (done) while the new frame was
    still rendering: the old frame matched the view. Now it is pending until a frame of the new state."""
    v = [0, 0, 50, 80]
    frame = {"viewport": v, "mode": "liif", "detail": 1.0, "index": [3], "model": "edsr-baseline"}
    now = {"viewport": v, "mode": "liif", "detail": 1.0, "index": [3], "model": "edsr-baseline"}
    cases = [
        (frame, now, True),
        (frame, {**now, "mode": "compare"}, True),  # LIIF and compare show the same frame
        (frame, {**now, "detail": 0.5}, False),
        (frame, {**now, "index": [4]}, False),
        (frame, {**now, "model": "edsr-baseline-photo"}, False),
        (frame, {**now, "viewport": [0, 0, 50, 81]}, False),
        ({"viewport": v, "mode": "liif"}, {**now, "detail": 0.5}, True),  # an older kernel's frame: the view only
        (None, now, False),
    ]
    got = with_zoom_js(browser, "(m, cases) => cases.map(([f, s]) => m.current(f, s))", cases)
    assert got == [want for *_, want in cases]


def test_js_a_stack_slider_says_which_plane_is_shown(browser):
    """zoom.js drawn in a page for a (2, 20)-plane stack: each slider has a 'plane k / n' readout that follows
    the kernel's index (the page's model is a minimal stand-in for anywidget's: traits in, nothing out)."""
    got = with_zoom_js(
        browser,
        """async (m) => {
              const traits = { lead_shape: [2, 20], index: [0, 3], image_shape: [64, 64], viewport: [0, 0, 64, 64],
                height: 128, width: 0, canvas_shape: [128, 128], mode: "liif", detail: 1, model_choices: [],
                model_name: "auto", max_zoom: 64 };
              const hooks = {};
              const model = { get: (k) => traits[k], set: (k, v) => { traits[k] = v; }, save_changes() {}, send() {},
                on: (k, f) => { (hooks[k] = hooks[k] || []).push(f); }, off() {} };
              const el = document.createElement("div");
              document.body.appendChild(el);
              m.default.render({ model, el });
              const read = () => [...el.querySelectorAll(".liif-zoom-index-label")].map((e) => e.textContent);
              const before = read();
              traits.index = [1, 19];
              hooks["change:index"].forEach((f) => f());
              return [before, read()];
            }""",
    )
    assert got == [["axis 0: plane 1 / 2", "axis 1: plane 4 / 20"], ["axis 0: plane 2 / 2", "axis 1: plane 20 / 20"]]


def test_js_label_says_what_each_frame_is(browser):
    """zoom.js's label for every kind of frame the kernel sends, with and without the fields a kernel may
    add (level, reduced, scale): what is on screen, never 'bicubic' for an overview."""
    region = [0, 0, 100, 100]
    cases = [
        ({"layer": "overview", "final": False, "region": [0, 0, 800, 800], "shape": [256, 256]}, "overview"),
        ({"layer": "overview", "level": 3, "final": False, "region": region, "shape": [25, 25]}, "overview (level 3)"),
        # zoomed out: the 'bicubic' final frame of an older kernel is the area-averaged overview
        ({"layer": "bicubic", "final": True, "region": [0, 0, 800, 800], "shape": [256, 256]}, "overview"),
        ({"layer": "bicubic", "final": False, "region": region, "shape": [320, 320]}, "bicubic x3.20"),
        ({"layer": "nearest", "final": True, "region": region, "shape": [320, 320]}, "nearest x3.20"),
        ({"layer": "liif", "final": False, "region": region, "shape": [160, 160]}, "LIIF x1.60, reduced · m"),
        ({"layer": "liif", "final": False, "reduced": True, "scale": 3.2, "region": region, "shape": [160, 160]},
         "LIIF x3.20, reduced · m"),
        ({"layer": "liif", "final": True, "region": region, "shape": [320, 320]}, "LIIF x3.20 · m"),
        ({"layer": "liif", "final": True, "reduced": False, "scale": 13.14, "region": region, "shape": [320, 320]},
         "LIIF x13.1 · m"),
        # a reduced LIIF frame carries its level: LIIF all the same, not an overview
        ({"layer": "liif", "final": False, "reduced": True, "level": 4, "scale": 1.5, "region": region,
          "shape": [150, 150]}, "LIIF x1.50, reduced · m"),
        ({"layer": "liif", "final": True, "reduced": False, "detail": 0.5, "region": region, "shape": [320, 320]},
         "LIIF x3.20 · m · detail 0.5"),
        ({"layer": "liif", "final": True, "reduced": False, "detail": 1, "region": region, "shape": [320, 320]},
         "LIIF x3.20 · m"),
    ]  # fmt: skip
    got = with_zoom_js(browser, "(m, cases) => cases.map(([c]) => m.describe(c, 'm'))", cases)
    assert got == [want for _, want in cases]


@pytest.mark.slow
def test_zoom_and_pan_in_jupyterlab(browser, lab):
    server, folder = lab
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{server.base}/lab/tree/{NOTEBOOK}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        kernel_id = settled_kernel(page, server, folder / ".runtime", NOTEBOOK)
        run_all(page)
        print("cells run on kernel", kernel_id)

        root = page.locator(".liif-zoom").first  # the second widget (an 8000 x 8000 zarr) comes later
        wait_js(page, "() => document.querySelector('canvas.liif-zoom-canvas')", timeout=180_000, rerun=True)
        # The cell that prints what the kernel knows is the third from last (the last two open an
        # 8000 x 8000 zarr in a second widget).
        n_cells = page.locator(".jp-Notebook .jp-Cell").count() - 2
        # The last cell prints what the kernel knows once the first render is done.
        wait_js(
            page,
            "n => document.querySelectorAll('.jp-Notebook .jp-Cell')[n - 1]"
            "?.querySelector('.jp-OutputArea-output')?.innerText.includes('viewport')",
            arg=n_cells,
            timeout=240_000,
        )
        before = cell_output(page, n_cells - 1)
        assert "viewport [20.0, 40.0, 60.0, 100.0]" in before, before
        wait_js(
            page,
            "() => { const r = document.querySelector('.liif-zoom'); return r.dataset.finalLayer === 'liif'"
            " && r.dataset.finalViewport === r.dataset.viewport; }",
            timeout=240_000,
        )
        first_id = int(root.get_attribute("data-final-id"))
        zoom0 = float(root.get_attribute("data-zoom"))
        # What is on screen, in words: the LIIF frame of the view, its scale and the model auto picked.
        assert root.get_attribute("data-label") == f"LIIF {scale_text(zoom0)} · edsr-baseline"
        assert root.get_attribute("data-pending") == "false"
        # Under the image: the model menu (auto, with its pick), the detail slider and the advice line.
        menu = page.locator("select.liif-zoom-model").first
        assert menu.input_value() == "auto"
        assert "auto (edsr-baseline)" in menu.locator("option").all_inner_texts()
        assert page.locator("input.liif-zoom-detail").first.input_value() == "1"
        assert "auto picks 'edsr-baseline'" in page.locator(".liif-zoom-advice").first.inner_text()

        canvas = root.locator("canvas.liif-zoom-canvas")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(cx, cy)
        page.mouse.wheel(0, -360)  # zoom in about the centre
        page.wait_for_timeout(300)
        # While the new view's LIIF frame is pending the label says how long ago the view changed and
        # what the render should take (a LIIF render of 256 x 384 pixels takes seconds on this CPU).
        pending = root.get_attribute("data-time-label")
        assert root.get_attribute("data-pending") == "true" and pending.startswith("view changed "), pending
        assert " ago · LIIF " in pending and ("about" in pending or "roughly" in pending), pending
        screenshot(page, folder, "jupyter-pending.png")
        page.mouse.down()
        for i in range(1, 11):  # drag right and down: the view moves up and left
            page.mouse.move(cx + 6 * i, cy + 3 * i)
            page.wait_for_timeout(20)
        page.mouse.up()

        # A new full LIIF render of exactly the view now on the page.
        wait_js(
            page,
            "id => { const r = document.querySelector('.liif-zoom'); return r.dataset.finalLayer === 'liif'"
            " && +r.dataset.finalId > id && r.dataset.finalViewport === r.dataset.viewport; }",
            arg=first_id,
            timeout=240_000,
        )
        shown = json.loads(root.get_attribute("data-viewport"))
        zoom1 = float(root.get_attribute("data-zoom"))
        assert zoom1 > 1.8 * zoom0  # exp(0.72) ~ 2.05
        # Zooming about the centre kept the centre (40, 70); the drag of (+30, +60) CSS pixels then
        # moved the view up and left by that many pixels over the zoom (device pixel ratio 1).
        centre = ((shown[0] + shown[2]) / 2, (shown[1] + shown[3]) / 2)
        assert centre == pytest.approx((40 - 30 / zoom1, 70 - 60 / zoom1), abs=0.3)
        assert json.loads(root.get_attribute("data-final-shape")) == [round(box["height"]), round(box["width"])]
        assert root.locator(".liif-zoom-frame").inner_text() == f"LIIF {scale_text(zoom1)} · edsr-baseline"
        assert root.locator(".liif-zoom-time").inner_text().startswith("took ")  # since the view changed

        # The kernel saw it: run the last cell again and read what it prints.
        page.locator(".jp-Notebook .jp-Cell").nth(n_cells - 1).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        wait_js(
            page,
            "([n, old]) => { const o = document.querySelectorAll('.jp-Notebook .jp-Cell')[n - 1]"
            ".querySelector('.jp-OutputArea-output'); return o && o.innerText.includes('viewport')"
            " && o.innerText !== old; }",
            arg=[n_cells, before],
            timeout=120_000,
        )
        after = cell_output(page, n_cells - 1)
        seen = json.loads(re.search(r"viewport (\[[^\]]*\])", after).group(1))
        assert seen == pytest.approx(shown, abs=2e-3)
        assert seen != pytest.approx([20.0, 40.0, 60.0, 100.0], abs=0.5)
        assert "last liif" in after

        no_news = page.locator(".jp-toast-button", has_text="No")  # JupyterLab's news question
        if no_news.count():
            no_news.first.click()
        canvas.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        screenshot(page, folder, "jupyter.png")

        # Compare mode from its button: LIIF left of the divider, bicubic right, for the same view; the
        # LIIF frame on the page serves it as it is (nothing is rendered again).
        last_id = int(root.get_attribute("data-final-id"))
        images = int(root.get_attribute("data-images"))
        root.locator(".liif-zoom-mode[data-mode='compare']").click()
        wait_js(page, "() => document.querySelector('.liif-zoom').dataset.mode === 'compare'")
        page.wait_for_timeout(1500)  # room for a render that should not come
        assert root.get_attribute("data-pending") == "false"
        assert int(root.get_attribute("data-final-id")) == last_id and int(root.get_attribute("data-images")) == images
        assert json.loads(root.get_attribute("data-final-viewport")) == pytest.approx(shown, abs=1e-6)
        screenshot(page, folder, "jupyter-compare.png")
        root.locator(".liif-zoom-mode[data-mode='liif']").click()

        # The model menu: another model renders the view again, and the label names it.
        menu.select_option("edsr-baseline-denoise")
        wait_js(
            page,
            "id => { const r = document.querySelector('.liif-zoom'); return r.dataset.finalLayer === 'liif'"
            " && +r.dataset.finalId > id && r.dataset.label.endsWith('· edsr-baseline-denoise'); }",
            arg=last_id,
            timeout=240_000,
        )
        assert (
            "model 'edsr-baseline-denoise' (auto would pick 'edsr-baseline')"
            in page.locator(".liif-zoom-advice").first.inner_text()
        )
        menu.select_option("auto")

        # Double-click shows the whole image (128x128 fitted in 256 px: x2); "+" zooms in by 1.25.
        canvas.dblclick()
        wait_js(page, "() => document.querySelector('.liif-zoom').dataset.zoom === '2.0000'")
        page.keyboard.press("+")
        wait_js(page, "() => document.querySelector('.liif-zoom').dataset.zoom === '2.5000'")

        # The second widget shows an 8000 x 8000 zarr: wheel-zoom into its far (bottom-right) corner
        # until LIIF renders it. The image is fitted to the 256 px height, centred in 384 px.
        big = page.locator(".liif-zoom").nth(1)
        big.scroll_into_view_if_needed()
        wait_js(page, "() => document.querySelectorAll('.liif-zoom')[1]?.dataset.finalLayer", timeout=240_000)
        # zoomed out: the area-averaged overview, said so (with the level it comes from)
        assert big.get_attribute("data-label").startswith("overview")
        box = big.locator("canvas.liif-zoom-canvas").bounding_box()
        for _ in range(6):  # 2.05x each: from x0.032 to about x2.4, each time about the corner
            y0, x0, y1, x1 = json.loads(big.get_attribute("data-viewport"))
            px = min(max((7996 - x0) / (x1 - x0), 0.0), 0.99) * box["width"]
            py = min(max((7996 - y0) / (y1 - y0), 0.0), 0.99) * box["height"]
            page.mouse.move(box["x"] + px, box["y"] + py)
            page.mouse.wheel(0, -360)
            page.wait_for_timeout(250)
        try:
            wait_js(
                page,
                "() => { const r = document.querySelectorAll('.liif-zoom')[1]; if (r.dataset.finalLayer !== 'liif')"
                " return false; const v = JSON.parse(r.dataset.viewport), f = JSON.parse(r.dataset.finalViewport);"
                " return v.every((a, i) => Math.abs(a - f[i]) < 1e-6) && v[2] > 7800 && v[3] > 7800"
                " && +r.dataset.zoom > 1; }",
                timeout=240_000,
            )
        except Exception:
            print(
                "second widget:",
                page.evaluate("() => JSON.stringify(document.querySelectorAll('.liif-zoom')[1].dataset)"),
            )
            raise
        screenshot(page, folder, "jupyter-big-corner.png")
    except Exception:
        page.screenshot(path=str(folder / "failure.png"))  # what the page looked like, for the report
        print(f"failure screenshot: {folder / 'failure.png'}")
        raise
    finally:
        page.close()
