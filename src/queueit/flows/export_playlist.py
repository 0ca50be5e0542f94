"""The party's history as a playlist in the host's own music account: the party says what
played (its export's history, in play order), the catalog's playlist client makes the
playlist with the token the host supplied. Spotify only: Apple Music needs a Music User Token
and MusicKit's library API, which this server does not speak (docs/CATALOG.md)."""

from __future__ import annotations

import uuid

from queueit.catalog.playlists import SpotifyPlaylists, spotify_track_uri
from queueit.core.uow import UnitOfWork
from queueit.party import export as party_export
from queueit.party import guards
from queueit.party.errors import ExportNotSupported, NothingToExport
from queueit.party.schemas import HistoryExportOut, PlaylistExportOut
from queueit.users.models import User

PROVIDER_NAMES = {"apple": "Apple Music", "none": "no music provider"}


async def export_to_spotify(
    uow: UnitOfWork,
    *,
    actor: User,
    party_id: uuid.UUID,
    playlists: SpotifyPlaylists,
    access_token: str,
    name: str | None,
    public: bool,
) -> PlaylistExportOut:
    """A new playlist in the host's Spotify account with the history's Spotify tracks, in
    play order (a song played twice is in it twice); songs of other catalogs are skipped.
    Host only (403 `not_host`), active or ended party; 422 `export_not_supported` for a
    party whose host plays another provider, 422 `nothing_to_export` when no song of the
    history is a Spotify track."""
    party = await guards.hosted_party_even_ended(uow, actor=actor, party_id=party_id)
    if party.host_provider != "spotify":
        provider = PROVIDER_NAMES.get(party.host_provider, party.host_provider)
        raise ExportNotSupported(
            f"Only a party hosted with Spotify can be exported as a playlist (this one's host "
            f"uses {provider}); download the history as JSON, CSV or M3U instead."
        )
    document = await party_export.history_document(uow, party)
    uris = spotify_uris(document)
    if not uris:
        raise NothingToExport()
    created = await playlists.create(
        access_token=access_token,
        name=name or default_name(document),
        description=description(document),
        public=public,
        uris=uris,
    )
    return PlaylistExportOut(
        playlist_id=created.playlist_id,
        url=created.url,
        added=created.added,
        skipped=len(document.items) - len(uris),
    )


def spotify_uris(document: HistoryExportOut) -> list[str]:
    uris = (spotify_track_uri(item.track_id) for item in document.items if item.source == "spotify")
    return [uri for uri in uris if uri is not None]


def default_name(document: HistoryExportOut) -> str:
    return f"QueueIT {document.join_code} {document.created_at.date().isoformat()}"


def description(document: HistoryExportOut) -> str:
    return (
        f"The songs played at the QueueIT party {document.join_code} on "
        f"{document.created_at.date().isoformat()}, in play order."
    )
