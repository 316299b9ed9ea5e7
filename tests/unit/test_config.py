import pytest

from ciam_webapp.config import ConfigError, Settings

VALID = {
    "CLIENT_ID": "11111111-1111-1111-1111-111111111111",
    "CLIENT_SECRET": "s3cret-value",
    "TENANT_SUBDOMAIN": "contoso",
    "REDIRECT_URI": "http://localhost:5000/auth/redirect",
    "POST_LOGOUT_REDIRECT_URI": "http://localhost:5000/",
    "SECRET_KEY": "x" * 40,
    "MFA_SCOPE": "api://22222222-2222-2222-2222-222222222222/User.MFA",
}


def test_defaults_follow_the_sample():
    settings = Settings.from_mapping(VALID)
    assert settings.authority == "https://contoso.ciamlogin.com/"
    assert settings.graph_endpoint == "https://graph.microsoft.com/v1.0"
    assert settings.redirect_path == "/auth/redirect"
    assert settings.session_type == "filesystem"
    assert settings.step_up_max_age == 600


def test_secret_is_not_in_repr():
    assert "s3cret-value" not in repr(Settings.from_mapping(VALID))


@pytest.mark.parametrize("name", ["CLIENT_ID", "CLIENT_SECRET", "TENANT_SUBDOMAIN", "REDIRECT_URI", "SECRET_KEY"])
def test_missing_value_names_the_variable(name):
    values = {k: v for k, v in VALID.items() if k != name}
    with pytest.raises(ConfigError, match=name):
        Settings.from_mapping(values)


def test_sample_placeholder_is_refused_with_the_variable_name():
    values = dict(VALID, CLIENT_ID="Enter_the_Application_Id_Here")
    with pytest.raises(ConfigError, match="CLIENT_ID still holds the sample's placeholder"):
        Settings.from_mapping(values)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("REDIRECT_URI", "localhost:5000/redirect", "absolute http"),
        ("HTTP_TIMEOUT", "soon", "must be a number"),
        ("SESSION_TYPE", "memcached", "must be one of"),
        ("MFA_SCOPE", "User.MFA", "api://"),
        ("CA_BUNDLE", "/nonexistent/ca.pem", "not a file"),
        ("SECRET_KEY", "short", "too short"),
    ],
)
def test_invalid_values_are_explained(name, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_mapping(dict(VALID, **{name: value}))


def test_redis_needs_a_url():
    with pytest.raises(ConfigError, match="REDIS_URL"):
        Settings.from_mapping(dict(VALID, SESSION_TYPE="redis"))


def test_environment_wins_over_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("".join(f"{k}={v}\n" for k, v in VALID.items()) + "TENANT_SUBDOMAIN=fromfile\n")
    settings = Settings.from_env({"TENANT_SUBDOMAIN": "fromenv"}, dotenv_path=dotenv)
    assert settings.tenant_subdomain == "fromenv"
    assert settings.client_id == VALID["CLIENT_ID"]


def test_cli_check_reports_the_problem(monkeypatch, capsys, tmp_path):
    from ciam_webapp.cli import main

    monkeypatch.chdir(tmp_path)
    for name in VALID:
        monkeypatch.delenv(name, raising=False)
    assert main(["check"]) == 2
    assert "CLIENT_ID is not set" in capsys.readouterr().err
