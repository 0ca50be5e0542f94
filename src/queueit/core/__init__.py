"""Shared core: settings, database, errors, logging, middleware, security."""
