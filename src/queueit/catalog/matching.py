"""Cross-catalog matching (DOMAIN.md "Adding songs"): find the host catalog's version of a
track from another catalog.

1. ISRC lookup. Several versions share one ISRC (album, single, compilations, deluxe
   editions); prefer the same album name, then a non-compilation, then the same single/album
   type, then the closest duration.
2. Otherwise search "first artist + title" and accept only a result within ±3 s of the
   track's duration whose title and artist are similar. A track with no known duration can
   only match by ISRC.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from queueit.catalog.normalize import fold, words
from queueit.catalog.providers import AlbumType, Candidate, CatalogProvider
from queueit.catalog.schemas import Track

DURATION_WINDOW_MS = 3_000
TITLE_SIMILARITY = 0.85
ARTIST_SIMILARITY = 0.85
FUZZY_SEARCH_LIMIT = 10

# Bracketed or " - " suffixes naming one of these are packaging, not a different recording...
_NOISE = re.compile(
    r"\b(feat|ft|featuring|with|remaster|remastered|mono|stereo|version|edit|deluxe|"
    r"edition|expanded|anniversary|bonus|single|ep|explicit|clean)\b",
    re.IGNORECASE,
)
# ...unless they also name one of these, which are different recordings.
_DISTINCT = re.compile(
    r"\b(remix|mix|live|acoustic|instrumental|karaoke|demo|cover|unplugged|orchestral)\b",
    re.IGNORECASE,
)
_BRACKETED = re.compile(r"\s*[\(\[]([^\)\]]*)[\)\]]")
_DASH_SUFFIX = re.compile(r"\s+[-\u2013\u2014]\s+(.*)$")
_TRAILING_FEAT = re.compile(r"\s+(feat\.?|ft\.|featuring)\s.*$", re.IGNORECASE)
_ARTIST_SEPARATORS = re.compile(
    r"\s*(?:&|,|;|/|\bfeat\b\.?|\bft\b\.?|\bfeaturing\b|\bwith\b|\bx\b|\band\b|\bvs\b\.?)\s*"
)


def _is_noise(segment: str) -> bool:
    return bool(_NOISE.search(segment)) and not _DISTINCT.search(segment)


def strip_packaging(text: str) -> str:
    """`Song (feat. X) - 2011 Remaster` → `Song`; `Song (Live)` stays as it is."""
    text = _BRACKETED.sub(lambda m: "" if _is_noise(m.group(1)) else m.group(0), text)
    suffix = _DASH_SUFFIX.search(text)
    if suffix and _is_noise(suffix.group(1)):
        text = text[: suffix.start()]
    return _TRAILING_FEAT.sub("", text).strip() or text.strip()


def core_title(text: str) -> str:
    return " ".join(words(strip_packaging(text)))


def similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    return SequenceMatcher(None, a, b).ratio()


def artist_names(artists: str) -> list[str]:
    names = []
    for part in _ARTIST_SEPARATORS.split(fold(artists)):
        name = " ".join(words(part))
        name = name.removeprefix("the ")
        if name:
            names.append(name)
    return names


def first_artist(artists: str) -> str:
    return artists.split(" & ")[0].split(",")[0].strip() or artists


def artists_similar(source: str, candidate: str) -> bool:
    """The source's first artist is one of the candidate's artists (or nearly so)."""
    wanted = artist_names(first_artist(source)) or artist_names(source)
    if not wanted:
        return False
    first = wanted[0]
    names = artist_names(candidate)
    joined = " " + " ".join(words(candidate)) + " "
    if f" {first} " in joined:
        return True
    return any(similarity(first, name) >= ARTIST_SIMILARITY for name in names)


def album_type_of(track: Track) -> AlbumType:
    """A guess for tracks whose album kind is unknown: a single is named after its song."""
    if track.album.endswith((" - Single", " - EP")):
        return "single"
    if track.album and core_title(track.album) == core_title(track.name):
        return "single"
    return "album"


def best_isrc_match(source: Track, candidates: list[Candidate]) -> Track | None:
    if not candidates:
        return None
    source_album = core_title(source.album)
    source_is_single = album_type_of(source) == "single"

    def rank(candidate: Candidate) -> tuple[bool, bool, bool, int]:
        same_album = bool(source_album) and core_title(candidate.track.album) == source_album
        kind = candidate.album_type or album_type_of(candidate.track)
        same_kind = (kind == "single") == source_is_single
        closeness = -abs(candidate.track.duration_ms - source.duration_ms)
        return same_album, not candidate.is_compilation, same_kind, closeness

    return max(candidates, key=rank).track


def fuzzy_query(source: Track) -> str:
    return f"{first_artist(source.artists)} {strip_packaging(source.name)}"


def best_fuzzy_match(source: Track, results: list[Track]) -> Track | None:
    if source.duration_ms <= 0:
        return None
    wanted_title = core_title(source.name)
    best: tuple[float, int] | None = None
    chosen: Track | None = None
    for candidate in results:
        gap = abs(candidate.duration_ms - source.duration_ms)
        if gap > DURATION_WINDOW_MS:
            continue
        title_score = similarity(wanted_title, core_title(candidate.name))
        if title_score < TITLE_SIMILARITY or not artists_similar(source.artists, candidate.artists):
            continue
        score = (title_score, -gap)
        if best is None or score > best:
            best, chosen = score, candidate
    return chosen


async def find_match(
    provider: CatalogProvider, source: Track, *, market: str
) -> tuple[Track | None, str]:
    """(the host catalog's track or None, how it was found: `isrc`, `search`, `unavailable`).
    Provider failures propagate as CatalogUnavailable: an outage is never "not available"."""
    if source.isrc:
        chosen = best_isrc_match(source, await provider.find_by_isrc(source.isrc, market=market))
        if chosen is not None:
            return chosen, "isrc"
    if source.duration_ms > 0:
        results = await provider.search(
            fuzzy_query(source), limit=FUZZY_SEARCH_LIMIT, market=market
        )
        chosen = best_fuzzy_match(source, results)
        if chosen is not None:
            return chosen, "search"
    return None, "unavailable"
