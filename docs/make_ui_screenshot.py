"""Make docs/gallery/ui.png, the README's picture of the web app, with a real result.

Starts ``dropgan ui`` on a free local port, opens it in headless Chromium (Playwright with
the system's Chromium: Debian's ``chromium`` package, or ``$DROPGAN_CHROMIUM``), uploads a
photograph from the test fixtures, runs Generate with the default parameters (four
samples), and saves a screenshot of the page with the result.

    .venv/bin/python docs/make_ui_screenshot.py [--out docs/gallery/ui.png]

Needs the ui extra and Playwright: ``pip install 'dropgan[ui]' playwright`` and
``apt-get install chromium``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "tests" / "fixtures" / "sigd16" / "1.jpg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium() -> str:
    path = os.environ.get("DROPGAN_CHROMIUM") or shutil.which("chromium")
    if not path:
        sys.exit("make_ui_screenshot: no Chromium (apt-get install chromium, or DROPGAN_CHROMIUM)")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "gallery" / "ui.png")
    parser.add_argument("-n", type=int, default=4, help="samples to generate (default: 4)")
    args = parser.parse_args(argv)

    from playwright.sync_api import expect, sync_playwright

    from dropgan.ui import launch

    server = launch(port=_free_port(), block=False, quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=_chromium(), headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(300_000)
            page.goto(server.url)
            page.locator("#generate-image input[type=file]").set_input_files(str(PHOTO))
            page.locator("#generate-n input").fill(str(args.n))
            start = time.perf_counter()
            page.locator("#generate-run").click()
            expect(page.locator("#status")).to_contain_text("Done", timeout=300_000)
            page.wait_for_timeout(1500)  # the gallery's images finish loading
            page.evaluate("document.activeElement && document.activeElement.blur()")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
        print(
            f"wrote {args.out} ({time.perf_counter() - start:.0f} s for the run and the shot)",
            file=sys.stderr,
        )
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
