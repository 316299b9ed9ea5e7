"""`ciam-register` against the emulator's Graph: it registers everything, the .env it writes makes a
working app (sign-in, profile, the edit behind the MFA policy it created), a second run changes
nothing, and failures are clear and keep secrets out of output and logs."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from dotenv import dotenv_values
from werkzeug.serving import make_server as make_wsgi_server

from ciam_registration.cli import main
from ciam_webapp import Settings, create_app
from tests.conftest import SUITE_SECRETS, ServerThread, Tenant, free_port
from tests.support.journeys import TenantPages, on_app, sign_in

PREEXISTING_LINES = ["# kept by ciam-register", "SECRET_KEY=" + "k" * 64, "LOG_LEVEL=INFO"]


@dataclass
class Registration:
    """One run of the tool against the emulator, with everything needed to look at its results."""

    tenant: Tenant
    env_file: Path
    app_base_url: str
    web_app_name: str
    mfa_app_name: str
    token_variable: str
    first_stdout: str

    def argv(self, *extra: str) -> list[str]:
        return [
            "--tenant-subdomain",
            self.tenant.subdomain,
            "--access-token-env",
            self.token_variable,
            "--graph-endpoint",
            f"{self.tenant.base_url}/v1.0",
            "--ca-bundle",
            self.tenant.ca_bundle,
            "--timeout",
            "10",
            "--redirect-uri",
            f"{self.app_base_url}/auth/redirect",
            "--post-logout-redirect-uri",
            f"{self.app_base_url}/",
            "--web-app-name",
            self.web_app_name,
            "--mfa-app-name",
            self.mfa_app_name,
            "--env-file",
            str(self.env_file),
            *extra,
        ]

    def env(self) -> dict[str, str]:
        return {k: v for k, v in dotenv_values(self.env_file).items() if v is not None}

    @property
    def api_env_file(self) -> Path:
        """Where the tool writes the mfa-app API's settings by default: next to the .env."""
        return self.env_file.parent / "api.env"

    def api_env(self) -> dict[str, str]:
        return {k: v for k, v in dotenv_values(self.api_env_file).items() if v is not None}


def admin_token(tenant: Tenant, scopes: list[str] | None = None) -> str:
    body = {} if scopes is None else {"scopes": scopes}
    token = tenant._call("POST", "admin-token", json=body)["access_token"]
    SUITE_SECRETS.add(token)
    return token


def graph_list(tenant: Tenant, path: str) -> list[dict[str, Any]]:
    http = tenant.control()
    response = http.get(
        f"{tenant.base_url}/v1.0/{path}", headers={"Authorization": f"Bearer {admin_token(tenant)}"}, timeout=10
    )
    response.raise_for_status()
    return response.json()["value"]


@pytest.fixture(scope="module")
def registration(tenant: Tenant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registration]:
    folder = tmp_path_factory.mktemp("registration")
    env_file = folder / ".env"
    env_file.write_text("\n".join(PREEXISTING_LINES) + "\n", encoding="utf-8")
    suffix = secrets.token_hex(3)
    variable = f"CIAM_REGISTER_TEST_TOKEN_{suffix}"
    os.environ[variable] = admin_token(tenant)
    run = Registration(
        tenant=tenant,
        env_file=env_file,
        app_base_url=f"http://localhost:{free_port()}",
        web_app_name=f"registered-web-{suffix}",
        mfa_app_name=f"registered-mfa-{suffix}",
        token_variable=variable,
        first_stdout="",
    )
    yield run
    os.environ.pop(variable, None)


@pytest.fixture(scope="module")
def first_run(registration: Registration) -> Registration:
    import contextlib
    import io

    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert main(registration.argv()) == 0
    registration.first_stdout = output.getvalue()
    SUITE_SECRETS.add(registration.env()["CLIENT_SECRET"])
    SUITE_SECRETS.add(registration.api_env()["API_CLIENT_SECRET"])
    return registration


@pytest.fixture(scope="module")
def registered_app(first_run: Registration, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The web app built from nothing but the .env the tool wrote (plus where the local tenant is)."""
    tenant = first_run.tenant
    settings = Settings.from_env(
        environ={
            "AUTHORITY": f"{tenant.base_url}/{tenant.subdomain}.onmicrosoft.com/",
            "GRAPH_ENDPOINT": f"{tenant.base_url}/v1.0",
            "CA_BUNDLE": tenant.ca_bundle,
            "INSTANCE_DIR": str(tmp_path_factory.mktemp("registered-app")),
            "HTTP_TIMEOUT": "5",
        },
        dotenv_path=first_run.env_file,
    )
    port = int(first_run.app_base_url.rsplit(":", 1)[1])
    server = ServerThread(make_wsgi_server("127.0.0.1", port, create_app(settings), threaded=True))

    @dataclass
    class RunningApp:
        base_url: str

        def url(self, path: str) -> str:
            return self.base_url + path

    yield RunningApp(first_run.app_base_url)
    server.stop()


def _named(items: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [item for item in items if item.get("displayName") == name]


def test_first_run_writes_the_env_and_keeps_other_lines(first_run):
    env = first_run.env()
    text = first_run.env_file.read_text(encoding="utf-8")
    for line in PREEXISTING_LINES:
        assert line in text
    apps = graph_list(first_run.tenant, "applications")
    web = _named(apps, first_run.web_app_name)[0]
    mfa = _named(apps, first_run.mfa_app_name)[0]
    assert env["CLIENT_ID"] == web["appId"]
    assert env["MFA_SCOPE"] == f"api://{mfa['appId']}/User.MFA"
    assert env["TENANT_SUBDOMAIN"] == first_run.tenant.subdomain
    assert env["REDIRECT_URI"] == f"{first_run.app_base_url}/auth/redirect"
    assert env["POST_LOGOUT_REDIRECT_URI"] == f"{first_run.app_base_url}/"
    assert env["CLIENT_SECRET"]
    assert stat.S_IMODE(first_run.env_file.stat().st_mode) == 0o600
    assert "created application" in first_run.first_stdout


def test_registrations_have_graphs_shape(first_run):
    apps = graph_list(first_run.tenant, "applications")
    web = _named(apps, first_run.web_app_name)[0]
    mfa = _named(apps, first_run.mfa_app_name)[0]
    assert mfa["identifierUris"] == [f"api://{mfa['appId']}"]
    assert mfa["api"]["requestedAccessTokenVersion"] == 2
    (scope,) = mfa["api"]["oauth2PermissionScopes"]
    assert scope["value"] == "User.MFA" and scope["type"] == "User" and scope["isEnabled"]
    assert web["web"]["redirectUris"] == [f"{first_run.app_base_url}/auth/redirect", f"{first_run.app_base_url}/"]
    access = {entry["resourceAppId"]: entry["resourceAccess"] for entry in web["requiredResourceAccess"]}
    assert {"id": scope["id"], "type": "Scope"} in access[mfa["appId"]]
    assert {"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"} in access[
        "00000003-0000-0000-c000-000000000000"
    ]
    id_token_claims = [claim["name"] for claim in web["optionalClaims"]["idToken"]]
    assert id_token_claims == ["login_hint", membership_number_id(first_run.tenant)]
    (credential,) = web["passwordCredentials"]
    assert credential["secretText"] is None and credential["hint"]  # shown once, by addPassword only


def test_consent_and_the_mfa_policy_exist(first_run):
    tenant = first_run.tenant
    apps = graph_list(tenant, "applications")
    web = _named(apps, first_run.web_app_name)[0]
    mfa = _named(apps, first_run.mfa_app_name)[0]
    principals = {sp["appId"]: sp for sp in graph_list(tenant, "servicePrincipals")}
    grants = [
        g for g in graph_list(tenant, "oauth2PermissionGrants") if g["clientId"] == principals[web["appId"]]["id"]
    ]
    scopes_by_resource = {g["resourceId"]: g["scope"].split() for g in grants}
    assert all(g["consentType"] == "AllPrincipals" for g in grants)
    graph_principal = principals["00000003-0000-0000-c000-000000000000"]["id"]
    wanted_graph_scopes = {"openid", "profile", "offline_access", "User.Read", "User.ReadWrite"}
    assert set(scopes_by_resource[graph_principal]) == wanted_graph_scopes
    assert scopes_by_resource[principals[mfa["appId"]]["id"]] == ["User.MFA"]
    (policy,) = _named(
        graph_list(tenant, "identity/conditionalAccess/policies"), f"Require MFA for {first_run.mfa_app_name}"
    )
    assert policy["state"] == "enabled"
    assert policy["conditions"]["applications"]["includeApplications"] == [mfa["appId"]]
    assert policy["conditions"]["users"]["includeUsers"] == ["All"]
    assert policy["grantControls"]["builtInControls"] == ["mfa"]


def test_the_written_env_makes_a_working_app(first_run, registered_app, tenant, person, customer):
    page = sign_in(person, registered_app, tenant, customer.email, customer.password)
    assert on_app(page, registered_app) and page.status == 200
    profile = person.get(registered_app.url("/profile"))
    assert profile.status == 200
    assert profile.soup.select_one('[data-field="email"]').get_text() == customer.email
    # The edit needs User.MFA of the new mfa-app, behind the new policy: the tenant asks for MFA.
    edit = person.get(registered_app.url("/profile/edit"))
    assert edit.url.startswith(tenant.base_url), "the registered MFA policy must send the customer to MFA"
    form_page = TenantPages(person, tenant, customer.email, customer.password).finish(edit)
    assert on_app(form_page, registered_app) and form_page.path == "/profile/edit"
    saved = person.submit(form_page, {"displayName": "Registered Tool User"})
    assert saved.path == "/profile" and tenant.user(customer.email)["displayName"] == "Registered Tool User"


def test_second_run_creates_nothing_and_keeps_the_secret(first_run, capsys):
    before = first_run.env()
    api_before = first_run.api_env()
    assert main(first_run.argv()) == 0
    out = capsys.readouterr().out
    assert "Nothing to change" in out and "created" not in out
    assert first_run.env() == before
    tenant = first_run.tenant
    apps = graph_list(tenant, "applications")
    assert len(_named(apps, first_run.web_app_name)) == 1 and len(_named(apps, first_run.mfa_app_name)) == 1
    principals = [sp["appId"] for sp in graph_list(tenant, "servicePrincipals")]
    assert len(principals) == len(set(principals))
    web = _named(apps, first_run.web_app_name)[0]
    assert len(web["passwordCredentials"]) == 1
    web_principal = next(sp for sp in graph_list(tenant, "servicePrincipals") if sp["appId"] == web["appId"])
    grants = [g for g in graph_list(tenant, "oauth2PermissionGrants") if g["clientId"] == web_principal["id"]]
    assert len(grants) == 2
    policies = _named(
        graph_list(tenant, "identity/conditionalAccess/policies"), f"Require MFA for {first_run.mfa_app_name}"
    )
    assert len(policies) == 1
    # The API: the same secret in its env file, one credential, one grant on Graph, one policy on c1.
    assert first_run.api_env() == api_before
    mfa = _named(apps, first_run.mfa_app_name)[0]
    assert len(mfa["passwordCredentials"]) == 1
    mfa_principal = next(sp for sp in graph_list(tenant, "servicePrincipals") if sp["appId"] == mfa["appId"])
    assert len([g for g in graph_list(tenant, "oauth2PermissionGrants") if g["clientId"] == mfa_principal["id"]]) == 1
    on_c1 = [
        p
        for p in graph_list(tenant, "identity/conditionalAccess/policies")
        if "c1" in p["conditions"]["applications"].get("includeAuthenticationContextClassReferences", [])
    ]
    assert len(on_c1) == 1


def membership_number_id(tenant: Tenant) -> str:
    (attribute,) = [
        a for a in graph_list(tenant, "identity/userFlowAttributes") if a["displayName"] == "MembershipNumber"
    ]
    return attribute["id"]


EMAIL_METHOD = "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email"


def graph_call(tenant: Tenant, method: str, path: str, body: Any = None) -> requests.Response:
    return tenant.control().request(
        method,
        f"{tenant.base_url}/v1.0/{path}",
        json=body,
        headers={"Authorization": f"Bearer {admin_token(tenant)}"},
        timeout=10,
    )


def test_the_user_flow_its_attribute_and_email_otp_are_set_up_once(first_run, capsys):
    """Run twice: exactly one user flow (its method, attributes, the linked app), one custom attribute, the
    email method enabled; the second run changes nothing."""
    tenant = first_run.tenant
    flow_name = f"{first_run.web_app_name} sign-up and sign-in"
    assert f"created the user flow '{flow_name}' (email_password)" in first_run.first_stdout
    assert f"linked '{first_run.web_app_name}' to the user flow '{flow_name}'" in first_run.first_stdout
    # Email OTP switched off since: the next run enables it again, the one after changes nothing.
    assert graph_call(tenant, "PATCH", EMAIL_METHOD, {"state": "disabled"}).status_code == 204
    assert main(first_run.argv()) == 0
    assert "enabled email one-time passcode for all users" in capsys.readouterr().out
    assert main(first_run.argv()) == 0
    assert "Nothing to change" in capsys.readouterr().out

    (flow,) = _named(graph_list(tenant, "identity/authenticationEventsFlows"), flow_name)
    assert flow["onAuthenticationMethodLoadStart"]["identityProviders"] == [{"id": "EmailPassword-OAUTH"}]
    member = membership_number_id(tenant)
    inputs = flow["onAttributeCollection"]["attributeCollectionPage"]["views"][0]["inputs"]
    assert [i["attribute"] for i in inputs] == ["displayName", "givenName", "surname", "city", "country", member]
    web = _named(graph_list(tenant, "applications"), first_run.web_app_name)[0]
    linked = graph_list(
        tenant, f"identity/authenticationEventsFlows/{flow['id']}/conditions/applications/includeApplications"
    )
    assert [a["appId"] for a in linked] == [web["appId"]]
    assert [c for c in web["optionalClaims"]["idToken"] if c["name"] == member][0]["source"] == "user"
    customs = [a for a in graph_list(tenant, "identity/userFlowAttributes") if a["userFlowAttributeType"] == "custom"]
    assert [a["displayName"] for a in customs].count("MembershipNumber") == 1
    email = graph_call(tenant, "GET", EMAIL_METHOD).json()
    assert email["state"] == "enabled" and [t["id"] for t in email["includeTargets"]] == ["all_users"]


def test_a_flow_missing_an_input_gets_it_back_and_keeps_what_a_person_added(first_run, capsys):
    tenant = first_run.tenant
    (flow,) = _named(
        graph_list(tenant, "identity/authenticationEventsFlows"), f"{first_run.web_app_name} sign-up and sign-in"
    )
    person_added = {"attribute": "jobTitle", "label": "Job title", "inputType": "text", "required": False}
    collection = {
        "@odata.type": "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp",
        "attributes": [{"id": "email"}, {"id": "displayName"}, {"id": "jobTitle"}],
        "attributeCollectionPage": {
            "views": [{"inputs": [{"attribute": "displayName", "label": "Name", "required": True}, person_added]}]
        },
    }
    path = f"identity/authenticationEventsFlows/{flow['id']}"
    assert graph_call(tenant, "PATCH", path, {"onAttributeCollection": collection}).status_code == 204
    assert main(first_run.argv()) == 0
    assert "updated the user flow" in capsys.readouterr().out
    inputs = graph_call(tenant, "GET", path).json()["onAttributeCollection"]["attributeCollectionPage"]["views"][0][
        "inputs"
    ]
    assert [i["attribute"] for i in inputs][:2] == ["displayName", "jobTitle"]
    assert inputs[0]["label"] == "Name"  # the person's label is kept
    assert {"givenName", "surname", "city", "country", membership_number_id(tenant)} <= {i["attribute"] for i in inputs}


def test_the_api_is_registered_for_on_behalf_of(first_run):
    """The mfa-app as a web API: its secret (in its own env file), its consented Graph permission for
    on-behalf-of, the optional claim xms_cc, and the authentication context with its MFA policy."""
    tenant = first_run.tenant
    apps = graph_list(tenant, "applications")
    web = _named(apps, first_run.web_app_name)[0]
    mfa = _named(apps, first_run.mfa_app_name)[0]
    api_env = first_run.api_env()
    assert api_env["API_CLIENT_ID"] == mfa["appId"]
    assert api_env["ALLOWED_CLIENT_APPS"] == web["appId"]
    assert api_env["REQUIRED_AUTH_CONTEXT"] == "c1"
    assert api_env["API_CLIENT_SECRET"] and api_env["API_CLIENT_SECRET"] != first_run.env()["CLIENT_SECRET"]
    assert stat.S_IMODE(first_run.api_env_file.stat().st_mode) == 0o600
    assert api_env["API_CLIENT_SECRET"] not in first_run.first_stdout
    access = {entry["resourceAppId"]: entry["resourceAccess"] for entry in mfa["requiredResourceAccess"]}
    user_read_write = {"id": "b4e74841-8e56-480b-be8b-910348b18b4c", "type": "Scope"}
    assert user_read_write in access["00000003-0000-0000-c000-000000000000"]
    assert [claim["name"] for claim in mfa["optionalClaims"]["accessToken"]] == ["xms_cc"]
    principals = {sp["appId"]: sp["id"] for sp in graph_list(tenant, "servicePrincipals")}
    (api_grant,) = [
        g for g in graph_list(tenant, "oauth2PermissionGrants") if g["clientId"] == principals[mfa["appId"]]
    ]
    assert api_grant["resourceId"] == principals["00000003-0000-0000-c000-000000000000"]
    assert api_grant["consentType"] == "AllPrincipals"
    assert set(api_grant["scope"].split()) == {"openid", "profile", "offline_access", "User.ReadWrite"}
    (context,) = [
        c
        for c in graph_list(tenant, "identity/conditionalAccess/authenticationContextClassReferences")
        if c["id"] == "c1"
    ]
    assert context["isAvailable"] is True
    assert any(
        p["conditions"]["applications"].get("includeAuthenticationContextClassReferences") == ["c1"]
        and p["grantControls"]["builtInControls"] == ["mfa"]
        and p["state"] == "enabled"
        for p in graph_list(tenant, "identity/conditionalAccess/policies")
    )
    # The API's secret authenticates it at the token endpoint: an on-behalf-of request with it gets past
    # client authentication (else invalid_client) and fails on the made-up assertion only.
    answer = requests.post(
        f"{tenant.base_url}/{tenant.subdomain}.onmicrosoft.com/oauth2/v2.0/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "requested_token_use": "on_behalf_of",
            "client_id": api_env["API_CLIENT_ID"],
            "client_secret": api_env["API_CLIENT_SECRET"],
            "assertion": "not-a-token",
            "scope": "https://graph.microsoft.com/User.ReadWrite",
        },
        verify=tenant.ca_bundle,
        timeout=10,
    )
    assert answer.json()["error_codes"] == [50027], answer.text


def test_a_new_auth_context_and_its_policy_are_created_once(first_run, capsys):
    context_id = f"c{secrets.randbelow(60) + 30}"
    try:
        assert main(first_run.argv("--auth-context", context_id)) == 0
        out = capsys.readouterr().out
        assert f"created the authentication context {context_id}" in out
        assert f"created the conditional access policy 'Require MFA for authentication context {context_id}'" in out
        assert first_run.api_env()["REQUIRED_AUTH_CONTEXT"] == context_id
        assert main(first_run.argv("--auth-context", context_id)) == 0
        assert "Nothing to change" in capsys.readouterr().out
        on_context = [
            p
            for p in graph_list(first_run.tenant, "identity/conditionalAccess/policies")
            if p["conditions"]["applications"].get("includeAuthenticationContextClassReferences") == [context_id]
        ]
        assert len(on_context) == 1
    finally:
        assert main(first_run.argv()) == 0


def test_a_second_run_repairs_what_was_removed(first_run, capsys):
    tenant = first_run.tenant
    web = _named(graph_list(tenant, "applications"), first_run.web_app_name)[0]
    http = tenant.control()
    response = http.patch(
        f"{tenant.base_url}/v1.0/applications/{web['id']}",
        json={"web": {"redirectUris": [f"{first_run.app_base_url}/auth/redirect"]}, "optionalClaims": None},
        headers={"Authorization": f"Bearer {admin_token(tenant)}"},
        timeout=10,
    )
    assert response.status_code == 204
    assert main(first_run.argv()) == 0
    assert "updated application" in capsys.readouterr().out
    web = _named(graph_list(tenant, "applications"), first_run.web_app_name)[0]
    assert f"{first_run.app_base_url}/" in web["web"]["redirectUris"]
    assert [claim["name"] for claim in web["optionalClaims"]["idToken"]] == ["login_hint", membership_number_id(tenant)]


def test_without_admin_permissions_the_error_is_clear(first_run, tenant, capsys, monkeypatch):
    monkeypatch.setenv(first_run.token_variable, admin_token(tenant, ["User.Read"]))
    assert main(first_run.argv()) == 1
    captured = capsys.readouterr()
    assert "The signed-in admin lacks Application.ReadWrite.All" in captured.err
    assert "Authorization_RequestDenied" in captured.err
    assert "Traceback" not in captured.err


def test_an_expired_or_foreign_token_is_refused_clearly(first_run, capsys, monkeypatch):
    monkeypatch.setenv(first_run.token_variable, "not-a-token")
    assert main(first_run.argv()) == 1
    assert "admin token was refused" in capsys.readouterr().err


def test_rotating_keeps_secrets_out_of_output_and_logs(first_run, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    old_secret = first_run.env()["CLIENT_SECRET"]
    assert main([*first_run.argv(), "--rotate-secret", "--verbose"]) == 0
    new_secret = first_run.env()["CLIENT_SECRET"]
    SUITE_SECRETS.add(new_secret)
    assert new_secret != old_secret
    captured = capsys.readouterr()
    token = os.environ[first_run.token_variable]
    for text in (captured.out, captured.err, caplog.text):
        assert new_secret not in text and old_secret not in text and token not in text
    assert "Graph POST" in caplog.text  # --verbose did log the calls
    # The rotated secret works: the token endpoint accepts it (client credentials for the app itself
    # are not needed; a wrong secret would fail the sign-in test above in the same way).
    env = first_run.env()
    response = requests.Session()
    response.trust_env = False
    answer = response.post(
        f"{first_run.tenant.base_url}/{first_run.tenant.subdomain}.onmicrosoft.com/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": env["CLIENT_ID"],
            "client_secret": new_secret,
            "code": "not-a-code",
            "redirect_uri": env["REDIRECT_URI"],
            "scope": "openid",
        },
        verify=first_run.tenant.ca_bundle,
        timeout=10,
    )
    # Client authentication passed (else invalid_client); the made-up code is what is refused.
    assert answer.json()["error"] == "invalid_grant"


def test_an_app_using_a_certificate_gets_no_client_secret(first_run, capsys):
    """The app takes exactly one credential, so a .env with a certificate must not gain a secret."""
    original = first_run.env_file.read_text(encoding="utf-8")
    lines = [line for line in original.splitlines() if not line.startswith("CLIENT_SECRET=")]
    first_run.env_file.write_text("\n".join([*lines, "CLIENT_CERTIFICATE_PATH=/etc/contoso/web-app.pem", ""]))
    web = _named(graph_list(first_run.tenant, "applications"), first_run.web_app_name)[0]
    try:
        assert main(first_run.argv()) == 0
        assert "added a client secret" not in capsys.readouterr().out
        assert "CLIENT_SECRET" not in first_run.env()
        again = _named(graph_list(first_run.tenant, "applications"), first_run.web_app_name)[0]
        assert len(again["passwordCredentials"]) == len(web["passwordCredentials"])
    finally:
        first_run.env_file.write_text(original, encoding="utf-8")


# --- the web app's display name: what customers see, found again and renamed, never duplicated -----


def _create_application(tenant: Tenant, name: str) -> dict[str, Any]:
    response = tenant.control().post(
        f"{tenant.base_url}/v1.0/applications",
        json={"displayName": name, "signInAudience": "AzureADMyOrg"},
        headers={"Authorization": f"Bearer {admin_token(tenant)}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def _fresh_run(
    tenant: Tenant, folder: Path, monkeypatch: pytest.MonkeyPatch, web_app_name: str, env_lines: list[str]
) -> Registration:
    suffix = secrets.token_hex(3)
    env_file = folder / ".env"
    env_file.write_text("\n".join(env_lines) + "\n", encoding="utf-8")
    variable = f"CIAM_REGISTER_TEST_TOKEN_{suffix}"
    monkeypatch.setenv(variable, admin_token(tenant))
    return Registration(
        tenant=tenant,
        env_file=env_file,
        app_base_url=f"http://localhost:{free_port()}",
        web_app_name=web_app_name,
        mfa_app_name=f"renaming-mfa-{suffix}",
        token_variable=variable,
        first_stdout="",
    )


def test_the_app_named_by_client_id_in_env_is_renamed_not_duplicated(tenant, tmp_path, monkeypatch, capsys):
    suffix = secrets.token_hex(3)
    old = _create_application(tenant, f"old-name-{suffix}")
    run = _fresh_run(tenant, tmp_path, monkeypatch, f"Friendly {suffix}", [f"CLIENT_ID={old['appId']}"])
    assert main(run.argv()) == 0
    assert f"renamed application 'old-name-{suffix}' to 'Friendly {suffix}'" in capsys.readouterr().out
    SUITE_SECRETS.add(run.env()["CLIENT_SECRET"])
    apps = graph_list(tenant, "applications")
    assert [app["appId"] for app in _named(apps, f"Friendly {suffix}")] == [old["appId"]]
    assert not _named(apps, f"old-name-{suffix}")
    assert run.env()["CLIENT_ID"] == old["appId"]
    assert main(run.argv()) == 0
    assert "Nothing to change" in capsys.readouterr().out


def test_a_registration_named_ciam_webapp_is_found_and_renamed(tenant, tmp_path, monkeypatch, capsys):
    """A tenant registered by an earlier release, with no .env left to name it."""
    legacy = _create_application(tenant, "ciam-webapp")
    run = _fresh_run(tenant, tmp_path, monkeypatch, f"Contoso {secrets.token_hex(3)}", [])
    assert main(run.argv()) == 0
    assert f"renamed application 'ciam-webapp' to '{run.web_app_name}'" in capsys.readouterr().out
    SUITE_SECRETS.add(run.env()["CLIENT_SECRET"])
    apps = graph_list(tenant, "applications")
    assert not _named(apps, "ciam-webapp")
    (renamed,) = _named(apps, run.web_app_name)
    assert renamed["appId"] == legacy["appId"] == run.env()["CLIENT_ID"]
    assert [claim["name"] for claim in renamed["optionalClaims"]["idToken"]] == [
        "login_hint",
        membership_number_id(tenant),
    ]


def test_renaming_onto_a_name_another_app_has_stops_with_a_message(tenant, tmp_path, monkeypatch, capsys):
    suffix = secrets.token_hex(3)
    mine = _create_application(tenant, f"mine-{suffix}")
    _create_application(tenant, f"Taken {suffix}")
    run = _fresh_run(tenant, tmp_path, monkeypatch, f"Taken {suffix}", [f"CLIENT_ID={mine['appId']}"])
    assert main(run.argv()) == 1
    assert f"Cannot rename 'mine-{suffix}'" in capsys.readouterr().err
    apps = graph_list(tenant, "applications")
    assert len(_named(apps, f"Taken {suffix}")) == 1 and len(_named(apps, f"mine-{suffix}")) == 1
