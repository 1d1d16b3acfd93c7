"""Who may use the dashboard, and which requests may change anything.

- **Token.** Every request carries the token: ``Authorization: Bearer T``, the
  ``rhythm_ui_token`` cookie, or ``?token=T`` (the link ``rhythm ui`` prints; it sets the
  cookie, HttpOnly and SameSite=Strict, so the token leaves the address bar after the
  first page). Compared in constant time. Static files too: nothing is served without it.
- **CSRF.** Every POST carries a ``csrf`` form field (or ``X-CSRF-Token`` header) equal
  to an HMAC of the token under a per-process secret; a browser on another site can
  neither read it nor send the SameSite cookie, and a forged one is refused (403).
- **Host.** On a loopback bind the Host header must name a loopback host: a DNS
  rebinding page cannot talk to the dashboard through a name of its own.
- **Read-only.** Every POST is refused (403) and the templates show no action.

Responses carry a Content-Security-Policy allowing only the dashboard's own scripts and
styles, so a hostile value that escaped escaping still could not run.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

TOKEN_COOKIE = "rhythm_ui_token"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` listens on a loopback interface only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Guard:
    """The security settings of one dashboard process."""

    token: str
    read_only: bool = False
    loopback: bool = True
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def csrf_token(self) -> str:
        return hmac.new(self.secret, self.token.encode(), hashlib.sha256).hexdigest()

    def token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(),
                                                         self.csrf_token().encode())

    def host_ok(self, host_header: str | None) -> bool:
        if not self.loopback:
            return True
        return host_name(host_header or "") in LOOPBACK_NAMES


def host_name(header: str) -> str:
    """The host of a Host header, without its port (``[::1]:8765`` -> ``[::1]``)."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0]


def presented_token(request: Request) -> tuple[str | None, bool]:
    """The token the request carries, and whether it came in the query string."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    query = request.query_params.get("token")
    if query is not None:
        return query, True
    return request.cookies.get(TOKEN_COOKIE), False


Endpoint = Callable[[Request], Awaitable[Response]]


def refused(status: int, why: str) -> Response:
    return PlainTextResponse(f"{status} {why}\n", status_code=status)


async def check_request(guard: Guard, request: Request, call_next: Endpoint) -> Response:
    """The middleware: host, token (and the cookie it sets), then the endpoint, with the
    security headers on whatever it answers. CSRF is checked by the action endpoints,
    which read the form."""
    if not guard.host_ok(request.headers.get("host")):
        return refused(400, "bad Host header (the dashboard answers on loopback names only)")
    token, from_query = presented_token(request)
    if not guard.token_ok(token):
        return refused(401, "a valid token is required (use the link rhythm ui printed)")
    if from_query:  # drop the token from the address bar; the cookie carries it from now on
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items()
                          if k != "token"])
        location = request.url.path + (f"?{rest}" if rest else "")
        response: Response = RedirectResponse(location, status_code=303)
        response.set_cookie(TOKEN_COOKIE, guard.token, httponly=True, samesite="strict",
                            path="/")
    else:
        started = time.perf_counter()
        response = await call_next(request)
        # (server time, read by benchmarks/ui_pages.py and the browser's dev tools)
        spent = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={spent:.1f}"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response
