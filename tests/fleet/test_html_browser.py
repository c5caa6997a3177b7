"""fleet.html in headless Chromium (offline): a non-trivial screenshot, and the page's script
really builds the drill-down from its data without running anything hostile."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from rdma_preflight.reports import fleet
from tests.fleet.synth import record, synthetic_doc

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="Chromium not installed (apt-get install -y chromium)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PWN = "<img src=x onerror=\"document.title='pwned'\">"


def browse(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = [BROWSER, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def png_info(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed (still filtered) image data of a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return w, h, zlib.decompress(idat)


@pytest.fixture
def page(tmp_path, doc) -> Path:
    extra = ("net.extra", "An extra check with a hostile summary", "net", False)
    doc["results"].append(record("gpu-001", extra, "warn", None, summary=PWN))
    fleet.render_fleet(doc, tmp_path / "rep")
    return tmp_path / "rep" / "fleet.html"


def test_screenshot_is_non_trivial(tmp_path, page):
    shot = tmp_path / "fleet.png"
    r = browse(tmp_path, page.as_uri(), f"--screenshot={shot}", "--window-size=1400,900")
    assert shot.exists(), r.stderr[-2000:]
    w, h, raw = png_info(shot)
    assert (w, h) == (1400, 900)
    assert shot.stat().st_size > 30_000                       # a blank page is a few KB
    assert len(set(raw[:: 97])) > 40                          # many distinct values, not one flat colour


def test_drill_down_built_by_the_script(tmp_path, page):
    r = browse(tmp_path, page.as_uri() + "#node=gpu-002&check=qos.ecn", "--dump-dom", "--virtual-time-budget=5000")
    dom = r.stdout
    assert '<aside id="panel" class="on">' in dom, r.stderr[-2000:]
    panel = dom.split('<aside id="panel"')[1].split("</aside>")[0]
    assert "<h2>gpu-002</h2>" in panel and "qos.ecn — fail" in panel
    assert "<b>fail · rail2 (ens2f0np0)</b>" in panel and "any rail not listed: pass" in panel
    for text in ("qos.ecn as designed", "qos.ecn differs", "fix qos.ecn"):   # expected / found / fix
        assert text in panel
    assert "<title>rdma-preflight fleet report</title>" in dom                # hostile markup never ran
    assert 'id="count">14 of 14 nodes shown<' in dom


def test_hostile_text_shown_as_text(tmp_path, page):
    dom = browse(tmp_path, page.as_uri() + "#node=gpu-001", "--dump-dom", "--virtual-time-budget=5000").stdout
    panel = dom.split('<aside id="panel"')[1].split("</aside>")[0]
    assert "net.extra — warn" in panel
    assert "&lt;img src=x onerror=\"document.title='pwned'\"&gt;" in panel and "<img" not in dom
    assert "<title>rdma-preflight fleet report</title>" in dom


def test_filters_by_outcome_and_node(tmp_path, page):
    dom = browse(tmp_path, page.as_uri() + "#outcome=bad&q=gpu", "--dump-dom", "--virtual-time-budget=5000").stdout
    assert 'id="count">3 of 14 nodes shown<' in dom                            # gpu-002, gpu-003, gpu-err
    dom = browse(tmp_path, page.as_uri() + "#outcome=v", "--dump-dom", "--virtual-time-budget=5000").stdout
    assert 'id="count">1 of 14 nodes shown<' in dom


@pytest.mark.slow
def test_five_thousand_nodes_render(tmp_path):
    """A SYNTHETIC 5,000-node document: the page loads and the script runs over every row."""
    names = [f"gpu-{i:05d}" for i in range(5000)]
    doc = synthetic_doc(names, lambda n, c, r: "fail" if n.endswith("7") and c == "qos.ecn" and r == "rail2" else "pass")
    fleet.render_fleet(doc, tmp_path / "big")
    page = tmp_path / "big" / "fleet.html"
    dom = browse(tmp_path, page.as_uri() + "#outcome=f", "--dump-dom", "--virtual-time-budget=20000").stdout
    assert 'id="count">500 of 5000 nodes shown<' in dom
