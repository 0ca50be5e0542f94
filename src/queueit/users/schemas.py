"""User shapes as the iOS app reads them."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from queueit.core.text import REQUIRED_TEXT_PATTERN, SPACE, STRICT_BODY, CleanStr, text_schema
from queueit.users.models import MusicProvider

# The name a guest goes by (chosen at sign-in or later); what others see when there is no
# username. One text rule (core/text.py), published as the schema's pattern.
DisplayName = Annotated[
    CleanStr,
    StringConstraints(min_length=1, max_length=30),
    text_schema(30, minLength=1, pattern=REQUIRED_TEXT_PATTERN),
]

USERNAME_RE = re.compile(r"^[A-Za-z0-9_-]{3,30}$")
STOREFRONT_RE = re.compile(r"^[a-z]{2}$")


def _username(value: str) -> str:
    if not USERNAME_RE.match(value):
        raise ValueError("username must be 3-30 letters, digits, '-' or '_'")
    return value


def _storefront(value: str) -> str:
    value = value.lower()
    if not STOREFRONT_RE.match(value):
        raise ValueError("storefront must be a two-letter region code such as 'us'")
    return value


# The patterns document the rule in the OpenAPI schema (surrounding whitespace is trimmed).
Username = Annotated[
    CleanStr,
    AfterValidator(_username),
    WithJsonSchema({"type": "string", "pattern": rf"^{SPACE}*[A-Za-z0-9_-]{{3,30}}{SPACE}*$"}),
]
Storefront = Annotated[
    CleanStr,
    AfterValidator(_storefront),
    WithJsonSchema({"type": "string", "pattern": rf"^{SPACE}*[A-Za-z]{{2}}{SPACE}*$"}),
]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str | None
    display_name: str | None = None
    music_provider: MusicProvider
    storefront: str
    is_anonymous: bool


class UserUpdate(BaseModel):
    model_config = STRICT_BODY

    username: Username | None = Field(default=None, examples=["dj-sam"])
    display_name: DisplayName | None = Field(default=None, examples=["Sam"])
    music_provider: MusicProvider | None = Field(default=None, examples=["spotify"])
    storefront: Storefront | None = Field(default=None, examples=["gb"])
