"""Access control of a served dashboard (the README's control-room settings): basic auth with a signed
cookie, and a websocket-origin allow-list.  No browser needed: plain HTTP and a websocket handshake."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from .conftest import serve, stop

pytestmark = pytest.mark.timeout(300)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("auth")
    users = tmp / "users.json"
    users.write_text(json.dumps({"shifter": "correct horse battery staple"}))
    proc, url = serve(tmp, env={"KAMDASH_PRODUCER": "external"},
                      extra=["--liveness", "--basic-auth", str(users), "--cookie-secret", "x" * 48])
    yield url
    stop(proc)


def _status(opener, url, data=None) -> tuple[int, str]:
    try:
        r = opener.open(url, data=data, timeout=60)
        return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location", "")


def _login(base, password):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    root = base.rsplit("/", 1)[0]
    code, where = _status(opener, root + "/login",
                          urllib.parse.urlencode({"username": "shifter", "password": password}).encode())
    return opener, jar, code, where


def test_unauthenticated_requests_are_sent_to_the_login_page(auth_server):
    opener = urllib.request.build_opener(_NoRedirect)
    code, where = _status(opener, auth_server)
    assert code == 302 and "/login" in where
    opener, jar, code, where = _login(auth_server, "wrong password")
    assert not any(c.name == "user" for c in jar)  # no session cookie for a wrong password
    assert _status(opener, auth_server)[0] == 302


def test_login_opens_the_app_and_a_foreign_origin_is_refused(auth_server):
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    opener, jar, code, _ = _login(auth_server, "correct horse battery staple")
    code, page = _status(opener, auth_server)
    assert code == 200 and "KamDash" in page
    token = re.search(r'"token":"([^"]+)"', page).group(1)
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    host = urllib.parse.urlsplit(auth_server).netloc
    ws = f"ws://{host}/app/ws"

    async def handshake(origin: str):
        req = HTTPRequest(ws, headers={"Origin": origin, "Cookie": cookie,
                                       "Sec-WebSocket-Protocol": f"bokeh, {token}"})
        try:
            conn = await websocket_connect(req)
        except HTTPClientError as exc:
            return exc.code
        conn.close()
        return "open"
    assert asyncio.run(handshake("http://evil.example.org")) == 403
    assert asyncio.run(handshake(f"http://{host}")) == "open"
