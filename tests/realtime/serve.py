"""A test server process: settings from the environment (JSON), a free port on 127.0.0.1
printed on the first line of stdout, then uvicorn until SIGTERM."""

from __future__ import annotations

import os
import sys

import uvicorn

from queueit.core.settings import Settings
from queueit.main import create_app
from tests.realtime.harness import SETTINGS_ENV, listening_socket, uvicorn_config


def main() -> None:
    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    sock = listening_socket()
    sys.stdout.write(f"{sock.getsockname()[1]}\n")
    sys.stdout.flush()
    uvicorn.Server(uvicorn_config(create_app(settings), settings)).run(sockets=[sock])


if __name__ == "__main__":
    main()
