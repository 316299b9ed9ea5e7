"""Configuration rules for the two kinds of sign-in provider: Entra External ID (the default) and a
generic OpenID Provider named by OIDC_ISSUER. Each rule's message names the variable to fix."""

import pytest

from ciam_webapp.config import ENTRA_ONLY_VARIABLES, ConfigError, Settings

BOTH_MODES = {
    "CLIENT_ID": "webapp",
    "CLIENT_SECRET": "s3cret-value",
    "REDIRECT_URI": "http://localhost:5000/auth/redirect",
    "POST_LOGOUT_REDIRECT_URI": "http://localhost:5000/",
    "SECRET_KEY": "x" * 40,
}
ENTRA = dict(BOTH_MODES, TENANT_SUBDOMAIN="contoso", MFA_SCOPE="api://22222222-2222-2222-2222-222222222222/User.MFA")
GENERIC = dict(BOTH_MODES, OIDC_ISSUER="https://id.example.com/oidc")
ENTRA_ONLY_VALUES = {
    "TENANT_SUBDOMAIN": "contoso",
    "AUTHORITY": "https://contoso.ciamlogin.com/",
    "TENANT_ID": "aaaaaaaa-0000-0000-0000-000000000001",
    "MFA_SCOPE": "api://22222222-2222-2222-2222-222222222222/User.MFA",
    "GRAPH_ENDPOINT": "https://graph.microsoft.com/v1.0",
    "GRAPH_SCOPES": "User.Read",
    "PROFILE_API_URL": "https://api.contoso.example",
}


def test_entra_is_the_default_and_asks_for_graph_at_sign_in():
    settings = Settings.from_mapping(ENTRA)
    assert settings.uses_entra and settings.oidc_issuer is None
    assert settings.authority == "https://contoso.ciamlogin.com/"
    assert settings.sign_in_scopes == ("User.Read", "User.ReadWrite")


def test_a_generic_provider_needs_neither_tenant_subdomain_nor_mfa_scope():
    settings = Settings.from_mapping(GENERIC)
    assert not settings.uses_entra
    assert settings.oidc_issuer == "https://id.example.com/oidc"
    assert settings.authority == "https://id.example.com/oidc"  # what MSAL's oidc_authority gets
    assert settings.tenant_subdomain == "" and settings.mfa_scope == ""
    assert settings.sign_in_scopes == ("email",)
    assert settings.authority_origin == "https://id.example.com"  # the CSP's form-action for sign-out


def test_an_issuer_with_a_trailing_slash_is_kept_for_the_issuer_check():
    settings = Settings.from_mapping(dict(GENERIC, OIDC_ISSUER="https://id.example.com/oidc/"))
    assert settings.oidc_issuer == "https://id.example.com/oidc/"
    assert settings.authority == "https://id.example.com/oidc"


@pytest.mark.parametrize("name", ["TENANT_SUBDOMAIN", "MFA_SCOPE"])
def test_entra_still_requires_its_own_settings(name):
    values = {k: v for k, v in ENTRA.items() if k != name}
    with pytest.raises(ConfigError, match=f"^{name} is not set"):
        Settings.from_mapping(values)


def test_the_missing_tenant_message_points_to_oidc_issuer():
    values = {k: v for k, v in ENTRA.items() if k != "TENANT_SUBDOMAIN"}
    with pytest.raises(ConfigError, match="OIDC_ISSUER"):
        Settings.from_mapping(values)


@pytest.mark.parametrize("name", list(BOTH_MODES))
def test_a_generic_provider_still_requires_the_common_settings(name):
    values = {k: v for k, v in GENERIC.items() if k != name}
    with pytest.raises(ConfigError, match=name):
        Settings.from_mapping(values)


@pytest.mark.parametrize(
    ("issuer", "message"),
    [
        ("http://id.example.com/oidc", "must be an https URL"),
        ("id.example.com/oidc", "must be an https URL"),
        ("https://id.example.com", "must have a path"),
        ("https://id.example.com/", "must have a path"),
        ("https://id.example.com/oidc?tenant=1", "query or fragment"),
        ("https://id.example.com/oidc#x", "query or fragment"),
        ("Enter_the_Issuer_Here", "placeholder"),
    ],
)
def test_an_unusable_issuer_is_explained(issuer, message):
    with pytest.raises(ConfigError, match=f"OIDC_ISSUER.*{message}|{message}.*OIDC_ISSUER"):
        Settings.from_mapping(dict(GENERIC, OIDC_ISSUER=issuer))


@pytest.mark.parametrize("name", ENTRA_ONLY_VARIABLES)
def test_entra_only_settings_are_refused_beside_oidc_issuer(name):
    with pytest.raises(ConfigError, match=f"{name} only apply to Entra External ID.*unset {name}"):
        Settings.from_mapping(dict(GENERIC, **{name: ENTRA_ONLY_VALUES[name]}))


def test_all_conflicting_settings_are_named_at_once():
    with pytest.raises(ConfigError, match="TENANT_SUBDOMAIN, MFA_SCOPE only apply"):
        Settings.from_mapping(dict(GENERIC, TENANT_SUBDOMAIN="contoso", MFA_SCOPE=ENTRA_ONLY_VALUES["MFA_SCOPE"]))


def test_oidc_scopes_are_extra_scopes_for_a_generic_provider():
    settings = Settings.from_mapping(dict(GENERIC, OIDC_SCOPES="email phone"))
    assert settings.sign_in_scopes == ("email", "phone")


@pytest.mark.parametrize("reserved", ["openid", "profile", "offline_access"])
def test_oidc_scopes_must_not_repeat_what_msal_adds(reserved):
    with pytest.raises(ConfigError, match=f"OIDC_SCOPES must not list {reserved}"):
        Settings.from_mapping(dict(GENERIC, OIDC_SCOPES=f"email {reserved}"))


def test_oidc_scopes_without_oidc_issuer_is_refused():
    with pytest.raises(ConfigError, match="OIDC_SCOPES is set but OIDC_ISSUER is not"):
        Settings.from_mapping(dict(ENTRA, OIDC_SCOPES="email"))


def test_cli_check_accepts_a_generic_provider(monkeypatch, capsys, tmp_path):
    from ciam_webapp.cli import main

    monkeypatch.chdir(tmp_path)
    for name in (*ENTRA, *ENTRA_ONLY_VARIABLES, "OIDC_SCOPES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in GENERIC.items():
        monkeypatch.setenv(name, value)
    assert main(["check"]) == 0
    assert "Configuration OK." in capsys.readouterr().out
