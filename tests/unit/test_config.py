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
    assert settings.session_type == "embedded"
    assert settings.step_up_max_age == 600
    assert settings.sign_in_rate_limit == "20 per minute;200 per hour"


def test_the_embedded_store_keeps_its_old_name():
    assert Settings.from_mapping({**VALID, "SESSION_TYPE": "filesystem"}).session_type == "embedded"


@pytest.mark.parametrize("value", ["lots", "20 per fortnight", "-1/minute"])
def test_a_rate_limit_that_is_not_one_is_refused_naming_the_variable(value):
    with pytest.raises(ConfigError, match="SIGN_IN_RATE_LIMIT"):
        Settings.from_mapping({**VALID, "SIGN_IN_RATE_LIMIT": value})


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
        ("HTTP_CONNECT_TIMEOUT", "0", "at least 0.1"),
        ("OUTBOUND_CALL_LIMIT", "three", "OUTBOUND_CALL_LIMIT must be a whole number of at least 1"),
        ("OUTBOUND_CALL_LIMIT", "0", "at least 1"),
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


# --- the certificate credential (CLIENT_CERTIFICATE_PATH instead of CLIENT_SECRET) ----------------

WITH_CERTIFICATE = {k: v for k, v in VALID.items() if k != "CLIENT_SECRET"}


@pytest.fixture(scope="module")
def certificate():
    from tests.support.certificates import make_certificate

    return make_certificate()


def test_certificate_instead_of_secret_gives_msal_the_pem_parts(certificate, tmp_path):
    path = certificate.write_pem(tmp_path / "client.pem")
    settings = Settings.from_mapping(dict(WITH_CERTIFICATE, CLIENT_CERTIFICATE_PATH=str(path)))
    assert settings.client_secret is None
    credential = settings.client_credential()
    assert set(credential) == {"private_key", "public_certificate"}
    assert credential["public_certificate"].strip() == certificate.certificate_pem.strip()
    assert "PRIVATE KEY" in credential["private_key"] and "CERTIFICATE" not in credential["private_key"]
    assert "PRIVATE KEY" not in repr(settings)


def test_secret_is_passed_to_msal_as_is():
    assert Settings.from_mapping(VALID).client_credential() == "s3cret-value"


def test_encrypted_key_needs_its_password_which_msal_gets_as_passphrase(certificate, tmp_path):
    path = certificate.write_pem(tmp_path / "client.pem", password="pem-pass-phrase")
    values = dict(WITH_CERTIFICATE, CLIENT_CERTIFICATE_PATH=str(path))
    with pytest.raises(ConfigError, match="encrypted: set CLIENT_CERTIFICATE_PASSWORD"):
        Settings.from_mapping(values)
    with pytest.raises(ConfigError, match="wrong CLIENT_CERTIFICATE_PASSWORD") as refused:
        Settings.from_mapping(dict(values, CLIENT_CERTIFICATE_PASSWORD="not-it"))
    assert "not-it" not in str(refused.value)
    settings = Settings.from_mapping(dict(values, CLIENT_CERTIFICATE_PASSWORD="pem-pass-phrase"))
    assert settings.client_credential()["passphrase"] == "pem-pass-phrase"
    assert "pem-pass-phrase" not in repr(settings)


def test_secret_and_certificate_together_are_refused(certificate, tmp_path):
    path = certificate.write_pem(tmp_path / "client.pem")
    with pytest.raises(ConfigError, match="CLIENT_SECRET and CLIENT_CERTIFICATE_PATH are both set"):
        Settings.from_mapping(dict(VALID, CLIENT_CERTIFICATE_PATH=str(path)))


def test_neither_credential_names_both_variables():
    with pytest.raises(ConfigError, match="CLIENT_SECRET is not set.*CLIENT_CERTIFICATE_PATH"):
        Settings.from_mapping(WITH_CERTIFICATE)


def test_certificate_password_alone_is_refused():
    with pytest.raises(ConfigError, match="CLIENT_CERTIFICATE_PASSWORD is set but CLIENT_CERTIFICATE_PATH is not"):
        Settings.from_mapping(dict(VALID, CLIENT_CERTIFICATE_PASSWORD="x"))


def test_certificate_path_placeholder_is_refused():
    values = dict(WITH_CERTIFICATE, CLIENT_CERTIFICATE_PATH="Enter_the_Certificate_Path_Here")
    with pytest.raises(ConfigError, match="CLIENT_CERTIFICATE_PATH still holds the sample's placeholder"):
        Settings.from_mapping(values)


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ("not pem at all", "one private key and its certificate"),
        ("certificate only", "0 private key"),
        ("key only", "0 certificate"),
        ("someone else's certificate", "no certificate in .* matches its private key"),
        ("garbled key", "cannot be read"),
    ],
)
def test_bad_certificate_file_names_the_variable(certificate, tmp_path, contents, message):
    from tests.support.certificates import make_certificate

    key, cert = certificate.private_key_pem(), certificate.certificate_pem
    text = {
        "not pem at all": "hello\n",
        "certificate only": cert,
        "key only": key,
        "someone else's certificate": key + make_certificate("other").certificate_pem,
        "garbled key": key.replace(key.splitlines()[3], "A" * 64) + cert,
    }[contents]
    path = tmp_path / "client.pem"
    path.write_text(text, encoding="ascii")
    with pytest.raises(ConfigError, match=message) as refused:
        Settings.from_mapping(dict(WITH_CERTIFICATE, CLIENT_CERTIFICATE_PATH=str(path)))
    assert "CLIENT_CERTIFICATE_PATH" in str(refused.value)


def test_unreadable_certificate_file_names_the_variable(tmp_path):
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(ConfigError, match="CLIENT_CERTIFICATE_PATH points to .* cannot be read as a PEM file"):
        Settings.from_mapping(dict(WITH_CERTIFICATE, CLIENT_CERTIFICATE_PATH=str(missing)))


# -- API mode (PROFILE_API_URL) --------------------------------------------------------------------


def test_without_a_profile_api_the_app_edits_through_graph_as_before():
    settings = Settings.from_mapping(VALID)
    assert not settings.uses_profile_api and settings.profile_api_url is None
    assert settings.graph_scopes == ("User.Read", "User.ReadWrite")


@pytest.mark.parametrize(
    "url", ["https://api.contoso.example", "https://api.contoso.example/", "http://localhost:5001", "http://127.0.0.1:5001"]
)
def test_in_api_mode_the_app_asks_graph_only_for_user_read(url):
    settings = Settings.from_mapping({**VALID, "PROFILE_API_URL": url})
    assert settings.uses_profile_api and settings.profile_api_url == url.rstrip("/")
    assert settings.graph_scopes == ("User.Read",)
    assert settings.sign_in_scopes == ("User.Read",)


@pytest.mark.parametrize("scopes", ["User.Read User.ReadWrite", "https://graph.microsoft.com/User.ReadWrite"])
def test_in_api_mode_a_graph_scope_that_can_write_is_refused(scopes):
    with pytest.raises(ConfigError, match="GRAPH_SCOPES.*PROFILE_API_URL"):
        Settings.from_mapping({**VALID, "PROFILE_API_URL": "https://api.contoso.example", "GRAPH_SCOPES": scopes})


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://api.contoso.example", "https"),
        ("http://10.0.0.5:5001", "https"),
        ("ftp://api.contoso.example", "absolute http"),
        ("api.contoso.example", "absolute http"),
        ("https://api.contoso.example/?x=1", "query"),
        ("Enter_the_Profile_Api_Url_Here", "placeholder"),
    ],
)
def test_a_profile_api_url_that_would_leak_the_token_or_cannot_work_is_refused(url, problem):
    with pytest.raises(ConfigError, match=f"PROFILE_API_URL.*{problem}"):
        Settings.from_mapping({**VALID, "PROFILE_API_URL": url})
