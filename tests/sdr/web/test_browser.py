"""The live view in headless Chromium: a recording served by `wmbus serve` and received by
`wmbus listen --web` (real processes), and a page fed 500 meters at 10 telegrams a second.

`WMBUS_WEB_SCREENSHOT=1` also writes the first test's screenshot to docs/img/web.png (the one
the README shows); otherwise it goes to the test's temporary directory only.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import urllib.request
from pathlib import Path

import numpy as np

from protocol.decoder import Decoder
from protocol.modes import C1, S1, T1, FrameFormat
from protocol.records import encode_record
from sdr.io.writers import IQWriter
from sdr.sim.stream import ModeFormat, StreamSettings, random_bursts, render_stream
from sdr.web.state import LiveView
from tests.conftest import REPO
from tests.sdr.live_support import decoded_by_file, free_port, serving, wait_for, wmbus_cmd
from tests.sdr.web.support import chromium_page, meter_telegrams, web_server

METERS = 12
SCREENSHOT = REPO / "docs" / "img" / "web.png"
# Pixels of the spectrum canvas that differ from its background (#0d1620): traces, grid, marks.
DRAWN_PIXELS_JS = """() => {
  const c = document.querySelector('#spectrum');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (Math.abs(d[i] - 13) + Math.abs(d[i + 1] - 22) + Math.abs(d[i + 2] - 32) > 30) n++;
  return n;
}"""


def twelve_meters(path: Path) -> Path:
    """12 random meters (T1, C1-A and S1 in turn) 0.1 to 0.2 s apart at 20 dB Ec/N0: 2.1 s."""
    kinds = [ModeFormat(T1, FrameFormat.A), ModeFormat(C1, FrameFormat.A),
             ModeFormat(S1, FrameFormat.A)]
    rng = np.random.default_rng(13)
    settings = StreamSettings.for_modes(kinds, ecn0_db=20.0)
    with IQWriter(path, "cu8") as writer:
        for samples, _ in render_stream(random_bursts(kinds, METERS, rng), settings, rng,
                                        gap_s=(0.1, 0.2)):
            writer.write(samples)
    return path


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_the_page_shows_the_meters_of_a_served_recording(tmp_path: Path) -> None:
    recording = twelve_meters(tmp_path / "meters_868.625M_2400k.cu8")
    expected = {t["meter_id"] for t in decoded_by_file(recording)}
    assert len(expected) == METERS
    port = free_port()
    with serving(tmp_path, recording, extra=("--loop",)) as served:
        err = tmp_path / "listen.err"
        with open(err, "w") as stderr:
            listen = subprocess.Popen(
                wmbus_cmd("listen", "--rtl-tcp", served.address, "--web", f"127.0.0.1:{port}",
                          "--output", tmp_path / "telegrams.txt"),
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr,
            )
        try:
            wait_for(lambda: "live view on" in err.read_text(), 20, "the live view to start")
            with chromium_page() as page:
                page.goto(f"http://127.0.0.1:{port}/")
                # Issue 13's target: at least 10 of the 12 meters within 6 s.
                page.wait_for_function(
                    "document.querySelectorAll('#meters tbody tr').length >= 10", timeout=6000
                )
                check_page(page, port, expected)
                page.screenshot(path=str(tmp_path / "web.png"), full_page=True)
                if os.environ.get("WMBUS_WEB_SCREENSHOT"):
                    page.wait_for_timeout(20000)  # a fuller waterfall for the README
                    page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            listen.terminate()
            listen.wait(20)
    assert "Traceback" not in err.read_text()


def check_page(page, port: int, expected: set[str]) -> None:
    meters = get_json(f"http://127.0.0.1:{port}/api/meters")["meters"]
    listed = {m["meter_id"] for m in meters}
    assert len(listed & expected) >= 10 and listed <= expected
    shown = page.locator("#meters tbody tr td:first-child").all_text_contents()
    assert set(shown) <= expected and len(set(shown)) >= 10
    # Spectrum rows come every 0.2 s of signal; the canvas is drawn from them.
    page.wait_for_function(f"({DRAWN_PIXELS_JS})() > 2000", timeout=10000)
    first = page.locator("#log li").first
    seq = int(first.get_attribute("data-seq"))
    first.click()
    telegram = next(t for t in get_json(f"http://127.0.0.1:{port}/api/telegrams")["telegrams"]
                    if t["seq"] == seq)
    layers = page.locator("#layers").text_content()
    assert layers == telegram["layers"]
    assert f"{telegram['manufacturer']} {telegram['meter_id']}" in layers
    assert "records:" in layers and "radio: t=" in layers
    health = page.locator("#health").text_content()
    assert "sample rate hz" in health and "2.400 Msps" in health


def test_the_page_keeps_up_with_500_meters_at_10_telegrams_a_second() -> None:
    telegrams = meter_telegrams(500)
    view = LiveView((S1, T1, C1))
    stop = threading.Event()

    def feed() -> None:
        for telegram in telegrams:  # every meter once, at once
            view.on_telegram(telegram)
        i = 0
        while not stop.wait(0.1):  # then 10 a second, round the meters
            view.on_telegram(telegrams[i % len(telegrams)])
            i += 1

    feeder = threading.Thread(target=feed, daemon=True)
    with web_server(view) as server, chromium_page() as page:
        feeder.start()
        try:
            page.goto(f"http://127.0.0.1:{server.port}/")
            page.wait_for_function(
                "document.querySelectorAll('#meters tbody tr').length === 500", timeout=30000
            )
            # Interactive while updates keep coming: a click answered, a sort done.
            item = page.locator("#log li").nth(3).element_handle()  # this one, not the 4th
            seq = int(item.get_attribute("data-seq"))
            item.click()
            [entry] = [t for t in view.telegrams()["telegrams"] if t["seq"] == seq]
            assert page.locator("#layers").text_content() == entry["layers"]
            assert page.locator("#log li.selected").get_attribute("data-seq") == str(seq)
            page.locator("#meters th[data-key=telegrams]").click()
            counts = [int(c) for c in page.locator(
                "#meters tbody tr td:nth-child(5)").all_text_contents()]
            assert len(counts) == 500 and counts == sorted(counts, reverse=True)
            last = int(page.locator("#log").get_attribute("data-last-seq"))
            page.wait_for_function(
                f"Number(document.querySelector('#log').dataset.lastSeq) >= {last + 10}",
                timeout=20000,
            )
        finally:
            stop.set()
            feeder.join(5)
    assert view.last_seq >= 510


def test_text_from_the_air_is_shown_as_text(tmp_path: Path) -> None:
    # A plain-text unit (VIF 7C) is whatever the sender wrote: here markup that would run
    # script if the page put it into HTML.
    hostile = '<img src=x onerror="window.pwned=1">'
    record = encode_record(b"\x04", b"\x7c" + bytes([len(hostile)]) + hostile.encode()[::-1], 7)
    [plain] = meter_telegrams(1, seed=5)
    frame = plain.frame.data[:15] + record  # link header and short TPL, then the record
    frame = bytes([len(frame) - 1]) + frame[1:]
    telegram = Decoder({}).decode_hex(frame.hex())
    assert telegram.records[0].unit == hostile
    view = LiveView((T1,))
    view.on_telegram(telegram)
    with web_server(view) as server, chromium_page() as page:
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_function("document.querySelectorAll('#meters tbody tr').length === 1")
        page.locator("#log li").first.click()
        assert hostile in page.locator("#meters tbody").text_content()
        assert hostile in page.locator("#layers").text_content()
        # Parsed as HTML it would be an element (and its handler would set pwned).
        assert page.locator("img").count() == 0
        assert page.evaluate("window.pwned") is None

