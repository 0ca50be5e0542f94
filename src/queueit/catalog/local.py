"""The local catalog: the shipped demo tracks plus the operator's own file, searched through an
in-memory index built once at startup, so a fresh install searches and queues with no
credentials. Ids are stable: `local:<artist-title slug>` unless the file gives one."""

from __future__ import annotations

import bisect
import csv
import functools
import hashlib
import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import structlog

from queueit.catalog.artwork import allowed_artwork
from queueit.catalog.errors import CatalogMisconfigured
from queueit.catalog.normalize import index_tokens, query_tokens, slug
from queueit.catalog.providers import Candidate, build_track, int_or_none
from queueit.catalog.schemas import Source, Track

log = structlog.get_logger(__name__)

DEMO_CATALOG_PATH = Path(__file__).parent / "data" / "demo_catalog.json"
TITLE, ARTIST, ALBUM = 1, 2, 4
FIELD_WEIGHTS = ((TITLE, 3.0), (ARTIST, 2.0), (ALBUM, 1.0))
PREFIX_QUALITY = 0.7
MAX_QUERY_TOKENS = 12
MAX_PREFIX_TERMS = 5_000
_TRUE = {"true", "1", "yes", "y", "explicit"}
_FALSE = {"false", "0", "no", "n", "clean"}


def _duration_ms(row: dict[str, Any]) -> int:
    value = row.get("duration_ms")
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    number = int_or_none(value)
    if number is not None:
        return number
    duration = row.get("duration")  # "m:ss"
    if isinstance(duration, str) and ":" in duration:
        minutes, _, seconds = duration.strip().partition(":")
        if minutes.isdigit() and seconds.isdigit():
            return (int(minutes) * 60 + int(seconds)) * 1000
    return 0


def _explicit(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in _TRUE else False if text in _FALSE else None
    return None


def _text(row: dict[str, Any], *names: str) -> str:
    for name in names:
        value = row.get(name)
        if isinstance(value, list):
            value = " & ".join(str(v).strip() for v in value if str(v).strip())
        if isinstance(value, str | int) and str(value).strip():
            return str(value).strip()
    return ""


def track_from_row(row: dict[str, Any], *, taken: set[str]) -> Track | None:
    """One catalog row (keys: title|name, artists|artist, album, duration_ms|duration, isrc,
    image_url, explicit, id, year) as a Track with a unique id, or None when invalid."""
    row = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    title = _text(row, "title", "name")
    artists = _text(row, "artists", "artist")
    album = _text(row, "album")
    track_id = _text(row, "id")
    if track_id:
        track_id = track_id if track_id.startswith("local:") else f"local:{track_id}"
        if track_id in taken:
            return None
    else:
        base = "local:" + (slug(f"{artists.split(' & ')[0]} {title}") or "track")
        track_id = base
        if track_id in taken:
            digest = hashlib.sha1(f"{album}|{_text(row, 'year')}".encode(), usedforsecurity=False)
            track_id = f"{base}-{digest.hexdigest()[:6]}"
        counter = 2
        while track_id in taken:
            track_id, counter = f"{base}-{counter}", counter + 1
    track = build_track(
        "local",
        {
            "id": track_id,
            "isrc": _text(row, "isrc"),
            "name": title,
            "artists": artists,
            "album": album,
            "duration_ms": _duration_ms(row),
            "image_url": _text(row, "image_url") or None,
            "explicit": _explicit(row.get("explicit")),
        },
    )
    if track is not None:
        taken.add(track.id)
    return track


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = orjson.loads(path.read_bytes())
        items = data.get("tracks") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ValueError('a JSON catalog is a list of tracks or {"tracks": [...]}')
        yield from (item for item in items if isinstance(item, dict))
    elif suffix == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            yield from csv.DictReader(handle)
    else:
        raise ValueError("the catalog file must end in .json or .csv")


def load_tracks(path: Path, *, taken: set[str] | None = None) -> list[Track]:
    taken = set() if taken is None else taken
    tracks: list[Track] = []
    skipped = 0
    try:
        for row in _rows(path):
            track = track_from_row(row, taken=taken)
            if track is None:
                skipped += 1
            else:
                tracks.append(track)
    except (OSError, ValueError, csv.Error) as exc:
        raise CatalogMisconfigured(f"cannot load the catalog file {path}: {exc}") from None
    if skipped:
        log.warning("local_catalog_rows_skipped", path=str(path), skipped=skipped)
    return tracks


def load_local_catalog(operator_path: str = "", *, artwork_origin: str = "") -> LocalCatalog:
    """The demo catalog plus, when LOCAL_CATALOG_PATH is set, the operator's file (read anew
    on every start: the operator may have changed it). The file's artwork is kept only when
    this server serves it (`artwork_origin`, PUBLIC_BASE_URL): catalog/artwork.py."""
    if not operator_path:
        return _demo_catalog()
    taken: set[str] = set()
    tracks = load_tracks(DEMO_CATALOG_PATH, taken=taken)
    own = [
        track
        if allowed_artwork("local", track.image_url, own_origin=artwork_origin) == track.image_url
        else track.model_copy(update={"image_url": None})
        for track in load_tracks(Path(operator_path).expanduser(), taken=taken)
    ]
    log.info("local_catalog_loaded", path=operator_path, tracks=len(own))
    tracks.extend(own)
    return LocalCatalog(tracks)


@functools.cache
def _demo_catalog() -> LocalCatalog:
    """The bundled catalog ships inside the package and never changes while the process
    runs: it is parsed and indexed once per process (a LocalCatalog is read-only)."""
    return LocalCatalog(load_tracks(DEMO_CATALOG_PATH))


class LocalCatalog:
    """An inverted index (word → tracks and the fields it occurs in) over a sorted vocabulary,
    so exact words and prefixes ("beat" → "Beat It") are both cheap lookups."""

    def __init__(self, tracks: Iterable[Track]) -> None:
        self._tracks: list[Track] = []
        self._by_id: dict[str, Track] = {}
        self._by_isrc: dict[str, list[Track]] = defaultdict(list)
        self._postings: dict[str, dict[int, int]] = defaultdict(dict)
        self._titles: list[str] = []
        for track in tracks:
            if track.id in self._by_id:
                continue
            index = len(self._tracks)
            self._tracks.append(track)
            self._by_id[track.id] = track
            self._titles.append(" ".join(query_tokens(track.name)))
            if track.isrc:
                self._by_isrc[track.isrc].append(track)
            for field, text in ((TITLE, track.name), (ARTIST, track.artists), (ALBUM, track.album)):
                for token in index_tokens(text):
                    postings = self._postings[token]
                    postings[index] = postings.get(index, 0) | field
        self._vocabulary = sorted(self._postings)

    def __len__(self) -> int:
        return len(self._tracks)

    @property
    def source(self) -> Source:
        return "local"

    def health(self) -> str:
        return "ok"

    def _terms(self, token: str) -> Iterator[tuple[str, float]]:
        if token in self._postings:
            yield token, 1.0
        if len(token) < 2:
            return
        start = bisect.bisect_right(self._vocabulary, token)
        for term in self._vocabulary[start : start + MAX_PREFIX_TERMS]:
            if not term.startswith(token):
                break
            yield term, PREFIX_QUALITY

    def search_now(self, query: str, *, limit: int) -> list[Track]:
        tokens = query_tokens(query)[:MAX_QUERY_TOKENS]
        if not tokens or limit <= 0:
            return []
        scores: dict[int, float] = defaultdict(float)
        matched: dict[int, int] = defaultdict(int)
        for token in tokens:
            best: dict[int, float] = {}
            for term, quality in self._terms(token):
                for index, fields in self._postings[term].items():
                    weight = max(w for f, w in FIELD_WEIGHTS if fields & f) * quality
                    if weight > best.get(index, 0.0):
                        best[index] = weight
            for index, weight in best.items():
                scores[index] += weight
                matched[index] += 1
        phrase = " ".join(tokens)

        def rank(index: int) -> tuple[int, float, str, int]:
            title = self._titles[index]
            bonus = 3.0 if title == phrase else 1.5 if title.startswith(phrase) else 0.0
            return -matched[index], -(scores[index] + bonus), title, index

        return [self._tracks[i] for i in heapq.nsmallest(limit, scores, key=rank)]

    async def search(self, query: str, *, limit: int, market: str) -> list[Track]:
        return self.search_now(query, limit=limit)

    async def get_track(self, track_id: str, *, market: str) -> Track | None:
        return self._by_id.get(track_id)

    async def get_tracks(self, track_ids: list[str], *, market: str) -> list[Track]:
        return [self._by_id[i] for i in dict.fromkeys(track_ids) if i in self._by_id]

    async def find_by_isrc(self, isrc: str, *, market: str) -> list[Candidate]:
        return [Candidate(track=track) for track in self._by_isrc.get(isrc.upper(), [])]
