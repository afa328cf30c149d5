"""Dashboard sign-in: an API token exchanged for a signed, HTTP-only session cookie.

The cookie holds the token's SHA-256 digest and an expiry, signed with HMAC-SHA256; every
request re-checks that the token still exists, so revoking a token ends its sessions. Actions
are POST forms carrying a CSRF token derived from the session (an HMAC the page embeds), and
the cookie is ``SameSite=Strict``, so another site can neither read nor replay it.

The signing key comes from ``BATON_SESSION_SECRET`` (set it on every server behind one load
balancer) or is random per process: restarting the server then signs everyone out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from urllib.parse import parse_qs

from starlette.requests import Request

from baton.services import Services

SESSION_COOKIE = "baton_session"
SIGNIN_COOKIE = "baton_signin"  # double-submit CSRF token of the sign-in form
SESSION_TTL_S = 7 * 24 * 3600
MAX_FORM_BYTES = 64 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class NeedSignIn(Exception):
    """The request needs a signed-in session (answered by a redirect or a 401)."""


class BadCsrf(Exception):
    """A POST without the page's CSRF token (answered by a 403)."""


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (first value of each field)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise BadCsrf("form too large")
    parsed = parse_qs(body.decode(errors="replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}


class Sessions:
    """Signs and checks session cookies and CSRF tokens.

    Args:
        services: where API tokens are looked up.
        required: whether pages need a session (``False`` under ``baton dev``).
        secret: the HMAC key; ``BATON_SESSION_SECRET`` or random when omitted.
    """

    def __init__(self, services: Services, *, required: bool, secret: bytes | None = None) -> None:
        self.services = services
        self.required = required
        env = os.environ.get("BATON_SESSION_SECRET")
        self._key = secret or (env.encode() if env else secrets.token_bytes(32))

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def token_valid(self, token: str) -> str | None:
        """The token's digest if it is a known API token."""
        from baton.api.app import hash_token

        digest = hash_token(token.strip())
        return digest if token.strip() and self.services.store.has_token(digest) else None

    def new_session(self, digest: str) -> str:
        payload = _b64(json.dumps({"h": digest, "exp": int(time.time() + SESSION_TTL_S)}).encode())
        return f"{payload}.{self._sign(payload)}"

    def session_of(self, request: Request) -> str | None:
        """The request's valid session cookie value, or ``None``."""
        value = request.cookies.get(SESSION_COOKIE, "")
        payload, _, signature = value.partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            digest, expires = str(data["h"]), float(data["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires < time.time() or not self.services.store.has_token(digest):
            return None
        return value

    def signed_in(self, request: Request) -> bool:
        return not self.required or self.session_of(request) is not None

    def check(self, request: Request) -> None:
        """Raise ``NeedSignIn`` unless the request may see the dashboard."""
        if not self.signed_in(request):
            raise NeedSignIn()

    def csrf_token(self, request: Request) -> str:
        """The CSRF token forms on this page must send back (bound to the session)."""
        session = self.session_of(request) if self.required else "dev"
        return self._sign(f"csrf|{session or ''}")

    async def checked_form(self, request: Request) -> dict[str, str]:
        """The POSTed form, after the session and CSRF checks."""
        self.check(request)
        form = await read_form(request)
        if not hmac.compare_digest(form.get("csrf", ""), self.csrf_token(request)):
            raise BadCsrf()
        return form

    def bearer_or_session(self, request: Request) -> bool:
        """``/metrics``: a bearer API token, or a dashboard session."""
        if not self.required:
            return True
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.token_valid(token):
            return True
        return self.session_of(request) is not None


def safe_next(target: str | None) -> str:
    """Only same-site paths may follow sign-in (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
