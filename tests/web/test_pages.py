"""The pages and their static files: served with a strict CSP, no inline code, safe DOM use."""

from __future__ import annotations

import re
import uuid
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from queueit.core import errors
from queueit.core.settings import Settings
from queueit.web import tv

STATIC = resources.files("queueit.web").joinpath("static")
REQUIRED_CSP = [
    "script-src 'self'",
    "connect-src 'self' ws: wss:",
    # Artwork only from the catalogs' own image hosts (catalog/artwork.py), never any https
    # host a client or a catalog file names.
    "img-src 'self' https://i.scdn.co https://*.mzstatic.com",
    "default-src 'none'",
    "frame-ancestors 'none'",
]
# Fixed ids: parallel workers must collect the same test names.
PAGES = [
    "/join",
    "/join/ABCD",
    "/join?code=ABCD",
    "/tv/0b6f3c1e-9a52-4a1e-8d2f-3f1f7c2b9d10?token=x",
]


def static_text(name: str) -> str:
    return STATIC.joinpath(name).read_text()


@pytest.mark.parametrize("path", PAGES)
async def test_pages_are_served_with_a_strict_csp(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    for directive in REQUIRED_CSP:
        assert directive in policy
    (images,) = [d.split()[1:] for d in policy.split(";") if d.split()[0] == "img-src"]
    assert "https:" not in images and "data:" not in images and "*" not in images
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "<!doctype html>" in response.text.lower()


async def test_join_page_is_the_guest_page(client: httpx.AsyncClient) -> None:
    page = (await client.get("/join/ABCD")).text
    assert 'id="join-form"' in page and 'src="/web/static/join.js"' in page
    assert '<meta name="queueit-auth-mode" content="local">' in page
    assert '<meta name="queueit-join-base" content="http://test">' in page


@pytest.mark.parametrize(
    "settings_overrides",
    [{"supabase_jwt_secret": "s" * 40, "public_base_url": "https://party.example.com"}],
)
async def test_pages_tell_the_script_about_supabase_mode(client: httpx.AsyncClient) -> None:
    page = (await client.get("/join")).text
    assert '<meta name="queueit-auth-mode" content="supabase">' in page
    assert '<meta name="queueit-join-base" content="https://party.example.com">' in page
    # No anon key: no browser sign-in, and the page may call no other origin.
    assert '<meta name="queueit-supabase-anon-key" content="">' in page
    assert '<meta name="queueit-supabase-auth" content="">' in page


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "supabase_jwt_secret": "s" * 40,
            "supabase_url": "https://ref.supabase.co/",
            "supabase_anon_key": "public-anon-key",
        }
    ],
)
async def test_an_anon_key_lets_the_page_sign_in_at_supabase(client: httpx.AsyncClient) -> None:
    response = await client.get("/join/ABCD")
    page = response.text
    assert '<meta name="queueit-supabase-auth" content="https://ref.supabase.co/auth/v1">' in page
    assert '<meta name="queueit-supabase-anon-key" content="public-anon-key">' in page
    policy = response.headers["content-security-policy"]
    assert "connect-src 'self' ws: wss: https://ref.supabase.co;" in policy
    # The TV page signs nobody in: its policy stays as strict as before.
    tv_page = await client.get("/tv/0b6f3c1e-9a52-4a1e-8d2f-3f1f7c2b9d10?token=x")
    assert "supabase.co" not in tv_page.headers["content-security-policy"]
    assert "public-anon-key" not in tv_page.text


async def test_tv_page_needs_a_session_uuid(client: httpx.AsyncClient) -> None:
    assert (await client.get("/tv/not-a-uuid")).status_code == 404
    page = (await client.get(f"/tv/{uuid.uuid4()}")).text
    assert 'src="/web/static/tv.js"' in page


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("join.js", "text/javascript; charset=utf-8"),
        ("tv.js", "text/javascript; charset=utf-8"),
        ("common.js", "text/javascript; charset=utf-8"),
        ("realtime.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("guest.js", "text/javascript; charset=utf-8"),
        ("party.js", "text/javascript; charset=utf-8"),
        ("queue.js", "text/javascript; charset=utf-8"),
        ("search.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("tv.css", "text/css; charset=utf-8"),
        ("base.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ],
)
async def test_static_files(client: httpx.AsyncClient, name: str, content_type: str) -> None:
    response = await client.get(f"/web/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    etag = response.headers["etag"]
    again = await client.get(f"/web/static/{name}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    "name", ["join.html", "missing.js", "..%2Frouter.py", "%2E%2E%2Fapi.py", "__init__.py"]
)
async def test_only_listed_static_files_are_served(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/web/static/{name}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_every_file_a_page_references_is_shipped() -> None:
    for page in ("join.html", "tv.html"):
        for name in re.findall(r"/web/static/([\w.-]+)", static_text(page)):
            assert STATIC.joinpath(name).is_file(), f"{page} references missing {name}"
    for sheet in ("app.css", "tv.css"):
        for name in re.findall(r'@import url\("([\w.-]+)"\)', static_text(sheet)):
            assert STATIC.joinpath(name).is_file()
    for script in Path(str(STATIC)).glob("*.js"):
        for name in re.findall(r'from "\./([\w.-]+)"', script.read_text()):
            assert STATIC.joinpath(name).is_file(), f"{script.name} imports missing {name}"


def test_pages_carry_no_inline_code() -> None:
    for page in ("join.html", "tv.html"):
        text = static_text(page)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"inline script in {page}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"inline event handler in {page}"
        assert not re.search(r"\sstyle\s*=", text), f"inline style in {page}"
        assert "javascript:" not in text


def test_scripts_never_parse_data_as_html() -> None:
    sinks = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(")
    for path in Path(str(STATIC)).glob("*.js"):
        assert not sinks.search(path.read_text()), f"{path.name} uses an HTML sink"


def test_tv_key_without_any_hs_secret_is_generated_once_under_data_dir(tmp_path: Path) -> None:
    """Supabase with JWKS only: no HS secret, no LOCAL_JWT_SECRET."""
    settings = Settings(_env_file=None, data_dir=tmp_path, supabase_url="https://x.supabase.co")
    verifier = SimpleNamespace(hs_secret="")

    first = tv.signing_key(settings, verifier)  # type: ignore[arg-type]
    secret_file = tmp_path / "tv_link_secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert tv.signing_key(settings, verifier) == first  # type: ignore[arg-type]  # workers agree
    assert len(first) == 32
    assert not list(tmp_path.glob(".tv_link_secret.*"))  # no staging file left behind


def test_tv_key_is_derived_not_the_access_token_secret() -> None:
    settings = Settings(_env_file=None, local_jwt_secret="l" * 40)
    key = tv.signing_key(settings, SimpleNamespace(hs_secret="l" * 40))  # type: ignore[arg-type]
    assert key != ("l" * 40).encode()
    token = tv.mint(key, party_id=uuid.uuid4(), ttl_seconds=60)
    with pytest.raises(errors.Unauthorized, match="another party"):
        tv.verify(key, token, party_id=uuid.uuid4(), leeway=0)
