"""What create_app() warns about its configuration at start-up.

The tenants named here do not exist, so the start-up fetch of discovery also warns that the provider
is not reachable; that warning is about the network, not the configuration, and is left out here."""

import logging

import pytest

from ciam_webapp import Settings, create_app

ENTRA = {
    "CLIENT_ID": "11111111-1111-1111-1111-111111111111",
    "CLIENT_SECRET": "s3cret-value",
    "TENANT_SUBDOMAIN": "contoso",
    "REDIRECT_URI": "http://localhost:5000/auth/redirect",
    "POST_LOGOUT_REDIRECT_URI": "http://localhost:5000/",
    "SECRET_KEY": "x" * 40,
    "MFA_SCOPE": "api://22222222-2222-2222-2222-222222222222/User.MFA",
}
GENERIC = {key: ENTRA[key] for key in ("CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URI", "POST_LOGOUT_REDIRECT_URI")}


def start_up_warnings(caplog, tmp_path, values):
    caplog.set_level(logging.WARNING, logger="ciam_webapp")
    create_app(Settings.from_mapping({**values, "SECRET_KEY": "x" * 40, "INSTANCE_DIR": str(tmp_path)}))
    messages = [r.getMessage() for r in caplog.records if r.name == "ciam_webapp" and r.levelno == logging.WARNING]
    return [m for m in messages if not m.startswith("provider not reachable at start-up")]


def test_entra_without_tenant_id_warns_that_the_tenant_comes_from_discovery(caplog, tmp_path):
    [warning] = start_up_warnings(caplog, tmp_path, ENTRA)
    assert "TENANT_ID is not set" in warning and "discovery" in warning


@pytest.mark.parametrize(
    "values",
    [
        {**ENTRA, "TENANT_ID": "33333333-3333-3333-3333-333333333333"},
        {**GENERIC, "OIDC_ISSUER": "https://op.example.test/oidc"},  # no tenant to pin
    ],
    ids=["entra-with-tenant-id", "generic-provider"],
)
def test_no_warning_when_the_tenant_is_pinned_or_there_is_none(caplog, tmp_path, values):
    assert start_up_warnings(caplog, tmp_path, values) == []
