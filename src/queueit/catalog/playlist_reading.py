"""Reading a provider playlist's tracks (the fallback source, docs/DOMAIN.md): the tracks
come from the provider's own API, so they are the catalog's records, never a client's text."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from queueit.catalog.schemas import Source, Track
from queueit.catalog.service import CatalogService


@runtime_checkable
class PlaylistReader(Protocol):
    async def playlist_tracks(
        self, playlist_id: str, *, market: str, limit: int
    ) -> list[Track]: ...


async def playlist_tracks(
    catalog: CatalogService, source: Source, playlist_id: str, *, storefront: str, limit: int
) -> list[Track] | None:
    """The playlist's tracks in order (at most `limit`); None when the `source` catalog
    cannot read playlists. 404 `catalog_source_not_configured` when this server has no such
    catalog, 503 `catalog_unavailable` when the provider fails."""
    provider = catalog.provider(source)
    if not isinstance(provider, PlaylistReader):
        return None
    return await provider.playlist_tracks(playlist_id, market=storefront.lower(), limit=limit)
