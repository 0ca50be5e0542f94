"""Input hygiene shared by every schema: reject control and invisible formatting characters,
trim surrounding spaces, NFC-normalise. The same character classes are published as
`pattern`s in the OpenAPI schema, so the documented rule and the enforced rule are one."""

from __future__ import annotations

import itertools
import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, WithJsonSchema

# C0 and C1 controls, DEL, and the default-ignorable code points (Unicode's
# Default_Ignorable_Code_Point: characters that render as nothing): soft hyphen, combining
# grapheme joiner, Arabic letter mark, Hangul fillers (U+115F, U+1160, U+3164, U+FFA0), Khmer
# inherent vowels, Mongolian variation selectors and vowel separator, zero-width space,
# LRM/RLM, bidi embeddings/overrides/isolates, word joiner and invisible operators, BOM,
# specials, musical formatting, tag characters (U+E0000-E007F) and the reserved rest of that
# plane. Kept: ZWNJ/ZWJ (scripts and emoji need them; placed by BAD_SEQUENCES below) and the
# variation selectors FE00-FE0F, E0100-E01EF (emoji and CJK need them; they are combining
# marks, so their runs are capped like any mark).
FORBIDDEN = (
    "\\x00-\\x1f\\x7f-\\x9f\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5"
    "\\u180b-\\u180f\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u206f\\u3164"
    "\\ufeff\\uffa0\\ufff0-\\ufffb"
    # Astral ranges as literal characters: the published pattern is read by JSON, then by
    # Python's re (Schemathesis), neither of which needs an escape for them.
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e00ff\U000e01f0-\U000e0fff"
)
# Whitespace that is trimmed from both ends (Unicode spaces that are not forbidden above).
SPACE_CHARS = " \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
SPACE = f"[{SPACE_CHARS}]"
JOINERS = "\\u200c\\u200d"
# Combining marks may pile up on one letter at most this many in a row: enough for
# Vietnamese typed decomposed (2) and pointed Hebrew (dagesh + shin dot + vowel, 3); more
# is "Zalgo" text that paints over its neighbours.
MAX_COMBINING_RUN = 3


def _class_of(categories: tuple[str, ...]) -> str:
    """A regex character class body of every code point in these general categories."""
    ranges: list[tuple[int, int]] = []
    # Planes 2-13 (CJK ideographs, unassigned) and 15-16 (private use) hold no marks;
    # skipping them keeps this under 0.1 s at import.
    for code in itertools.chain(range(0x20000), range(0xE0000, 0xE1000)):
        if unicodedata.category(chr(code)) in categories:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))

    def char(code: int) -> str:
        return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)

    return "".join(char(a) if a == b else f"{char(a)}-{char(b)}" for a, b in ranges)


MARKS = _class_of(("Mn", "Mc", "Me"))
# Sequences that are refused wherever they occur: a joiner with nothing to join (at either
# end, next to a space, or doubled: "a leading ZWJ"), a mark with no letter under it, and a
# run of more than MAX_COMBINING_RUN marks.
BAD_SEQUENCES = (
    f"(?:^|[{SPACE_CHARS}{JOINERS}])[{JOINERS}]",
    f"[{JOINERS}](?:$|[{SPACE_CHARS}])",
    f"(?:^|[{SPACE_CHARS}])[{MARKS}]",
    f"[{MARKS}]{{{MAX_COMBINING_RUN + 1}}}",
)
_NO_BAD_SEQUENCE = f"(?!.*(?:{'|'.join(BAD_SEQUENCES)}))"
# Lone surrogates (possible through JSON escapes) are refused too; JSON Schema regexes cannot
# name them, so they are left out of the published pattern.
_FORBIDDEN_RE = re.compile(f"[{FORBIDDEN}\\ud800-\\udfff]")
_BAD_SEQUENCE_RE = re.compile("|".join(BAD_SEQUENCES))
SAFE_TEXT_PATTERN = f"^{_NO_BAD_SEQUENCE}[^{FORBIDDEN}]*$"
# At least one character that survives trimming.
REQUIRED_TEXT_PATTERN = (
    f"^{_NO_BAD_SEQUENCE}[^{FORBIDDEN}]*[^{FORBIDDEN}{SPACE_CHARS}][^{FORBIDDEN}]*$"
)


def clean_text(value: object) -> object:
    if not isinstance(value, str):
        return value
    if _FORBIDDEN_RE.search(value):
        raise ValueError("control or invisible formatting characters are not allowed")
    if _BAD_SEQUENCE_RE.search(value):
        raise ValueError(
            "joiners must sit between two characters, and combining marks on a letter, "
            f"at most {MAX_COMBINING_RUN} in a row"
        )
    return unicodedata.normalize("NFC", value.strip())


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


def text_schema(max_length: int, *, pattern: str = SAFE_TEXT_PATTERN, **extra: Any) -> Any:
    return WithJsonSchema({"type": "string", "maxLength": max_length, "pattern": pattern, **extra})


def _max_length(limit: int) -> Any:
    def check(value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return value

    return AfterValidator(check)


CleanStr = Annotated[str, BeforeValidator(clean_text)]
TrackText = Annotated[str, BeforeValidator(clean_text), _max_length(500), text_schema(500)]
RequiredTrackText = Annotated[
    str,
    BeforeValidator(clean_text),
    _max_length(500),
    AfterValidator(_not_blank),
    text_schema(500, minLength=1, pattern=REQUIRED_TEXT_PATTERN),
]

# Required short text of at most 100 characters under the text rule: a playlist name
# (Spotify's limit), a block-list entry, a fallback seed.
RequiredShortText = Annotated[
    str,
    BeforeValidator(clean_text),
    _max_length(100),
    AfterValidator(_not_blank),
    text_schema(100, minLength=1, pattern=REQUIRED_TEXT_PATTERN),
]

STRICT_BODY = ConfigDict(extra="forbid", str_strip_whitespace=False)


# Look-alike folding for names (a guest must not pass for the host). Letters that look like
# Latin ones in other scripts or as digits and symbols, folded to one of them; "i" and "l"
# (and "1", "|") read alike in many fonts, so they fold together.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x",  # noqa: RUF001
        "і": "l", "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ӏ": "l",  # noqa: RUF001
        "к": "k", "м": "m", "н": "h", "т": "t", "α": "a", "β": "b", "ε": "e", "η": "n",  # noqa: RUF001
        "ι": "l", "κ": "k", "μ": "u", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",  # noqa: RUF001
        "χ": "x", "ω": "w", "0": "o", "1": "l", "i": "l", "|": "l", "!": "l", "3": "e",
        "4": "a", "5": "s", "7": "t", "8": "b", "$": "s", "@": "a", "ı": "l",  # noqa: RUF001
    }
)  # fmt: skip
_LOOKALIKE_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"))
HOST_WORD = "host"


def name_skeleton(name: str) -> str:
    """What a name looks like, give or take case, accents, width, look-alike letters,
    separators and punctuation: NFKD, marks dropped, case-folded, NFKC, look-alikes folded,
    then letters and digits only ("H0st_Alice" and "host-alice" share "hostallce")."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    folded = unicodedata.normalize("NFKC", bare.casefold()).translate(_CONFUSABLES)
    skeleton = "".join(c for c in folded if c.isalnum())
    for pair, single in _LOOKALIKE_PAIRS:
        skeleton = skeleton.replace(pair, single)
    return skeleton


def imitates(name: str, original: str) -> bool:
    """Whether `name` passes for `original` (the host's name) or for "the host": the same
    skeleton, or the same once the word "host" is taken out of both ("alice (host)" for
    "alice", "alice" for "host-alice"), or "host" alone."""
    mine, theirs = name_skeleton(name), name_skeleton(original)
    if not mine:
        return False
    if mine == HOST_WORD:
        return True
    if not theirs:
        return False
    mine_bare, theirs_bare = mine.replace(HOST_WORD, ""), theirs.replace(HOST_WORD, "")
    return mine == theirs or (bool(mine_bare) and mine_bare == theirs_bare)
