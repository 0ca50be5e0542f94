"""Where a track's artwork may come from: each provider's own image hosts (docs/CATALOG.md,
"Artwork"). Any other URL is dropped, so no page ever fetches an image from a host a client
or a catalog file chose (which would leak every viewer's address to it). The pages' CSP
(web/router.py) allows images from these hosts only."""

from __future__ import annotations

from urllib.parse import urlsplit

from queueit.catalog.schemas import Source

# Exact host names, or a leading dot for "any subdomain of".
ARTWORK_HOSTS: dict[Source, tuple[str, ...]] = {
    "spotify": ("i.scdn.co",),
    "apple_music": (".mzstatic.com",),
    # The local catalog's artwork is served by this server (PUBLIC_BASE_URL), or there is none.
    "local": (),
}
# What the pages' Content-Security-Policy lists in img-src besides 'self'.
CSP_IMAGE_SOURCES = ("https://i.scdn.co", "https://*.mzstatic.com")


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    return any(
        host.endswith(entry) and len(host) > len(entry) if entry.startswith(".") else host == entry
        for entry in allowed
    )


def allowed_artwork(source: Source, url: str | None, *, own_origin: str = "") -> str | None:
    """`url` when it is an https URL on `source`'s image hosts (for the local catalog: on
    `own_origin`, this server's PUBLIC_BASE_URL), else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        return None
    if parts.port not in (None, 443):
        return None
    host = parts.hostname.lower()
    if source == "local":
        own = urlsplit(own_origin) if own_origin else None
        if own is None or own.scheme != "https" or (own.hostname or "").lower() != host:
            return None
        return url if parts.port == own.port else None
    return url if _host_allowed(host, ARTWORK_HOSTS[source]) else None
