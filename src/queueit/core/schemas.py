"""Shapes every area answers with."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OkOut(BaseModel):
    """`{"ok": true}`: the change was made (every value of the iOS app's Ok shape is a bool)."""

    model_config = ConfigDict(json_schema_extra={"example": {"ok": True}})

    ok: bool = True
