"""Health: liveness (/healthz), readiness (/readyz) and metrics (/metrics)."""
