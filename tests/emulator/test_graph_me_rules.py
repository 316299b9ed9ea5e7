"""Graph /me as strict as an external tenant: what a customer may PATCH, and GET with $select."""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ciam_emulator.store import Store

from .conftest import REDIRECT_URI, LiveEmulator, ScriptedBrowser, trusted_session
from .test_token_endpoint import redeem

CLIENT_REQUEST_ID = "5c0ffee0-0000-4000-8000-000000000002"
UPDATABLE = {
    "city": "Zürich",
    "country": "CH",
    "displayName": "Ada Lovelace",
    "givenName": "Ada",
    "jobTitle": "Analyst",
    "postalCode": "8001",
    "state": "ZH",
    "streetAddress": "Bahnhofstrasse 1",
    "surname": "Lovelace",
    "preferredLanguage": "de-CH",
}
# What the web app asks for (its profile page).
APP_SELECT = (
    "id,displayName,givenName,surname,mail,userPrincipalName,jobTitle,streetAddress,city,state,postalCode,"
    "country,preferredLanguage,identities"
)


@dataclass
class Customer:
    email: str
    token: str


@pytest.fixture
def customer(emulator: LiveEmulator) -> Customer:
    """A fresh customer with a Graph token for User.ReadWrite (each test changes its own profile)."""
    email = f"me-{secrets.token_hex(4)}@contoso.example"
    password = emulator.new_user(email, display_name="Original Name")
    scope = "User.ReadWrite openid profile offline_access"
    params = {
        "client_id": emulator.seeded.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "st",
    }
    auth_uri = requests.Request("GET", f"{emulator.tenant_url}/oauth2/v2.0/authorize", params=params).prepare().url
    code = ScriptedBrowser(emulator).sign_in(auth_uri, email, password).params["code"]
    response = redeem(emulator, code, scope=scope)
    assert response.status_code == 200, response.text
    return Customer(email, response.json()["access_token"])


def me(emulator: LiveEmulator, customer: Customer, method: str = "GET", **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {customer.token}", "client-request-id": CLIENT_REQUEST_ID}
    return trusted_session(emulator.ca_cert).request(
        method, f"{emulator.base_url}/v1.0/me", headers=headers, timeout=10, **kwargs
    )


def graph_error(response: requests.Response, status: int) -> dict:
    """Graph's error envelope: {"error": {"code", "message", "innerError": {date, request-id, client-request-id}}}."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "innerError"}
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert error["innerError"]["client-request-id"] == CLIENT_REQUEST_ID
    return error


def stored(emulator: LiveEmulator, customer: Customer) -> dict:
    return emulator.control("GET", f"users/{customer.email}").json()


# --- PATCH /me ------------------------------------------------------------------------------------


def test_a_customer_can_update_each_documented_property(emulator: LiveEmulator, customer: Customer) -> None:
    answer = me(emulator, customer, "PATCH", json=UPDATABLE)
    assert answer.status_code == 204 and answer.content == b""
    after = me(emulator, customer, params={"$select": ",".join(UPDATABLE)}).json()
    assert {name: after[name] for name in UPDATABLE} == UPDATABLE


@pytest.mark.parametrize(
    "body",
    [
        {"mail": "new@contoso.example"},
        {"mobilePhone": "+41 44 000 00 00"},
        {"businessPhones": ["+41 44 000 00 01"]},
        {"officeLocation": "HQ"},
        {"identities": [{"signInType": "emailAddress", "issuer": "x", "issuerAssignedId": "a@b.example"}]},
        {"userPrincipalName": "someone@contoso.onmicrosoft.com"},
        {"id": "00000000-0000-0000-0000-000000000000"},
        {"department": "Sales"},
        {"accountEnabled": False},
        {"extension_0123456789abcdef0123456789abcdef_loyaltyTier": "gold"},
    ],
    ids=lambda body: next(iter(body)),
)
def test_any_other_property_is_refused_with_403(emulator: LiveEmulator, customer: Customer, body: dict) -> None:
    before = stored(emulator, customer)
    error = graph_error(me(emulator, customer, "PATCH", json=body), 403)
    assert error["code"] == "Authorization_RequestDenied"
    assert error["message"] == "Insufficient privileges to complete the operation."
    assert stored(emulator, customer) == before


def test_a_body_mixing_allowed_and_refused_properties_writes_nothing(
    emulator: LiveEmulator, customer: Customer
) -> None:
    before = stored(emulator, customer)
    mixed = {"displayName": "Half Written", "city": "Basel", "mail": "other@contoso.example"}
    error = graph_error(me(emulator, customer, "PATCH", json=mixed), 403)
    assert error["code"] == "Authorization_RequestDenied"
    after = stored(emulator, customer)
    assert after == before and after["displayName"] == "Original Name" and after["city"] is None


# (property, longest accepted value) — each maximum from Graph's user resource page.
MAXIMUMS = [
    ("city", 128),
    ("country", 128),
    ("displayName", 256),
    ("givenName", 64),
    ("jobTitle", 128),
    ("postalCode", 40),
    ("state", 128),
    ("streetAddress", 1024),
    ("surname", 64),
]


@pytest.mark.parametrize(("name", "maximum"), MAXIMUMS)
def test_maximum_lengths(emulator: LiveEmulator, customer: Customer, name: str, maximum: int) -> None:
    assert me(emulator, customer, "PATCH", json={name: "x" * maximum}).status_code == 204
    error = graph_error(me(emulator, customer, "PATCH", json={name: "y" * (maximum + 1)}), 400)
    assert error["code"] == "Request_BadRequest" and name in error["message"]
    assert stored(emulator, customer)[name] == "x" * maximum


def test_values_are_validated_and_a_bad_one_writes_nothing(emulator: LiveEmulator, customer: Customer) -> None:
    bad_bodies = [
        {"displayName": None},  # displayName cannot be cleared
        {"displayName": "   "},
        {"givenName": 42},
        {"city": ["Bern"]},
        {"preferredLanguage": "english please"},
        {"shoeSize": "44"},  # not a property of a user at all
        {},
        ["displayName", "x"],
    ]
    before = stored(emulator, customer)
    for body in bad_bodies:
        error = graph_error(me(emulator, customer, "PATCH", json=body), 400)
        assert error["code"] == "Request_BadRequest", body
    combined = {"givenName": "Fine", "surname": "z" * 65}
    assert graph_error(me(emulator, customer, "PATCH", json=combined), 400)["code"] == "Request_BadRequest"
    assert stored(emulator, customer) == before


def test_null_clears_a_value(emulator: LiveEmulator, customer: Customer) -> None:
    assert me(emulator, customer, "PATCH", json={"city": "Bern", "jobTitle": "Clerk"}).status_code == 204
    assert me(emulator, customer, "PATCH", json={"city": None, "jobTitle": None}).status_code == 204
    after = stored(emulator, customer)
    assert after["city"] is None and after["jobTitle"] is None


# --- GET /me and $select -------------------------------------------------------------------------


def test_without_select_the_documented_default_set(emulator: LiveEmulator, customer: Customer) -> None:
    body = me(emulator, customer).json()
    assert list(body) == [
        "@odata.context",
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
        "id",
    ]
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#users/$entity"


def test_select_returns_exactly_what_was_asked(emulator: LiveEmulator, customer: Customer) -> None:
    response = me(emulator, customer, params={"$select": "displayName,city"})
    assert response.status_code == 200
    assert response.json() == {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(displayName,city)/$entity",
        "displayName": "Original Name",
        "city": None,
    }


def test_the_apps_select_reaches_the_sign_in_email(emulator: LiveEmulator, customer: Customer) -> None:
    assert me(emulator, customer, "PATCH", json={"streetAddress": "Main Street 5", "country": "CH"}).status_code == 204
    body = me(emulator, customer, params={"$select": APP_SELECT}).json()
    assert list(body) == ["@odata.context", *APP_SELECT.split(",")]
    assert body["@odata.context"].endswith(f"#users({APP_SELECT})/$entity")
    assert body["streetAddress"] == "Main Street 5" and body["country"] == "CH"
    tenant_domain = f"{emulator.seeded.tenant_subdomain}.onmicrosoft.com"
    email_identities = [i for i in body["identities"] if i["signInType"] == "emailAddress"]
    sign_in_email = {"signInType": "emailAddress", "issuer": tenant_domain, "issuerAssignedId": customer.email}
    assert email_identities == [sign_in_email]
    assert body["userPrincipalName"] == f"{body['id']}@{tenant_domain}"


def test_select_of_an_unknown_property_is_a_400(emulator: LiveEmulator, customer: Customer) -> None:
    error = graph_error(me(emulator, customer, params={"$select": "displayName,shoeSize"}), 400)
    assert error["code"] == "Request_BadRequest"
    assert "shoeSize" in error["message"]
    # A real user property the emulator does not model is refused too, saying so, rather than faked.
    unmodelled = graph_error(me(emulator, customer, params={"$select": "department"}), 400)
    assert "emulator does not model" in unmodelled["message"]
    # Case matters, as in OData.
    assert graph_error(me(emulator, customer, params={"$select": "DisplayName"}), 400)["code"] == "Request_BadRequest"
    assert graph_error(me(emulator, customer, params={"$select": ""}), 400)


# --- the store: new columns, and an instance folder from before them ------------------------------

_OLD_USERS_TABLE = """
CREATE TABLE users (
    id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, email TEXT NOT NULL COLLATE NOCASE, display_name TEXT NOT NULL,
    given_name TEXT, surname TEXT, mail TEXT, job_title TEXT, mobile_phone TEXT, office_location TEXT,
    preferred_language TEXT, business_phones TEXT NOT NULL DEFAULT '[]', password_salt BLOB NOT NULL,
    password_hash BLOB NOT NULL, mfa_email_confirmed INTEGER NOT NULL DEFAULT 0,
    failed_sign_ins INTEGER NOT NULL DEFAULT 0, locked_until REAL NOT NULL DEFAULT 0,
    refresh_tokens_valid_after REAL NOT NULL DEFAULT 0, created_at REAL NOT NULL, UNIQUE (tenant_id, email)
)
"""


def test_an_older_sqlite_file_gets_the_address_columns(tmp_path: Path) -> None:
    path = tmp_path / "emulator.sqlite3"
    with sqlite3.connect(path) as old:
        old.execute(_OLD_USERS_TABLE)
        old.execute(
            "INSERT INTO users (id, tenant_id, email, display_name, password_salt, password_hash, created_at) "
            "VALUES ('u1', 't1', 'old@contoso.example', 'Old Customer', x'00', x'00', 0)"
        )
    old.close()
    store = Store(path)
    try:
        user = store.get_user("u1")
        assert user is not None and user.display_name == "Old Customer"
        assert (user.city, user.country, user.postal_code, user.state, user.street_address) == (None,) * 5
        store.update_user_profile("u1", {"city": "Bern", "streetAddress": "Gasse 2"})
        reopened = Store(path)  # opening it a second time changes nothing
        again = reopened.get_user("u1")
        reopened.close_thread_connection()
        assert again is not None and (again.city, again.street_address) == ("Bern", "Gasse 2")
    finally:
        store.close_thread_connection()
