"""ciam_core.environment: the one reader behind the web app's and the API's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

import ciam_api.config
import ciam_webapp.config
from ciam_core.environment import ConfigError, EnvironmentReader, environment_values


def test_both_apps_raise_the_same_config_error() -> None:
    assert ciam_api.config.ConfigError is ciam_webapp.config.ConfigError is ConfigError


def test_a_left_placeholder_is_named_with_its_variable() -> None:
    with pytest.raises(ConfigError, match=r"^TENANT_ID still holds the sample's placeholder 'Enter_the_Tenant_Id'"):
        EnvironmentReader({"TENANT_ID": "Enter_the_Tenant_Id"}).optional("TENANT_ID")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "X_CLIENT_SECRET is not set: set it to a client secret of the x registration, or set X_CLIENT_"),
        (
            {"X_CLIENT_SECRET": "s", "X_CLIENT_CERTIFICATE_PATH": "p"},
            "X_CLIENT_SECRET and X_CLIENT_CERTIFICATE_PATH are both set: the x authenticates with one credential",
        ),
        (
            {"X_CLIENT_SECRET": "s", "X_CLIENT_CERTIFICATE_PASSWORD": "pw"},
            "X_CLIENT_CERTIFICATE_PASSWORD is set but X_CLIENT_CERTIFICATE_PATH is not",
        ),
    ],
)
def test_the_credential_messages_name_the_variables_of_the_prefix(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        EnvironmentReader(values).client_credential("X_", holder="the x", registration="the x registration")
    assert str(refused.value).startswith(message)


def test_a_secret_alone_is_the_credential() -> None:
    reader = EnvironmentReader({"X_CLIENT_SECRET": "s"})
    assert reader.client_credential("X_", holder="", registration="") == ("s", None, None)


def test_the_environment_wins_over_the_dotenv_file(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("A=file\nB=file\n")
    assert environment_values({"B": "env"}, dotenv) == {"A": "file", "B": "env"}
    assert environment_values({"B": "env"}, tmp_path / "absent") == {"B": "env"}
