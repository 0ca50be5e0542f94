"""The deployment kit CI cannot run (no Docker engine): its files keep the shape the docs
promise, and nginx.conf renders for the loopback cluster as documented."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _cluster_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("local_cluster", DEPLOY / "local_cluster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["local_cluster"] = module
    spec.loader.exec_module(module)
    return module


def test_dockerfile_is_multi_stage_non_root_and_locked() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("\nFROM ") >= 1 and " AS build" in text and " AS runtime" in text
    assert "--constraint requirements.lock" in text
    assert "pip install --no-deps ." in text
    assert "\nUSER queueit" in text
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert 'CMD ["queueit", "serve"]' in text
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:1] == ["*"]  # everything out, then only what is needed
    assert "!src/" in ignored and "!requirements.lock" in ignored


def test_compose_has_the_documented_topology() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "app1", "app2", "proxy"} <= set(services)
    assert services["migrate"]["command"] == ["queueit", "migrate"]
    for app in ("app1", "app2"):
        depends = services[app]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        env = services[app]["environment"]
        assert env["ENVIRONMENT"] == "production"
        assert env["REDIS_URL"].startswith("redis://")
        assert env["TRUSTED_PROXIES"] == "172.28.0.10/32"
    proxy = services["proxy"]
    assert proxy["networks"]["default"]["ipv4_address"] == "172.28.0.10"
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]


def test_nginx_conf_proxies_websockets_and_both_replicas() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    for needle in (
        "server app1:8000",
        "server app2:8000",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "location ~ ^/api/v1/sessions/[^/]+/realtime$",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "client_max_body_size 64k;",
        "listen 443 ssl;",
    ):
        assert needle in conf, needle


def test_local_rendering_drops_tls_and_points_at_loopback(tmp_path: Path) -> None:
    module = _cluster_module()
    rendered = module.render_nginx_conf(
        (DEPLOY / "nginx.conf").read_text(),
        prefix=tmp_path,
        listen="127.0.0.1:18080",
        upstreams=["127.0.0.1:18001", "127.0.0.1:18002"],
    )
    directives = [line.split("#", 1)[0].strip() for line in rendered.splitlines()]
    assert "listen 127.0.0.1:18080;" in directives
    assert "server 127.0.0.1:18001 max_fails=1 fail_timeout=5s;" in directives
    assert "server 127.0.0.1:18002 max_fails=1 fail_timeout=5s;" in directives
    assert f"pid {tmp_path}/nginx.pid;" in directives
    assert not [d for d in directives if d.startswith(("ssl_", "listen 443", "listen 80"))]
    assert not [d for d in directives if "app1:" in d or "app2:" in d]
    for placeholder in ("{prefix}", "{listen}", "{app1}", "{app2}"):
        assert placeholder not in "\n".join(directives)
    # Everything else is the same file: the WebSocket location survives the rendering.
    assert "proxy_set_header Upgrade $http_upgrade;" in directives
