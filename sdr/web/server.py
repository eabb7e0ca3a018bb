"""The live view's web server: the page, its JSON endpoints and a WebSocket of updates, run by
aiohttp on an asyncio loop in a thread of its own, so the receiver's loop stays as it is.

Framework choice (issue 13: by measured latency and install size). Measured on this machine
(2 cores, shared), a JSON endpoint of 50 bytes, 2,500 keep-alive GET requests in a row from
``http.client``, the server a process of its own, three runs each:
- aiohttp 3.14: median 134-201 µs (p99 239-406 µs); wheels 3.2 MB (10 packages), installed
  14.0 MB; WebSocket server built in.
- Starlette 1.10 + uvicorn 0.54: median 191-216 µs (p99 308-591 µs); wheels 0.59 MB
  (7 packages), installed 5.1 MB, plus the ``websockets`` package (0.23 MB) for WebSocket.
aiohttp answers faster and needs nothing else for WebSocket; its runner API binds in the
caller's control (a port in use is an ``OSError`` here, not a log line and an exit inside the
server), which is what running it in a thread needs. It costs 9 MB more on disk.

Every request must name this server as its ``Host`` (loopback names when bound to loopback),
and a browser's ``Origin`` must be that same host: a web page elsewhere cannot read the meters
through the user's browser (DNS rebinding, cross-site WebSocket).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import threading
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from sdr.errors import UserError
from sdr.io.addresses import format_host_port, parse_host_port
from sdr.web.state import LiveView, parse_since

DEFAULT_HOST = "127.0.0.1"
PUSH_INTERVAL_S = 0.25  # the page is updated four times a second, whatever the telegram rate
MAX_CLIENTS = 32  # WebSocket connections at once; more are refused (503)
SEND_TIMEOUT_S = 10.0  # a page that takes no update for this long is disconnected
START_TIMEOUT_S = 10.0
LOOPBACK_NAMES = ("localhost",)
STATIC = resources.files("sdr.web") / "static"
STATIC_FILES = {
    "/": ("index.html", "text/html"),
    "/app.js": ("app.js", "text/javascript"),
    "/style.css": ("style.css", "text/css"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def parse_web_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` (IPv6 as ``[::1]:PORT``) -> (host, port); UserError when malformed."""
    if text.isascii() and text.isdigit():
        text = f"{DEFAULT_HOST}:{text}"
    host, port = parse_host_port(text, 0)
    if port == 0:
        raise UserError(f"{text!r}: expected [HOST:]PORT")
    return host, port


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, ensure_ascii=True, separators=(",", ":"), default=str),
        status=status,
        content_type="application/json",
    )


def _bad_request(reason: str) -> web.Response:
    return _json({"error": reason}, status=400)


class WebServer:
    """Serves ``view``; ``start()`` binds (UserError with one line when it cannot) and returns
    the address, ``close()`` ends it. Runs its asyncio loop in a daemon thread."""

    def __init__(self, view: LiveView, host: str, port: int) -> None:
        self.view = view
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="web", daemon=True)
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()  # open pages, removed on close
        self.refused = 0  # WebSocket connections refused over MAX_CLIENTS

    @property
    def address(self) -> str:
        return format_host_port(self.host, self.port)

    def start(self) -> str:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            future.result(START_TIMEOUT_S)
        except OSError as exc:
            self._stop_loop()
            # asyncio rewrites the message; the errno says it plainly.
            # (A name that does not resolve has a negative errno: its own text says it.)
            reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else (
                exc.strerror or str(exc))
            raise UserError(f"--web {self.address}: cannot listen ({reason})") from None
        return f"http://{self.address}/"

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/api/meters", self._meters)
        app.router.add_get("/api/telegrams", self._telegrams)
        app.router.add_get("/api/spectrum", self._spectrum)
        app.router.add_get("/api/health", self._health)
        app.router.add_get("/ws", self._websocket)
        for path in STATIC_FILES:
            app.router.add_get(path, self._static)
        app.on_shutdown.append(self._close_sockets)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]  # the chosen one for port 0

    def close(self) -> None:
        if self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            future.result(START_TIMEOUT_S)
            self._runner = None
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_TIMEOUT_S)
        self._loop.close()

    # -- requests ------------------------------------------------------------------------

    def _allowed_host(self, host: str | None) -> bool:
        if not host:  # without it aiohttp would look up this machine's name, blocking the loop
            return False
        try:
            name = urlsplit(f"//{host}").hostname or ""
        except ValueError:  # "[" and the like
            return False
        if is_loopback(self.host):
            return is_loopback(name)
        return True  # served to the network on purpose: any name that reaches it

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if not self._allowed_host(request.headers.get("Host")):
            return web.Response(status=421, text="unknown host name\n")
        if origin is not None and _netloc(origin) != request.host:
            return web.Response(status=403, text="cross-origin requests are not served\n")
        response = await handler(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    async def _static(self, request: web.Request) -> web.Response:
        name, content_type = STATIC_FILES[request.path]
        body = (STATIC / name).read_bytes()
        return web.Response(body=body, content_type=content_type, charset="utf-8")

    async def _meters(self, request: web.Request) -> web.Response:
        return _json({"meters": self.view.meters(), "last_seq": self.view.last_seq})

    async def _telegrams(self, request: web.Request) -> web.Response:
        values = request.query.getall("since", [])
        if len(values) > 1:
            return _bad_request("since must be given once")
        try:
            since = parse_since(values[0] if values else None)
        except ValueError as exc:
            return _bad_request(str(exc))
        return _json(self.view.telegrams(since))

    async def _spectrum(self, request: web.Request) -> web.Response:
        return _json(self.view.spectrum())

    async def _health(self, request: web.Request) -> web.Response:
        return _json(self.health())

    def health(self) -> dict[str, Any]:
        return {**self.view.health(), "pages_refused": self.refused}

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if len(self._sockets) >= MAX_CLIENTS:
            self.refused += 1
            return web.Response(status=503, text="too many live pages open\n")
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096)
        # Counted from before the handshake, so two pages cannot both take the last place.
        self._sockets.add(ws)
        pusher: asyncio.Task[None] | None = None
        try:
            await ws.prepare(request)
            pusher = asyncio.create_task(self._push(ws))
            async for message in ws:  # the page sends nothing; this notices it closing
                if message.type is WSMsgType.ERROR:
                    break
        finally:
            if pusher is not None:
                pusher.cancel()
            self._sockets.discard(ws)
        return ws

    async def _push(self, ws: web.WebSocketResponse) -> None:
        """Everything new since the last update, every PUSH_INTERVAL_S: a page that was away
        (or slow) gets one bigger update, never an unbounded queue."""
        view, seq, row = self.view, 0, -1
        while not ws.closed:
            update: dict[str, Any] = {"health": self.health()}
            if view.last_seq > seq:
                update["telegrams"] = view.telegrams(seq)
                update["meters"] = view.meters(seq)
                seq = update["telegrams"]["last_seq"]
            spectrum = view.spectrum(row)
            if spectrum["rows"]:
                update["spectrum"] = spectrum
                row = spectrum["rows"][-1]["index"]
            try:
                await asyncio.wait_for(ws.send_str(json.dumps(update, default=str)), SEND_TIMEOUT_S)
            except (TimeoutError, ConnectionError):
                await ws.close()
                return
            await asyncio.sleep(PUSH_INTERVAL_S)

    async def _close_sockets(self, app: web.Application) -> None:
        for ws in list(self._sockets):
            await ws.close()


def _netloc(url: str) -> str | None:
    """The host and port of an Origin header; None for one that does not parse."""
    try:
        return urlsplit(url).netloc
    except ValueError:
        return None
