"""Helpers for the live-view tests: telegrams of many meters, an in-process server, headless
Chromium. No tests here."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from protocol.decoder import Decoder
from protocol.telegram import Telegram
from sdr.sim.telegrams import random_telegram
from sdr.web.server import WebServer
from sdr.web.state import LiveView
from tests.conftest import require_program
from tests.sdr.live_support import free_port

# What the brief prescribes for Debian's chromium in a container: no sandbox (root), no GPU,
# nothing fetched from the network by the browser itself.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def meter_telegrams(count: int, seed: int = 1) -> list[Telegram]:
    """Decoded plaintext telegrams of ``count`` distinct random meters (the simulator's)."""
    rng = np.random.default_rng(seed)
    decoder = Decoder({})
    out: dict[str, Telegram] = {}
    while len(out) < count:
        telegram = decoder.decode_hex(random_telegram(rng).hex())
        assert isinstance(telegram, Telegram)
        out.setdefault(f"{telegram.meter_address.manufacturer}.{telegram.meter_id}", telegram)
    return list(out.values())


@contextmanager
def web_server(view: LiveView) -> Iterator[WebServer]:
    server = WebServer(view, "127.0.0.1", free_port())
    server.start()
    try:
        yield server
    finally:
        server.close()


@contextmanager
def chromium_page() -> Iterator:
    """A Playwright page in Debian's headless Chromium with a fresh profile."""
    binary = require_program("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=binary, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
            # The page's CSP forbids eval, which Playwright's wait_for_function polls with.
            bypass_csp=True,
        )
        try:
            yield context.new_page()
        finally:
            context.close()
