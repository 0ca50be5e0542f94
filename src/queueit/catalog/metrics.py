"""Prometheus counters for the catalog (low-cardinality labels only: no queries, no ids)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SEARCH_CACHE_HITS = Counter(
    "queueit_catalog_search_cache_hits",
    "Catalog searches answered from the search cache.",
    ["provider"],
)
SEARCH_CACHE_MISSES = Counter(
    "queueit_catalog_search_cache_misses",
    "Catalog searches that had to ask the provider.",
    ["provider"],
)
SEARCH_COALESCED = Counter(
    "queueit_catalog_search_coalesced",
    "Catalog searches that waited for an identical search already asking the provider.",
    ["provider"],
)
PROVIDER_CALLS = Counter(
    "queueit_catalog_provider_calls",
    "HTTP calls to catalog providers by operation and outcome.",
    ["provider", "operation", "outcome"],
)
PROVIDER_SECONDS = Histogram(
    "queueit_catalog_provider_seconds",
    "Latency of HTTP calls to catalog providers.",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
RESOLUTIONS = Counter(
    "queueit_catalog_resolutions",
    "Cross-catalog resolutions by target provider and outcome (isrc, search, unavailable, "
    "cached, passthrough).",
    ["target", "outcome"],
)
VERIFICATIONS = Counter(
    "queueit_catalog_verifications",
    "Added tracks looked up in their catalog, by source and outcome (stored: already verified "
    "in the songs table; cached; found; not_found; not_configured; unverified: taken as sent "
    "under ALLOW_UNVERIFIED_TRACKS).",
    ["source", "outcome"],
)
