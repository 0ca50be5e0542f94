"""The `queueit` command: serve, migrate, token, reverify-tracks."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from types import FrameType

from queueit.core.logging import configure_logging
from queueit.core.settings import Settings


async def _migrate(settings: Settings) -> None:
    from queueit.core.engine import create_engine
    from queueit.core.migrate import upgrade

    engine = create_engine(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _token(settings: Settings, username: str, ttl: int, provider: str) -> str:
    from queueit.auth.service import token_for_username
    from queueit.core.engine import create_engine, create_sessionmaker
    from queueit.core.security import local_secret
    from queueit.core.uow import Database, open_uow
    from queueit.users.models import MusicProvider

    if settings.is_sqlite:  # like `serve`: a first run needs no separate `migrate`
        await _migrate(settings)
    engine = create_engine(settings)
    database = Database(settings=settings, engine=engine, sessionmaker=create_sessionmaker(engine))
    try:
        # The operator's own work: the server's role under row-level security.
        async with open_uow(database, system=True) as uow:
            return await token_for_username(
                uow,
                secret=local_secret(settings),
                ttl_seconds=ttl,
                username=username,
                provider=MusicProvider(provider),
            )
    finally:
        await engine.dispose()


async def _reverify(settings: Settings, storefront: str, *, refresh: bool) -> int:
    import httpx

    from queueit.catalog.reverify import reverify_stored
    from queueit.catalog.service import build_catalog
    from queueit.core.engine import create_engine, create_sessionmaker
    from queueit.core.uow import Database

    engine = create_engine(settings)
    database = Database(settings=settings, engine=engine, sessionmaker=create_sessionmaker(engine))
    try:
        async with httpx.AsyncClient() as http:
            catalog = await build_catalog(settings, http, None)
            try:
                report = await reverify_stored(
                    database,
                    catalog,
                    storefront=storefront,
                    keep_unconfigured=settings.allow_unverified_tracks,
                    refresh=refresh,
                )
            finally:
                await catalog.aclose()
    finally:
        await engine.dispose()
    sys.stderr.write(
        f"queueit: {report.verified} tracks verified, {report.unknown} unknown (text replaced),"
        f" {report.unavailable} left for a later run (catalog unavailable),"
        f" {report.kept} kept unverified, {report.gone} no longer in the catalog\n"
    )
    return 1 if report.unavailable else 0


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _raise_open_files_limit(wanted: int) -> None:
    """Each connection is a file descriptor; many systems start processes with a soft limit of
    256 or 1024, below SERVE_MAX_CONNECTIONS. Raise it toward the hard limit (never above)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from queueit.core.http_guard import PROTOCOL_PATH
    from queueit.core.ws_frames import WS_PROTOCOL_PATH

    problems = settings.production_problems()
    if problems:
        for problem in problems:
            sys.stderr.write(f"queueit: refusing to start: {problem}\n")
        return 2
    if settings.migrates_on_start and not args.no_migrate:
        asyncio.run(_migrate(settings))  # once, before any worker starts
    # Connections, plus the database pool, Redis, log and data files.
    _raise_open_files_limit(settings.serve_max_connections + 256)
    # uvicorn re-raises SIGTERM after its graceful shutdown; a clean stop should exit 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "queueit.main:create_served_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        log_config=None,
        access_log=False,  # the app logs request_finished itself (core/logging.py)
        proxy_headers=False,
        # Header-read timeout and connection cap (uvicorn has neither): core/http_guard.py.
        http=PROTOCOL_PATH,
        timeout_graceful_shutdown=10,
        ws=WS_PROTOCOL_PATH,  # uvicorn's sans-I/O websockets, plus the frame writer
        ws_max_size=64 * 1024,
        ws_ping_interval=settings.realtime_ping_interval_seconds,
        ws_ping_timeout=settings.realtime_ping_timeout_seconds,
        # Compression nearly doubles memory per idle socket (docs/BENCHMARKS.md).
        ws_per_message_deflate=False,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="queueit", description="QueueIT server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve", help="serve the API (migrates first with MIGRATE_ON_START, default: SQLite)"
    )
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument(
        "--no-migrate",
        action="store_true",
        help="do not migrate on start, whatever MIGRATE_ON_START says",
    )
    sub.add_parser("migrate", help="apply database migrations")
    token = sub.add_parser("token", help="print a local-mode access token for a named user")
    token.add_argument("--username", required=True)
    token.add_argument("--ttl", type=int, default=7 * 24 * 3600, help="lifetime in seconds")
    token.add_argument(
        "--provider",
        choices=["spotify", "apple", "none"],
        default="spotify",
        help="music provider given to a new user (default: spotify)",
    )
    reverify = sub.add_parser(
        "reverify-tracks",
        help="look up again every stored track whose text did not come from the catalog",
    )
    reverify.add_argument(
        "--storefront", default="us", help="storefront/market of the lookups (default: us)"
    )
    reverify.add_argument(
        "--all",
        action="store_true",
        dest="refresh",
        help="refresh verified tracks from the catalog too",
    )
    args = parser.parse_args(argv)
    settings = Settings()
    # Logs go to stderr: `queueit token` output must be the token alone (TOKEN=$(...)).
    configure_logging(settings)

    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        sys.stderr.write("queueit: database is up to date\n")
        return 0
    if args.command == "reverify-tracks":
        return asyncio.run(_reverify(settings, args.storefront.lower(), refresh=args.refresh))
    if settings.auth_mode != "local":
        sys.stderr.write("queueit: tokens are issued by Supabase in this configuration\n")
        return 2
    from queueit.users.schemas import USERNAME_RE

    if not USERNAME_RE.match(args.username):
        sys.stderr.write("queueit: username must be 3-30 letters, digits, '-' or '_'\n")
        return 2
    if args.ttl <= 0:
        sys.stderr.write("queueit: --ttl must be a positive number of seconds\n")
        return 2
    from queueit.users.service import UsernameBelongsToGuest

    try:
        minted = asyncio.run(_token(settings, args.username, args.ttl, args.provider))
    except UsernameBelongsToGuest:
        sys.stderr.write(
            f"queueit: refusing: the username '{args.username}' belongs to a guest (anonymous) "
            "account; a token for it would turn that guest into a full account that could "
            "host. Pick another username (guests upgrade only by signing up through "
            "Supabase).\n"
        )
        return 2
    sys.stdout.write(minted + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
