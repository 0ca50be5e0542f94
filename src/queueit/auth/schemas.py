"""Shapes of the local sign-in route."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from queueit.core.text import REQUIRED_TEXT_PATTERN, STRICT_BODY, CleanStr, text_schema
from queueit.users.schemas import UserOut

DisplayName = Annotated[
    CleanStr,
    StringConstraints(min_length=1, max_length=30),
    text_schema(30, minLength=1, pattern=REQUIRED_TEXT_PATTERN),
]


class AnonymousSignIn(BaseModel):
    model_config = STRICT_BODY

    display_name: DisplayName | None = Field(default=None, examples=["Sam"])


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: UserOut
