"""The sample shop picks up edits of its pages and pricing without a restart."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from healloop.stack import free_port
from tests.support import ROOT, wait_until


def test_the_shop_reloads_edited_pages(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shutil.copytree(ROOT / "examples" / "shop" / "shop", shop / "shop")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "shop.server", "--port", str(port)], cwd=shop,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def page() -> str:
        try:
            return httpx.get(url + "/", timeout=5).text
        except httpx.TransportError:
            return ""

    try:
        assert 'data-testid="checkout"' in wait_until(page, timeout=20, what="the shop to answer")
        pages = shop / "shop" / "pages.py"
        pages.write_text(pages.read_text().replace('data-testid="checkout"', 'data-testid="pay"'))
        wait_until(lambda: 'data-testid="pay"' in page(), timeout=20, what="the edited page")
        pricing = shop / "shop" / "pricing.py"
        pricing.write_text(pricing.read_text().replace("if s in PRODUCTS)", "if s in PRODUCTS) + 1"))
        total = wait_until(lambda: "$12.51" in (t := httpx.get(url + "/checkout?items=tea", timeout=5).text)
                           and t, timeout=20, what="the edited total")
        assert "$12.51" in total
    finally:
        proc.terminate()
        proc.wait(10)
