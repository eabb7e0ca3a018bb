"""The live view's server on loopback: JSON endpoints, hostile requests, the WebSocket, and
`wmbus listen --web` option errors (real processes)."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request

import aiohttp
import pytest

from protocol.modes import T1
from protocol.report import telegram_to_dict
from sdr.errors import UserError
from sdr.web.server import MAX_CLIENTS, WebServer, is_loopback, parse_web_address
from sdr.web.state import LiveView
from tests.sdr.live_support import free_port, wmbus
from tests.sdr.web.support import meter_telegrams, web_server


def request(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                    timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def served():
    view = LiveView((T1,))
    telegrams = meter_telegrams(3)
    for telegram in telegrams:
        view.on_telegram(telegram)
    with web_server(view) as server:
        yield f"http://127.0.0.1:{server.port}", telegrams


def test_the_endpoints_give_the_json_lines_fields(served) -> None:
    base, telegrams = served
    status, body = request(f"{base}/api/telegrams?since=1")
    assert status == 200
    log = json.loads(body)
    assert [t["seq"] for t in log["telegrams"]] == [2, 3]
    assert log["telegrams"][0]["frame_hex"] == telegram_to_dict(telegrams[1])["frame_hex"]
    meters = json.loads(request(f"{base}/api/meters")[1])["meters"]
    assert [m["meter_id"] for m in meters] == [t.meter_id for t in telegrams]
    assert json.loads(request(f"{base}/api/spectrum")[1]) == {"rows": []}  # no samples yet
    assert json.loads(request(f"{base}/api/health")[1])["samples"] == 0


@pytest.mark.parametrize("since", ["-1", "abc", "1e9", "%00", "9" * 40, "1&since=2"])
def test_hostile_since_values_are_a_400_with_a_reason(served, since: str) -> None:
    base, _ = served
    status, body = request(f"{base}/api/telegrams?since={since}")
    assert status == 400
    assert json.loads(body)["error"].startswith("since must")


def test_the_page_and_its_assets_are_served_from_the_package(served) -> None:
    base, _ = served
    status, page = request(f"{base}/")
    assert status == 200 and b'<script src="/app.js"' in page
    for asset in ("/app.js", "/style.css"):
        assert request(f"{base}{asset}")[0] == 200
    assert request(f"{base}/static/../server.py")[0] == 404
    with urllib.request.urlopen(f"{base}/", timeout=10) as response:
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_other_sites_cannot_read_it_through_a_browser(served) -> None:
    base, _ = served
    # DNS rebinding: a foreign name resolving to 127.0.0.1.
    assert request(f"{base}/api/meters", {"Host": "attacker.example"})[0] == 421
    # A page of another origin asking (fetch, WebSocket).
    assert request(f"{base}/api/meters", {"Origin": "http://attacker.example"})[0] == 403
    same = base.removeprefix("http://")
    assert request(f"{base}/api/meters", {"Origin": f"http://{same}"})[0] == 200
    assert request(f"{base}/api/meters", {"Host": f"localhost:{same.split(':')[1]}"})[0] == 200



@pytest.mark.parametrize(("headers", "status"), [
    ({"Host": "["}, 421), ({"Host": "[::1"}, 421),
    ({"Origin": "http://["}, 403), ({"Origin": "http://[::1"}, 403),
])
def test_headers_that_do_not_parse_are_refused_not_an_error(served, headers, status) -> None:
    base, _ = served
    assert request(f"{base}/api/meters", headers)[0] == status


def test_a_request_without_a_host_is_refused(served) -> None:
    base, _ = served
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"GET /api/meters HTTP/1.0\r\n\r\n")
        status_line = conn.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.split()[1] == b"421"


def test_the_websocket_sends_what_the_page_needs(served) -> None:
    base, telegrams = served

    async def first_update() -> dict:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{base}/ws") as ws:
            return json.loads(await ws.receive_str(timeout=10))

    update = asyncio.run(first_update())
    assert [t["seq"] for t in update["telegrams"]["telegrams"]] == [1, 2, 3]
    assert {m["meter_id"] for m in update["meters"]} == {t.meter_id for t in telegrams}
    assert "samples" in update["health"]


def test_a_port_in_use_is_a_one_line_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=rf"^--web 127\.0\.0\.1:{port}: cannot listen \("):
            WebServer(LiveView((T1,)), "127.0.0.1", port).start()
        done = wmbus("listen", "--rtl-tcp", "127.0.0.1:9", "--web", str(port))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"wmbus listen: error: --web 127.0.0.1:{port}: cannot listen (Address already in use)"
    ]


@pytest.mark.parametrize("text", ["abc", "0", "70000", "host:", ":80", "[::1", "1.2.3.4:x"])
def test_bad_web_addresses_are_one_line_errors(text: str) -> None:
    with pytest.raises(UserError):
        parse_web_address(text)


def test_addresses_and_loopback() -> None:
    assert parse_web_address("8080") == ("127.0.0.1", 8080)
    assert parse_web_address("[::1]:8080") == ("::1", 8080)
    assert parse_web_address("0.0.0.0:80") == ("0.0.0.0", 80)
    assert [is_loopback(h) for h in ("127.0.0.1", "127.3.4.5", "::1", "localhost")] == [True] * 4
    assert [is_loopback(h) for h in ("0.0.0.0", "192.168.1.2", "::", "example.org")] == [False] * 4


def test_a_network_host_is_warned_about() -> None:
    port = free_port()
    # The rtl_tcp server is absent, so listen stops right after starting the view.
    done = wmbus("listen", "--rtl-tcp", "127.0.0.1:9", "--web", f"0.0.0.0:{port}")
    assert "Traceback" not in done.stderr
    assert (f"wmbus listen: warning: --web 0.0.0.0:{port} serves the meters to the network"
            in done.stderr)


def test_pages_over_the_limit_are_refused_and_counted() -> None:
    async def connect_all(base: str) -> int:
        async with aiohttp.ClientSession() as session:
            pages = [await session.ws_connect(f"{base}/ws") for _ in range(MAX_CLIENTS)]
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"{base}/ws")
            for page in pages:
                await page.close()
            return refused.value.status

    with web_server(LiveView((T1,))) as server:
        assert asyncio.run(connect_all(f"http://127.0.0.1:{server.port}")) == 503
        assert server.health()["pages_refused"] == 1
        # Closed pages give their places back at once (page reloads must not use them up).
        assert asyncio.run(connect_all(f"http://127.0.0.1:{server.port}")) == 503
        assert server.health()["pages_refused"] == 2
