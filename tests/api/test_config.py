"""The API's settings: validated once, every problem named with its variable and its fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ciam_api.config import ConfigError, Settings

# Fixed, not random: they name parametrized tests, which must be the same in every test process.
TENANT = "3f2a6c1e-8b4d-4e2a-9c7f-1d5e8a2b4c6d"
API = "7b9e2d4f-1a3c-4e5b-8d6f-2c4e6a8b0d1f"
WEB = "c5d7e9f1-3b5d-4f7a-9c1e-5a7c9e1b3d5f"


def values(**overrides: str) -> dict[str, str]:
    base = {
        "API_CLIENT_ID": API,
        "API_CLIENT_SECRET": "secret",
        "AUTHORITY": f"https://contoso.ciamlogin.com/{TENANT}/",
        "TENANT_ID": TENANT,
        "ALLOWED_CLIENT_APPS": WEB,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v != ""}


def test_defaults() -> None:
    settings = Settings.from_mapping(values(ALLOWED_CLIENT_APPS=f" {WEB.upper()} , {API} "))
    assert settings.required_scope == "User.MFA" and settings.required_auth_context is None
    assert settings.allowed_client_apps == {WEB, API}
    assert settings.authority == f"https://contoso.ciamlogin.com/{TENANT}"
    assert settings.graph_scopes == ("User.ReadWrite",) and settings.obo_cache_redis_url is None
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("API_CLIENT_ID", "", "API_CLIENT_ID is not set"),
        ("API_CLIENT_ID", "Enter_the_Application_Id_Here", "placeholder"),
        ("API_CLIENT_ID", "mfa-app", "GUID"),
        ("API_CLIENT_SECRET", "", "API_CLIENT_SECRET is not set"),
        ("AUTHORITY", "", "AUTHORITY is not set"),
        ("AUTHORITY", "contoso.ciamlogin.com", r"AUTHORITY must be an absolute http\(s\) URL"),
        ("AUTHORITY", f"http://contoso.ciamlogin.com/{TENANT}", "AUTHORITY must be https"),
        ("TENANT_ID", "", "TENANT_ID is not set"),
        ("TENANT_ID", "contoso", "TENANT_ID must be"),
        ("ALLOWED_CLIENT_APPS", "", "ALLOWED_CLIENT_APPS is not set"),
        ("ALLOWED_CLIENT_APPS", " , ", "ALLOWED_CLIENT_APPS is not set"),
        ("ALLOWED_CLIENT_APPS", "webapp", "ALLOWED_CLIENT_APPS must hold"),
        ("REQUIRED_SCOPE", "User.MFA User.Read", "REQUIRED_SCOPE must be one scope"),
        ("REQUIRED_AUTH_CONTEXT", "mfa", "REQUIRED_AUTH_CONTEXT must be"),
        ("REQUIRED_AUTH_CONTEXT", "c100", "REQUIRED_AUTH_CONTEXT must be"),
        ("TOKEN_LEEWAY", "600", "TOKEN_LEEWAY must be at most 300"),
        ("TOKEN_LEEWAY", "-1", "TOKEN_LEEWAY must be at least"),
        ("HTTP_TIMEOUT", "soon", "HTTP_TIMEOUT must be a number"),
        ("CA_BUNDLE", "/nonexistent/ca.pem", "CA_BUNDLE points to"),
        ("GRAPH_ENDPOINT", "graph.microsoft.com", "GRAPH_ENDPOINT must be"),
    ],
)
def test_bad_settings_are_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_mapping(values(**{name: value}))


def test_an_auth_context_is_accepted() -> None:
    assert Settings.from_mapping(values(REQUIRED_AUTH_CONTEXT="c1")).required_auth_context == "c1"


def test_ciam_api_check_reports_and_exits(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "ciam_api.cli", "check"]
    env = {"PATH": "/usr/bin:/bin", **values()}
    ok = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "Configuration OK" in ok.stdout
    env.pop("ALLOWED_CLIENT_APPS")
    bad = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "ALLOWED_CLIENT_APPS is not set" in bad.stderr
    # The emulator's seed writes the API's settings to their own file.
    (tmp_path / "api.env").write_text(f"ALLOWED_CLIENT_APPS={WEB}\n")
    from_file = [sys.executable, "-m", "ciam_api.cli", "--env-file", "api.env", "check"]
    ok = subprocess.run(from_file, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr


def test_a_certificate_instead_of_the_secret(tmp_path: Path) -> None:
    from tests.support.certificates import make_certificate

    certificate = make_certificate("ciam-api")
    pem = certificate.write_pem(tmp_path / "api.pem", password="pem-pass")
    settings = Settings.from_mapping(
        values(API_CLIENT_SECRET="", API_CLIENT_CERTIFICATE_PATH=str(pem), API_CLIENT_CERTIFICATE_PASSWORD="pem-pass")
    )
    credential = settings.client_credential()
    assert isinstance(credential, dict) and credential["passphrase"] == "pem-pass"
    assert credential["public_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert "pem-pass" not in repr(settings)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"API_CLIENT_CERTIFICATE_PASSWORD": "wrong"}, "cannot be read: a wrong API_CLIENT_CERTIFICATE_PASSWORD"),
        ({"API_CLIENT_CERTIFICATE_PASSWORD": ""}, "is encrypted: set API_CLIENT_CERTIFICATE_PASSWORD"),
        ({"API_CLIENT_SECRET": "secret"}, "both set"),
    ],
)
def test_certificate_problems_are_named(tmp_path: Path, changes: dict[str, str], message: str) -> None:
    from tests.support.certificates import make_certificate

    pem = make_certificate("ciam-api").write_pem(tmp_path / "api.pem", password="pem-pass")
    mapping = values(
        API_CLIENT_SECRET="", API_CLIENT_CERTIFICATE_PATH=str(pem), API_CLIENT_CERTIFICATE_PASSWORD="pem-pass"
    )
    mapping.update(changes)
    with pytest.raises(ConfigError, match=message):
        Settings.from_mapping({k: v for k, v in mapping.items() if v})


def test_a_certificate_of_another_key_is_refused(tmp_path: Path) -> None:
    from tests.support.certificates import make_certificate

    first, second = make_certificate("one"), make_certificate("two")
    mixed = tmp_path / "mixed.pem"
    mixed.write_text(first.private_key_pem() + second.certificate_pem)
    with pytest.raises(ConfigError, match="no certificate in .* matches its private key"):
        Settings.from_mapping(values(API_CLIENT_SECRET="", API_CLIENT_CERTIFICATE_PATH=str(mixed)))


def test_the_example_file_names_every_setting_and_its_placeholders_stop_the_api() -> None:
    from dotenv import dotenv_values

    example = Path(__file__).parents[2] / "api.env.example"
    text = example.read_text()
    for name in (
        "API_CLIENT_ID",
        "API_CLIENT_SECRET",
        "API_CLIENT_CERTIFICATE_PATH",
        "AUTHORITY",
        "TENANT_ID",
        "ALLOWED_CLIENT_APPS",
        "REQUIRED_SCOPE",
        "REQUIRED_AUTH_CONTEXT",
        "OBO_CACHE_REDIS_URL",
    ):
        assert name in text
    with pytest.raises(ConfigError, match="placeholder"):
        Settings.from_mapping({k: v for k, v in dotenv_values(example).items() if v})
