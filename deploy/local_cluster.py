"""The deploy/compose.yaml topology without Docker, on loopback: a one-shot migration, two
`queueit serve` replicas on PostgreSQL (and Redis when given), and nginx in front with the
proxy rules of deploy/nginx.conf (plain HTTP: the TLS lines are dropped when rendering).

    .venv/bin/python deploy/local_cluster.py \\
        --database-url postgresql://postgres@127.0.0.1:5432/queueit \\
        --redis-url redis://127.0.0.1:6379/0 [--port 8080]

runs until Ctrl-C and tears everything down. tests/ops/test_cluster.py drives the same class.
Needs nginx on PATH (Debian: `apt-get install -y nginx-light`). Only standard library."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
NGINX_TEMPLATE = HERE / "nginx.conf"
LOOPBACK = "127.0.0.1"

# Settings the replicas must not inherit from the caller's environment (anything else of the
# app's configuration is passed explicitly).
_APP_ENV_PREFIXES = (
    "ENVIRONMENT",
    "HOST",
    "PORT",
    "WORKERS",
    "DATA_DIR",
    "DATABASE_",
    "REDIS_",
    "SUPABASE_",
    "LOCAL_JWT",
    "ALLOWED_ORIGINS",
    "TRUSTED_PROXIES",
    "RATE_LIMIT",
    "METRICS_",
    "SENTRY_",
    "LOG_",
    "REALTIME_",
    "SESSION_",
    "CATALOG_",
    "SPOTIFY_",
    "APPLE_",
)


def render_nginx_conf(template: str, *, prefix: Path, listen: str, upstreams: list[str]) -> str:
    """deploy/nginx.conf with its "# local:" rewrites applied (see the comment at its top)."""
    values = {"{prefix}": str(prefix), "{listen}": listen}
    for number, upstream in enumerate(upstreams, start=1):
        values[f"{{app{number}}}"] = upstream
    lines: list[str] = []
    dropping = False
    for line in template.splitlines():
        stripped = line.strip()
        if stripped == "# local-drop-begin":
            dropping = True
            continue
        if stripped == "# local-drop-end":
            dropping = False
            continue
        if dropping:
            continue
        is_comment = stripped.startswith("#") and not stripped.startswith("# local:")
        if "# local:" in line and not is_comment:
            replacement = line.split("# local:", 1)[1].strip()
            if replacement == "-":
                continue
            for key, value in values.items():
                replacement = replacement.replace(key, value)
            indent = line[: len(line) - len(line.lstrip())]
            line = indent + replacement
        lines.append(line)
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, *, timeout: float, expect: int = 200) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == expect:
                    return
                last = response.status
        except urllib.error.HTTPError as exc:
            last = exc.code
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer {expect} within {timeout}s (last: {last})")


def _stop_process(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return int(proc.returncode)


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (graceful: in-flight requests finish), then the exit status."""
        return _stop_process(self.process, signal.SIGTERM, timeout)

    def wait_ready(self, timeout: float) -> None:
        """Until /readyz answers 200; fails at once (with the log's end) if the process dies."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log()[-3000:]}"
                )
            try:
                wait_http(f"{self.url}/readyz", timeout=min(1.0, deadline - time.monotonic()))
                return
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class LocalCluster:
    database_url: str
    redis_url: str = ""
    port: int = 0
    replicas: int = 2
    env: dict[str, str] = field(default_factory=dict)
    metrics_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    workdir: Path | None = None
    python: str = sys.executable
    nginx_binary: str = ""
    started: list[Replica] = field(default_factory=list)
    _nginx: subprocess.Popen[bytes] | None = None
    _own_workdir: bool = False

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}"

    def app_env(self) -> dict[str, str]:
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.upper().startswith(_APP_ENV_PREFIXES)
        }
        base.update(
            {
                "ENVIRONMENT": "production",
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                # The proxy is the peer: trust it for X-Forwarded-For.
                "TRUSTED_PROXIES": f"{LOOPBACK}/32",
                "LOG_JSON": "true",
                "DATA_DIR": str(self._dir() / "data"),
                # Production hides /metrics on the API port without a token.
                "METRICS_TOKEN": self.metrics_token,
            }
        )
        base.update(self.env)
        return base

    def _dir(self) -> Path:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="queueit-cluster-"))
            self._own_workdir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self.workdir

    def start(self, timeout: float = 60.0) -> LocalCluster:
        nginx = self.nginx_binary or shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise FileNotFoundError("nginx is not installed (apt-get install -y nginx-light)")
        workdir = self._dir()
        env = self.app_env()
        # The one-shot migrate service of compose.yaml.
        migrate = subprocess.run(  # noqa: S603 - our own interpreter and module
            [self.python, "-m", "queueit.cli", "migrate"],
            env=env,
            cwd=workdir,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"queueit migrate failed: {migrate.stderr.decode()[-2000:]}")
        for number in range(1, self.replicas + 1):
            self.started.append(self._start_replica(f"app{number}", env))
        for replica in self.started:
            replica.wait_ready(timeout)
        self.port = self.port or free_port()
        prefix = workdir / "nginx"
        (prefix / "tmp").mkdir(parents=True, exist_ok=True)
        conf = render_nginx_conf(
            NGINX_TEMPLATE.read_text(),
            prefix=prefix,
            listen=f"{LOOPBACK}:{self.port}",
            upstreams=[f"{LOOPBACK}:{replica.port}" for replica in self.started],
        )
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # Workers would run as "nobody" and could not enter a private (0700) workdir.
            conf = "user root;\n" + conf
        (prefix / "nginx.conf").write_text(conf)
        command = [
            nginx,
            "-p",
            str(prefix),
            "-c",
            str(prefix / "nginx.conf"),
            "-e",
            str(prefix / "error.log"),
        ]
        check = subprocess.run(  # noqa: S603 - nginx with our rendered config
            [*command, "-t", "-q"], capture_output=True, timeout=30, check=False
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejected the rendered config: {check.stderr.decode()}")
        with (prefix / "stderr.log").open("wb") as err:
            self._nginx = subprocess.Popen(  # noqa: S603
                [*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=err
            )
        wait_http(f"{self.url}/healthz", timeout=timeout)
        return self

    def _start_replica(self, name: str, env: dict[str, str]) -> Replica:
        port = free_port()
        log_path = self._dir() / f"{name}.log"
        command = [self.python, "-m", "queueit.cli", "serve", "--host", LOOPBACK]
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [*command, "--port", str(port)],
                env=env,
                cwd=self._dir(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return Replica(name=name, port=port, process=process, log_path=log_path)

    def nginx_error_log(self) -> str:
        path = self._dir() / "nginx" / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        """Stop nginx and every replica (each bounded), then remove a temporary workdir."""
        try:
            if self._nginx is not None:
                _stop_process(self._nginx, signal.SIGQUIT, 10)
                self._nginx = None
        finally:
            for replica in self.started:
                _stop_process(replica.process, signal.SIGTERM, 20)
            if self._own_workdir and self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="PostgreSQL URL (shared)")
    parser.add_argument("--redis-url", default="", help="Redis URL (realtime fan-out, limits)")
    parser.add_argument("--port", type=int, default=8080, help="proxy port on 127.0.0.1")
    parser.add_argument("--replicas", type=int, default=2, choices=[1, 2])
    args = parser.parse_args()
    env = {}
    if "LOCAL_JWT_SECRET" in os.environ:
        env["LOCAL_JWT_SECRET"] = os.environ["LOCAL_JWT_SECRET"]
    else:
        env["LOCAL_JWT_SECRET"] = os.urandom(32).hex()
    cluster = LocalCluster(
        database_url=args.database_url,
        redis_url=args.redis_url,
        port=args.port,
        replicas=args.replicas,
        env=env,
    )
    try:
        cluster.start()
        print(f"proxy: {cluster.url}")  # noqa: T201
        for replica in cluster.started:
            print(f"{replica.name}: {replica.url} (log {replica.log_path})")  # noqa: T201
        print("Ctrl-C stops everything")  # noqa: T201
        while all(r.process.poll() is None for r in cluster.started):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
