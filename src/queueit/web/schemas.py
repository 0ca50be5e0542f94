"""Shapes of the web API routes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TvLinkOut(BaseModel):
    url: str = Field(
        description="The TV page, relative to this server: `/tv/{session_id}?token=...`.",
        examples=["/tv/0b6f3c1e-9a52-4a1e-8d2f-3f1f7c2b9d10?token=eyJhbGciOi..."],
    )
    absolute_url: str = Field(
        description="The same link on PUBLIC_BASE_URL; the relative `url` when that is unset "
        "(the request's Host header is never echoed)."
    )
    expires_in: int = Field(description="Seconds until the link stops working.", examples=[43200])
    expires_at: datetime = Field(description="When the link stops working.")
