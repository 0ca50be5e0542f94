"""Catalog: music providers (Spotify, Apple Music, local demo), search cache, matching."""
