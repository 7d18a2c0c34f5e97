"""The web app in a real browser: headless Chromium driven by Playwright.

Upload a photograph and generate; paint a hole with the mouse and inpaint it; Stop a long
run; upload a text file; and no request of the page may leave the local server.

Playwright's own browser download does not work everywhere: the tests use the system's
Chromium (Debian's ``chromium`` package, or ``$DROPGAN_CHROMIUM``), and skip, saying why,
when it or Playwright is missing.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image

import dropgan
from dropgan.pyramid import resize

pytest.importorskip("gradio", reason="the ui extra is not installed (pip install 'dropgan[ui]')")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)

pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


def _chromium() -> str | None:
    path = os.environ.get("DROPGAN_CHROMIUM")
    if path:
        return path if os.access(path, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM = _chromium()
if CHROMIUM is None:
    pytest.skip(
        "no Chromium: apt-get install chromium (or set DROPGAN_CHROMIUM to a Chromium binary)",
        allow_module_level=True,
    )

MAGENTA = (255, 0, 255)
TIMEOUT = 60_000  # ms, for runs on a busy machine
REQUESTS: list[str] = []  # every request of every page of this module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    from dropgan.ui import launch

    srv = launch(port=_free_port(), block=False, quiet=True)
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    context.on("request", lambda r: REQUESTS.append(r.url))
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT)
    pg.goto(server.url)
    pg.wait_for_selector("#generate-image")
    yield pg
    context.close()


@pytest.fixture(scope="module")
def small_file(tmp_path_factory, photo_path):
    """A real photograph (SIGD16 #1) at 96x64, as a user's PNG file."""
    path = tmp_path_factory.mktemp("upload") / "small.png"
    dropgan.write_image(resize(dropgan.read_image(photo_path), (64, 96)).clamp(0, 1), path)
    return path


def _tab(page, task: str) -> None:
    page.locator(f"#tab-{task}-button").click()


def _fast(page, task: str) -> None:
    """GPNN's quick settings: one step per level, exact search."""
    page.locator(f"#{task}-params").get_by_text("engine parameters").click()
    page.locator(f"#tab-{task} #gpnn-iters input").fill("1")
    page.locator(f"#tab-{task} #gpnn-nn").locator("input, textarea").first.fill("exact")


def _upload(page, elem_id: str, path, width: int) -> None:
    """Upload ``path`` into an image input and wait until the page shows it (a run started
    before that would take the previous image)."""
    page.locator(f"#{elem_id} input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        f"document.querySelector('#{elem_id} img')?.naturalWidth === {width}", timeout=TIMEOUT
    )


def _status(page, pattern: str) -> str:
    status = page.locator("#status")
    sync_api.expect(status).to_contain_text(re.compile(pattern), timeout=TIMEOUT)
    return status.inner_text()


def _download(page, name: str) -> np.ndarray:
    link = page.locator(f"#downloads a[download='{name}']").first
    body = page.request.get(link.get_attribute("href")).body()
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def test_upload_generate_and_see_the_image(page, small_file):
    _upload(page, "generate-image", small_file, 96)
    _fast(page, "generate")
    page.locator("#generate-run").click()
    _status(page, r"Done: 1 image")
    shown = page.locator("#results img").first
    sync_api.expect(shown).to_be_visible()
    assert shown.evaluate("img => img.complete && img.naturalWidth") == 96
    assert _download(page, "small_0.png").shape == (64, 96, 3)
    sync_api.expect(page.locator("#info")).to_contain_text("dropgan generate small.png")


def test_paint_a_hole_with_the_mouse_and_inpaint_it(page, small_file):
    _tab(page, "inpaint")
    editor = page.locator("#inpaint-image")
    canvas = editor.locator("canvas").first
    sync_api.expect(canvas).to_be_visible()  # the editor is ready: an upload before is lost
    page.wait_for_timeout(300)
    editor.locator("input[type=file]").set_input_files(str(small_file))
    sync_api.expect(editor).not_to_contain_text("Upload an image")  # the photo is drawn
    page.wait_for_timeout(300)
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 40, y)
    page.mouse.down()
    for k in range(4):  # few moves: each one redraws the canvas in software WebGL
        page.mouse.move(x - 40 + 25 * k, y + 6 * (k % 2))
    page.mouse.up()
    _fast(page, "inpaint")
    page.locator("#inpaint-run").click()
    _status(page, r"Done: 1 image")
    given = _download(page, "inpaint_image.png")  # the image as the API got it
    near = lambda a: np.abs(a.astype(int) - MAGENTA).max(-1) <= 60  # noqa: E731
    assert near(given).sum() >= 50  # the painted hole, in the steering colour
    output = _download(page, "inpaint_image_inpaint.png")
    assert output.shape == given.shape
    assert not near(output).any()  # filled with the photo's own patches: no magenta left


def test_stop_a_long_run_and_the_page_recovers(page, small_file):
    _upload(page, "generate-image", small_file, 96)
    page.locator("#generate-n input").fill("64")  # a minute or more: 64 samples, every step
    page.locator("#generate-params").get_by_text("engine parameters").click()
    page.locator("#tab-generate #gpnn-nn").locator("input, textarea").first.fill("exact")
    page.locator("#generate-run").click()
    sync_api.expect(page.locator("#results")).to_contain_text(re.compile(r"sample \d+/64"))
    page.locator("#stop").click()
    _status(page, r"Stopped after")
    assert page.locator("#results img").count() == 0  # nothing half-made is shown
    # the page takes the next run at once
    page.locator("#generate-n input").fill("1")
    page.locator("#tab-generate #gpnn-iters input").fill("1")
    page.locator("#generate-run").click()
    _status(page, r"Done: 1 image")


def test_a_text_file_gets_a_message_not_a_traceback(page, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list")
    page.locator("#generate-image input[type=file]").set_input_files(str(notes))
    sync_api.expect(page.get_by_text(re.compile("Invalid file type"))).to_be_visible()
    disguised = tmp_path / "holiday.png"  # passes the page's file-type filter
    disguised.write_text("not an image at all")
    page.locator("#generate-image input[type=file]").set_input_files(str(disguised))
    text = _status(page, "is not an image file")
    assert text.startswith("⚠️ holiday.png is not an image file") and "Traceback" not in text
    sync_api.expect(page.locator("#generate-image img")).to_have_count(0)  # removed again


def test_no_request_leaves_the_local_server(page, server):
    for task in ("retarget", "analogy", "inpaint", "collage", "edit", "generate"):
        _tab(page, task)
        page.wait_for_timeout(300)  # each tab's components load their code on first view
    page.wait_for_timeout(1000)  # (no "network idle": the page keeps its event stream open)
    local = urlsplit(server.url).netloc
    assert len(REQUESTS) > 20  # the recorder saw the page's assets
    away = sorted(
        {u for u in REQUESTS if urlsplit(u).scheme not in ("data", "blob")}
        - {u for u in REQUESTS if urlsplit(u).netloc == local}
    )
    assert away == []
