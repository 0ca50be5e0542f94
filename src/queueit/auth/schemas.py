"""Shapes of the local sign-in route."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from queueit.core.text import STRICT_BODY
from queueit.users.schemas import DisplayName, UserOut


class AnonymousSignIn(BaseModel):
    model_config = STRICT_BODY

    display_name: DisplayName | None = Field(default=None, examples=["Sam"])


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: UserOut
