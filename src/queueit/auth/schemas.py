"""Shapes of the local sign-in route."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from queueit.core.text import STRICT_BODY, CleanStr
from queueit.users.schemas import UserOut

DisplayName = Annotated[CleanStr, StringConstraints(min_length=1, max_length=30)]


class AnonymousSignIn(BaseModel):
    model_config = STRICT_BODY

    display_name: DisplayName | None = Field(default=None, examples=["Sam"])


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: UserOut
