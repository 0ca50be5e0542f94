"""The party's history as a file the host downloads: JSON, CSV or M3U, in play order (oldest
first). One statement reads the whole history (`queue_repository.history_in_play_order`);
the renderers here only shape text. Track text comes from catalogs, names from guests: the
CSV defuses spreadsheet formulas and the M3U lets no text break a line."""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from queueit.core.types import utcnow
from queueit.core.uow import UnitOfWork
from queueit.party import guards, queue_repository
from queueit.party.models import Party
from queueit.party.schemas import ExportFormat, HistoryEntryOut, HistoryExportOut
from queueit.party.shapes import DELETED_USER
from queueit.users.models import User

MEDIA_TYPES = {
    ExportFormat.json: "application/json",
    ExportFormat.csv: "text/csv; charset=utf-8",
    ExportFormat.m3u: "audio/x-mpegurl",
}
# .m3u8 tells players the playlist is UTF-8 (a bare .m3u is read as Latin-1 by some).
EXTENSIONS = {ExportFormat.json: "json", ExportFormat.csv: "csv", ExportFormat.m3u: "m3u8"}
CSV_COLUMNS = (
    "played_at",
    "finished_at",
    "status",
    "name",
    "artists",
    "album",
    "duration_ms",
    "source",
    "track_id",
    "isrc",
    "uri",
    "added_by",
    "votes",
    "is_fallback",
)
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Every character Python (and most players) treat as a line break, plus the other controls.
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")


@dataclass(frozen=True)
class HistoryExport:
    """A rendered export: the bytes, their media type and the file name to save them as."""

    body: bytes
    media_type: str
    filename: str


async def export_history(
    uow: UnitOfWork, *, actor: User, party_id: uuid.UUID, fmt: ExportFormat
) -> HistoryExport:
    """The host's party history (active or ended) rendered as `fmt`."""
    party = await guards.hosted_party_even_ended(uow, actor=actor, party_id=party_id)
    document = await history_document(uow, party)
    body = RENDERERS[fmt](document)
    return HistoryExport(body=body, media_type=MEDIA_TYPES[fmt], filename=filename(party, fmt))


async def history_document(uow: UnitOfWork, party: Party) -> HistoryExportOut:
    if party.ended_at is None:
        rows = await queue_repository.history_in_play_order(uow.session, party.id)
    else:
        # Row-level security lets a host read their ended party's row but no longer its songs
        # or their adders (queueit_rls.hosts() means "hosts an active party"); the guard above
        # checked that the caller hosts it, so the server reads the history on its own
        # authority (docs/RLS.md, "Known limits": exports of ended parties).
        async with uow.as_system():
            rows = await queue_repository.history_in_play_order(uow.session, party.id)
    return HistoryExportOut(
        session_id=party.id,
        join_code=party.join_code,
        created_at=party.created_at,
        ended_at=party.ended_at,
        exported_at=utcnow(),
        items=[entry_of(row, storefront=party.host_storefront) for row in rows],
    )


def entry_of(row: queue_repository.HistoryRow, *, storefront: str) -> HistoryEntryOut:
    queued, song, added_by, started_at, finished_at = row
    return HistoryEntryOut(
        played_at=started_at or finished_at,
        finished_at=finished_at,
        status=str(queued.status),
        name=song.name,
        artists=song.artists,
        album=song.album,
        duration_ms=song.duration_ms,
        source=song.source,
        track_id=song.provider_id,
        isrc=song.isrc,
        uri=track_uri(song.source, song.provider_id, storefront=storefront),
        added_by=adder_name(added_by),
        votes=queued.votes,
        is_fallback=queued.is_fallback,
    )


def adder_name(added_by: Any) -> str:
    if added_by is None or added_by.id is None:
        return DELETED_USER.display_name or "Deleted user"
    return str(added_by.display_name or added_by.username or "Guest")


def track_uri(source: str, track_id: str, *, storefront: str) -> str:
    """Where a player finds the track. Ids are percent-encoded: a catalog id is a safe token,
    but a track stored under ALLOW_UNVERIFIED_TRACKS carries a client's id."""
    safe = quote(track_id, safe="")
    if source == "spotify":
        return f"spotify:track:{safe}"
    if source == "apple_music":
        return f"https://music.apple.com/{quote(storefront, safe='')}/song/{safe}"
    return f"queueit:local:{quote(track_id.removeprefix('local:'), safe='')}"


def filename(party: Party, fmt: ExportFormat) -> str:
    code = _FILENAME_UNSAFE.sub("", party.join_code) or "party"
    return f"queueit-{code}-{party.created_at.date().isoformat()}.{EXTENSIONS[fmt]}"


# -- renderers -------------------------------------------------------------------------------


def render_json(document: HistoryExportOut) -> bytes:
    return document.model_dump_json(indent=2).encode()


def spreadsheet_safe(value: str) -> str:
    """A text cell a spreadsheet shows as text: a leading apostrophe when it would start a
    formula. Numbers are written as numbers (a vote total of -1 is not a formula)."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def render_csv(document: HistoryExportOut) -> bytes:
    """RFC 4180: CRLF line ends, a header row, quotes where a cell needs them."""
    out = io.StringIO()
    writer = csv.writer(out, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    for item in document.items:
        values = item.model_dump(mode="json")
        writer.writerow(
            [
                str(values[column]).lower()  # is_fallback: true / false, as in the JSON
                if isinstance(values[column], bool)
                else values[column]
                if isinstance(values[column], int)
                else spreadsheet_safe(str(values[column] or ""))
                for column in CSV_COLUMNS
            ]
        )
    return out.getvalue().encode()


def one_line(value: str) -> str:
    return _LINE_BREAKS.sub(" ", value).strip()


def render_m3u(document: HistoryExportOut) -> bytes:
    """Extended M3U: `#EXTINF:<seconds>,<artists> - <name>` then the track's URI."""
    lines = ["#EXTM3U", f"#PLAYLIST:{one_line('QueueIT ' + document.join_code)}"]
    for item in document.items:
        seconds = round(item.duration_ms / 1000) if item.duration_ms > 0 else -1
        lines.append(f"#EXTINF:{seconds},{one_line(f'{item.artists} - {item.name}')}")
        lines.append(one_line(item.uri))
    return ("\n".join(lines) + "\n").encode()


RENDERERS = {
    ExportFormat.json: render_json,
    ExportFormat.csv: render_csv,
    ExportFormat.m3u: render_m3u,
}
