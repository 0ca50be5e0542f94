"""Docs that must stay true: every setting is in ENV.example, every route in docs/API.md."""

from __future__ import annotations

import re
from pathlib import Path

from queueit.core.settings import Settings
from queueit.main import create_app

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented_in_env_example() -> None:
    text = (ROOT / "ENV.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    settings = {name.upper() for name in Settings.model_fields}
    assert settings - documented == set(), "add these to ENV.example"
    assert documented - settings == set(), "ENV.example names settings that do not exist"


def test_every_api_route_is_in_the_api_doc() -> None:
    doc = (ROOT / "docs" / "API.md").read_text()
    schema = create_app(Settings(_env_file=None)).openapi()
    for path in schema["paths"]:
        if path.startswith("/api/v1"):
            short = re.sub(r"\{[^}]+\}", "{", path.removeprefix("/api/v1"))
            pattern = re.escape(short).replace(r"\{", r"\{[^}]+\}")
            assert re.search(pattern, doc), f"{path} is not described in docs/API.md"


def test_every_route_has_a_summary_and_declared_errors() -> None:
    schema = create_app(Settings(_env_file=None)).openapi()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
            assert operation.get("description"), f"{method.upper()} {path} has no description"
            if path.startswith("/api/v1"):
                assert "429" in operation["responses"], f"{method.upper()} {path}: no 429"


def test_env_example_is_a_valid_env_file() -> None:
    settings = Settings(_env_file=ROOT / "ENV.example")  # type: ignore[call-arg]
    assert settings.auth_mode == "local" and settings.is_sqlite
