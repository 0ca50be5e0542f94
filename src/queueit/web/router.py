"""The browser pages (`/join`, `/join/{code}`, `/tv/{session_id}`) and their static files
(`/web/static/{name}`), shipped as package data: no build step, no inline script."""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from fastapi import Request, Response

from queueit.api.deps import SettingsDep
from queueit.catalog.artwork import CSP_IMAGE_SOURCES
from queueit.core import errors
from queueit.core.routing import PrefixRouter
from queueit.web import service

router = PrefixRouter(include_in_schema=False)


# Pages run only our own scripts and styles; data is drawn with textContent, so even a
# script-shaped track name cannot run. Images come only from this server and the catalogs'
# own image hosts (catalog/artwork.py): no page fetches an image from a host a client chose.
def content_security_policy(connect_origin: str = "") -> str:
    """The pages' policy; `connect_origin` (Supabase Auth, when the guest page signs guests in
    there) is the one other origin a page may call."""
    connect = "connect-src 'self' ws: wss:" + (f" {connect_origin}" if connect_origin else "")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src " + " ".join(("'self'", *CSP_IMAGE_SOURCES)),
            connect,
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # The TV page's URL holds its token: never cache the page (the request-context middleware
    # already sends Referrer-Policy: no-referrer, so the URL never leaks onwards either).
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".webmanifest": "application/manifest+json",
}
STATIC_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}\.(js|css|svg|webmanifest)$")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@lru_cache(maxsize=64)
def _asset(name: str) -> Asset | None:
    """A file of web/static (read once per process), or None when there is no such file."""
    suffix = name[name.rfind(".") :]
    content_type = CONTENT_TYPES.get(suffix)
    entry = resources.files("queueit.web").joinpath("static", name)
    if content_type is None or not entry.is_file():
        return None
    body = entry.read_bytes()
    return Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


def _page(
    name: str,
    *,
    auth_mode: str,
    join_base: str,
    supabase_url: str = "",
    anon_key: str = "",
    connect_origin: str = "",
) -> Response:
    asset = _asset(name)
    if asset is None:
        raise RuntimeError(f"web/static/{name} is missing from the package")
    text = asset.body.decode()
    text = text.replace("{{AUTH_MODE}}", html.escape(auth_mode, quote=True))
    text = text.replace("{{JOIN_BASE}}", html.escape(join_base, quote=True))
    text = text.replace("{{SUPABASE_URL}}", html.escape(supabase_url, quote=True))
    text = text.replace("{{SUPABASE_ANON_KEY}}", html.escape(anon_key, quote=True))
    headers = PAGE_HEADERS
    if connect_origin:
        policy = content_security_policy(connect_origin)
        headers = {**PAGE_HEADERS, "Content-Security-Policy": policy}
    return Response(text, media_type="text/html; charset=utf-8", headers=headers)


@router.api_route("/join", methods=["GET", "HEAD"])
@router.api_route("/join/{code}", methods=["GET", "HEAD"])
async def join_page(request: Request, settings: SettingsDep) -> Response:
    """The guest page: sign in, join with the code (from the path or `?code=`), search, add,
    vote, skip; live over the session WebSocket."""
    base = service.public_base(settings.public_base_url, str(request.base_url))
    origin = settings.supabase_auth_origin  # Supabase anonymous sign-in, when configured
    return _page(
        "join.html",
        auth_mode=settings.auth_mode,
        join_base=base,
        supabase_url=f"{settings.supabase_url.rstrip('/')}/auth/v1" if origin else "",
        anon_key=settings.supabase_anon_key if origin else "",
        connect_origin=origin,
    )


@router.api_route("/tv/{session_id:uuid}", methods=["GET", "HEAD"])
async def tv_page(request: Request, settings: SettingsDep, session_id: uuid.UUID) -> Response:
    """The TV screen of a party; its `?token=` (a TV link) is read by the page's script."""
    base = service.public_base(settings.public_base_url, str(request.base_url))
    return _page("tv.html", auth_mode=settings.auth_mode, join_base=base)


@router.get("/web/static/{name}")
async def static_file(request: Request, name: str) -> Response:
    """Scripts, styles and icons of the pages, revalidated by ETag on every load."""
    asset = _asset(name) if STATIC_NAME.match(name) else None
    if asset is None:
        raise errors.NotFound("No such file.")
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)
