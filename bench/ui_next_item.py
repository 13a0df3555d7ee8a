"""From submit to the next item fully shown (image decoded, frame painted), in the browser.

    .venv/bin/python bench/ui_next_item.py [--items 50]

Seeds a project (every control type, real images) in the bench database, serves it with a live
server thread, and has Debian's Chromium annotate `--items` items with the keyboard. The
workspace marks `submit-N` on Enter and `shown-N` when the next item is on screen; the measure
between them is read with the Performance API. Prints one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._db import machine, setup_django  # noqa: E402

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=50)
    args = parser.parse_args()
    setup_django()
    from django.test.testcases import LiveServerThread, _StaticFilesHandler
    from django.urls import get_resolver
    from playwright.sync_api import sync_playwright

    from tests.browser.data import PASSWORD, seed

    suffix = f"-{int(time.time())}"
    with tempfile.TemporaryDirectory() as tmp:
        data = seed(Path(tmp), n_items=args.items + 5, name=f"ui-bench{suffix}", suffix=suffix)
    get_resolver().url_patterns  # noqa: B018 - import the API before timing anything
    server = LiveServerThread("127.0.0.1", _StaticFilesHandler, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    base = f"http://127.0.0.1:{server.port}"
    user = data["annotators"][0].username
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/login/")
        page.fill("#id_username", user)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        page.goto(f"{base}/projects/{data['project'].pk}/annotate/")
        page.wait_for_function("document.body.dataset.shown === '0'", timeout=60_000)
        for _ in range(args.items):
            seq = page.evaluate("window.arbiterWorkspace.state.seq")
            keys = ["3", "1"]
            if page.evaluate("Boolean(window.arbiterWorkspace.form.cand)"):
                keys += ["1", "2", "1"]
            keys += ["2", "2", "Enter"]
            for key in keys:
                page.keyboard.press(key)
            page.wait_for_function(f"document.body.dataset.shown === '{seq + 1}'")
        durations = page.evaluate(
            "performance.getEntriesByName('next-item').map((m) => m.duration)"
        )
        browser.close()
    server.terminate()
    durations.sort()
    print(
        json.dumps(
            {
                "bench": "ui_next_item",
                "items": len(durations),
                "median_ms": round(statistics.median(durations), 1),
                "p90_ms": round(durations[int(0.9 * (len(durations) - 1))], 1),
                "max_ms": round(durations[-1], 1),
                "target_median_ms": 150,
                "machine": machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
