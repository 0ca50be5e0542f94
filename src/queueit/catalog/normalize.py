"""Text folding for search and matching: accent-, case- and punctuation-insensitive."""

from __future__ import annotations

import re
import unicodedata

_TRANSLITERATE = str.maketrans(
    {
        "ø": "o",
        "Ø": "o",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "ł": "l",
        "Ł": "l",
        "đ": "d",
        "Đ": "d",
        "ð": "d",
        "Ð": "d",
        "þ": "th",
        "Þ": "th",
        "\u0131": "i",  # dotless i
        "ß": "ss",
    }
)
_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Lower-case, accents removed: `Beyoncé` → `beyonce`, `Røyksopp` → `royksopp`."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_TRANSLITERATE))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def words(text: str) -> list[str]:
    """The folded words of `text`, punctuation dropped (`AC/DC` → `ac`, `dc`)."""
    return _WORD.findall(fold(text))


def query_tokens(text: str) -> list[str]:
    """One token per whitespace-separated chunk with inner punctuation removed, so `don't`
    → `dont` and `AC/DC` → `acdc` (the index holds both joined and split forms)."""
    tokens: list[str] = []
    for chunk in fold(text).split():
        joined = "".join(_WORD.findall(chunk))
        if joined and joined not in tokens:
            tokens.append(joined)
    return tokens


def index_tokens(text: str) -> set[str]:
    tokens: set[str] = set()
    for chunk in fold(text).split():
        parts = _WORD.findall(chunk)
        if chunk == "&":
            tokens.add("and")
        if parts:
            tokens.add("".join(parts))
            tokens.update(parts)
    return tokens


def cache_key_text(query: str) -> str:
    """The search cache's key for a query: NFKC, case-folded, whitespace collapsed (accents
    kept: providers may rank `beyoncé` and `beyonce` differently)."""
    return " ".join(unicodedata.normalize("NFKC", query).casefold().split())


def slug(text: str, *, max_length: int = 120) -> str:
    return "-".join(words(text))[:max_length].strip("-")
