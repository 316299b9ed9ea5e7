"""User flows as data: Graph's user-flow endpoints, and the hosted pages they drive (sign-up attributes,
one-time-code sign-in, password reset, "Stay signed in?")."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ciam_emulator import user_flows
from ciam_emulator.errors import GraphError
from tests.support.user_flows import custom_attribute, flow_body, id_token_claim_mapped, linked_flow, text_input

from .conftest import Callback, GraphAdmin, LiveEmulator, Page, ScriptedBrowser
from .test_graph_logout_signup import _authorize_url, field_errors
from .test_token_endpoint import redeem

SCOPE = "openid profile offline_access User.Read"
FLOWS = "identity/authenticationEventsFlows"
PASSWORD = "Str0ng-Passw0rd!"  # noqa: S105 - test-only
NEW_PASSWORD = "N3w-Passw0rd!!"  # noqa: S105 - test-only


@pytest.fixture
def graph(emulator: LiveEmulator) -> GraphAdmin:
    return GraphAdmin(emulator)


def graph_error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["message"]


def store(emulator: LiveEmulator) -> Any:
    return emulator.app.extensions["ciam_emulator"].store


def test_custom_attributes_get_the_extension_name_and_keep_their_type(graph, emulator):
    name = f"Member{secrets.token_hex(3)}"
    created = graph.call(
        "POST", "identity/userFlowAttributes", {"displayName": name, "description": "d", "dataType": "string"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    extensions_app = graph.ok(
        "GET",
        "applications",
        **{"$filter": "displayName eq 'b2c-extensions-app. Do not modify. Used by AADB2C for storing user data.'"},
    )["value"]
    assert len(extensions_app) == 1
    assert body["id"] == f"extension_{extensions_app[0]['appId'].replace('-', '')}_{name}"
    assert (body["userFlowAttributeType"], body["dataType"]) == ("custom", "string")
    again = graph.call(
        "POST", "identity/userFlowAttributes", {"displayName": name, "description": "d", "dataType": "int64"}
    )
    assert again.status_code == 409
    for bad in (
        {"displayName": name + "x", "description": "d", "dataType": "decimal"},
        {"displayName": "1bad", "description": "d", "dataType": "string"},
        {"displayName": "city", "description": "d", "dataType": "string"},
    ):
        assert graph.call("POST", "identity/userFlowAttributes", bad).status_code == 400
    listed = graph.ok("GET", "identity/userFlowAttributes")["value"]
    assert {"city", "givenName", "surname", body["id"]} <= {a["id"] for a in listed}
    assert all(a["userFlowAttributeType"] == "builtIn" for a in listed if a["id"] == "city")


def test_flows_are_created_listed_linked_and_replaced_in_graphs_shapes(graph, emulator):
    body = flow_body("EmailPassword-OAUTH", [text_input("givenName", "Given name")])
    flow = graph.call("POST", FLOWS, body)
    assert flow.status_code == 201, flow.text
    created = flow.json()
    assert created["@odata.type"] == "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow"
    assert created["onAuthenticationMethodLoadStart"]["identityProviders"] == [{"id": "EmailPassword-OAUTH"}]
    assert created["onInteractiveAuthFlowStart"]["isSignUpAllowed"] is True
    assert graph.call("POST", FLOWS, {**body}).status_code == 409  # displayName is unique
    found = graph.ok("GET", FLOWS, **{"$filter": f"displayName eq '{body['displayName']}'"})["value"]
    assert [f["id"] for f in found] == [created["id"]]

    app = graph.ok("POST", "applications", {"displayName": f"flow-app-{secrets.token_hex(3)}"})
    links = f"{FLOWS}/{created['id']}/conditions/applications/includeApplications"
    link = {"@odata.type": "#microsoft.graph.authenticationConditionApplication", "appId": app["appId"]}
    assert graph.call("POST", links, link).status_code == 201
    assert [a["appId"] for a in graph.ok("GET", links)["value"]] == [app["appId"]]
    other = graph.ok("POST", FLOWS, flow_body("EmailOtpSignup-OAUTH", []))
    # An app belongs to at most one user flow.
    assert (
        graph.call("POST", f"{FLOWS}/{other['id']}/conditions/applications/includeApplications", link).status_code
        == 409
    )

    # A PATCH of the inputs replaces the whole list; attributes are added by reference.
    city = {"@odata.id": "https://graph.microsoft.com/v1.0/identity/userFlowAttributes/city"}
    ref = (
        f"{FLOWS}/{created['id']}/onAttributeCollection/"
        "microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp/attributes/$ref"
    )
    assert graph.call("POST", ref, city).status_code == 204
    change = {
        "@odata.type": "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow",
        "onAttributeCollection": {
            "@odata.type": "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp",
            "attributes": [{"id": "email"}, {"id": "city"}],
            "attributeCollectionPage": {"views": [{"inputs": [text_input("city", "City")]}]},
        },
    }
    assert graph.call("PATCH", f"{FLOWS}/{created['id']}", change).status_code == 204
    replaced = graph.ok("GET", f"{FLOWS}/{created['id']}")
    inputs = replaced["onAttributeCollection"]["attributeCollectionPage"]["views"][0]["inputs"]
    assert [i["attribute"] for i in inputs] == ["city"]
    assert graph.call("DELETE", f"{FLOWS}/{other['id']}").status_code == 204
    assert graph.call("DELETE", f"{FLOWS}/{created['id']}").status_code == 204
    assert graph.call("GET", f"{FLOWS}/{created['id']}").status_code == 404


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"displayName": " "}, "displayName"),
        ({"onAuthenticationMethodLoadStart": {"identityProviders": []}}, "at least one"),
        (
            {"onAuthenticationMethodLoadStart": {"identityProviders": [{"id": "Twitter-OAUTH"}]}},
            "not an identity provider",
        ),
        (
            {
                "onAuthenticationMethodLoadStart": {
                    "identityProviders": [{"id": "EmailPassword-OAUTH"}, {"id": "EmailOtpSignup-OAUTH"}]
                }
            },
            "either",
        ),
        (
            {
                "onAttributeCollection": {
                    "attributes": [{"id": "email"}],
                    "attributeCollectionPage": {"views": [{"inputs": [text_input("city", "City")]}]},
                }
            },
            "not among",
        ),
        ({"onAttributeCollection": {"attributes": [{"id": "nope"}]}}, "not a user flow attribute"),
        (
            {
                "onAttributeCollection": {
                    "attributes": [{"id": "city"}],
                    "attributeCollectionPage": {"views": [{"inputs": [text_input("city", "City", regex="(")]}]},
                }
            },
            "regular expression",
        ),
        ({"@odata.type": "#microsoft.graph.authenticationEventsFlow"}, "@odata.type"),
        ({"onUserCreateStart": {"userTypeToCreate": "guest"}}, "member"),
        ({"onInteractiveAuthFlowStart": "yes"}, "must be an object"),
        ({"onAuthenticationMethodLoadStart": ["EmailPassword-OAUTH"]}, "must be an object"),
        ({"onAttributeCollection": "all"}, "must be an object"),
        ({"onUserCreateStart": 1}, "must be an object"),
        (
            {
                "onAttributeCollection": {
                    "attributes": [{"id": "city"}],
                    "attributeCollectionPage": {
                        "views": [{"inputs": [{**text_input("city", "City"), "options": "x"}]}]
                    },
                }
            },
            "must be a list",
        ),
    ],
)
def test_bad_flow_bodies_are_refused_with_a_reason(graph, change, expected):
    response = graph.call("POST", FLOWS, {**flow_body("EmailPassword-OAUTH", []), **change})
    assert expected in graph_error(response, 400)


def test_flows_need_the_event_listener_permission(emulator):
    reader = GraphAdmin(emulator, ["EventListener.Read.All"])
    assert reader.call("GET", FLOWS).status_code == 200
    assert reader.call("POST", FLOWS, flow_body("EmailPassword-OAUTH", [])).status_code == 403
    assert reader.call("GET", "identity/userFlowAttributes").status_code == 403


def test_the_email_method_is_read_and_patched_in_graphs_shape(graph):
    path = "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email"
    before = graph.ok("GET", path)
    assert before["@odata.type"] == "#microsoft.graph.emailAuthenticationMethodConfiguration"
    assert before["state"] == "enabled" and [t["id"] for t in before["includeTargets"]] == ["all_users"]
    try:
        assert graph.call("PATCH", path, {"@odata.type": before["@odata.type"], "state": "disabled"}).status_code == 204
        assert graph.ok("GET", path)["state"] == "disabled"
        assert graph.call("PATCH", path, {"state": "maybe"}).status_code == 400
        assert graph.call("PATCH", path, {"allowExternalIdToUseEmailOtp": True}).status_code == 400
    finally:
        graph.ok("PATCH", path, {"state": "enabled"})


# --- sign-up with the flow's attributes ---------------------------------------------------------------


def start_sign_up(browser: ScriptedBrowser, emulator: LiveEmulator, email: str) -> Page:
    page = browser.open(_authorize_url(emulator, SCOPE, prompt="create"))
    assert isinstance(page, Page) and "/login/signup" in page.url
    page = browser.submit(page, "/login/signup", {"email": email})
    assert isinstance(page, Page) and "/login/signup/verify" in page.url
    return page


def id_token_of(emulator: LiveEmulator, callback: Page | Callback) -> dict[str, Any]:
    assert isinstance(callback, Callback), getattr(callback, "url", callback)
    tokens = redeem(emulator, callback.params["code"], scope=SCOPE).json()
    return jwt.decode(tokens["id_token"], options={"verify_signature": False})


def test_sign_up_collects_the_flows_attributes_and_maps_custom_ones_into_the_id_token(emulator, browser, graph):
    member = custom_attribute(graph, "MembershipNumber")
    inputs = [
        text_input("givenName", "Given name", required=True),
        text_input("city", "City"),
        text_input(member, "Membership number", required=True, regex=r"^[A-Z]{2}[0-9]{6}$"),
    ]
    email = f"attr-{secrets.token_hex(4)}@contoso.example"
    with linked_flow(graph, emulator.seeded.client_id, flow_body("EmailPassword-OAUTH", inputs)):
        page = start_sign_up(browser, emulator, email)
        names = [i["name"] for i in page.soup.find_all("input") if i.get("type") not in ("hidden",)]
        assert names == ["code", "password", "password_confirmation", "given_name", "city", member]
        typed = {
            "code": "0000",
            "given_name": "",
            "city": "Paris",
            member: "nope",
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
            "action": "create",
        }
        bad = browser.submit(page, "/login/signup/verify", typed)
        assert isinstance(bad, Page) and bad.status == 400
        assert field_errors(bad) == {
            "given_name": "Given name is required.",
            member: "Membership number is not in the expected format.",
        }
        kept = {i["name"]: i.get("value") for i in bad.soup.find_all("input") if i.get("name")}
        assert (kept["code"], kept["city"], kept[member]) == ("0000", "Paris", "nope")
        assert kept["password"] is None  # passwords are never sent back
        code = emulator.latest_code(email, "signup")
        done = browser.submit(
            bad, "/login/signup/verify", {**typed, "code": code, "given_name": "Ada", member: "AB123456"}
        )
        claims = id_token_of(emulator, done)
    user = store(emulator).find_user_by_email(emulator.seeded.tenant_id, email)
    assert (user.given_name, user.city, user.display_name) == ("Ada", "Paris", "Ada")
    assert store(emulator).extension_values(user.id) == {member: "AB123456"}
    # Not mapped by the app's claims configuration: not in the token.
    assert member not in claims


def test_mapped_attributes_reach_the_id_token(emulator, browser, graph):
    """A custom attribute reaches the token when the registration maps it (a directory extension in
    optionalClaims); the built-in given name and surname as the optional claims given_name/family_name."""
    member = custom_attribute(graph, "MembershipNumber")
    email = f"mapped-{secrets.token_hex(4)}@contoso.example"
    inputs = [
        text_input(member, "Membership number"),
        text_input("givenName", "Given name"),
        text_input("surname", "Surname"),
    ]
    with (
        linked_flow(graph, emulator.seeded.client_id, flow_body("EmailPassword-OAUTH", inputs)),
        id_token_claim_mapped(graph, emulator.seeded.client_id, member),
        id_token_claim_mapped(graph, emulator.seeded.client_id, "given_name"),
        id_token_claim_mapped(graph, emulator.seeded.client_id, "family_name"),
    ):
        page = start_sign_up(browser, emulator, email)
        fields = {
            "code": emulator.latest_code(email, "signup"),
            member: "ZZ000001",
            "given_name": "Zoe",
            "surname": "Zed",
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
            "action": "create",
        }
        claims = id_token_of(emulator, browser.submit(page, "/login/signup/verify", fields))
    assert (claims[member], claims["given_name"], claims["family_name"]) == ("ZZ000001", "Zoe", "Zed")


# --- one-time-passcode sign-up and sign-in -----------------------------------------------------------


def test_one_time_code_flow_signs_up_and_in_without_a_password(emulator, browser, graph):
    email = f"otp-{secrets.token_hex(4)}@contoso.example"
    with linked_flow(
        graph,
        emulator.seeded.client_id,
        flow_body("EmailOtpSignup-OAUTH", [text_input("displayName", "Display name", required=True)]),
    ):
        page = start_sign_up(browser, emulator, email)
        assert page.soup.find("input", attrs={"name": "password"}) is None
        fields = {"code": emulator.latest_code(email, "signup"), "display_name": "Otto", "action": "create"}
        assert id_token_of(emulator, browser.submit(page, "/login/signup/verify", fields))["name"] == "Otto"

        fresh = ScriptedBrowser(emulator)
        page = fresh.open(_authorize_url(emulator, SCOPE))
        assert isinstance(page, Page) and page.soup.find("input", attrs={"name": "password"}) is None
        # A password sign-in is refused for this app's flow.
        request_id = page.soup.find("input", attrs={"name": "req"})["value"]
        password_post = fresh.http.post(
            page.url.split("?")[0],
            data={"req": request_id, "email": email, "password": "anything"},
            allow_redirects=False,
            timeout=10,
        )
        assert password_post.status_code == 400 and "code sent to your email" in password_post.text
        blank = fresh.submit(page, "/login/otp", {"email": "not an email"})
        assert isinstance(blank, Page) and field_errors(blank) == {"email": "Enter a valid email address."}
        assert blank.soup.find("input", attrs={"name": "email"})["value"] == "not an email"
        code_page = fresh.submit(blank, "/login/otp", {"email": email})
        assert isinstance(code_page, Page) and "/login/otp/code" in code_page.url
        wrong = fresh.submit(code_page, "/login/otp/code", {"code": "1", "action": "verify"})
        assert isinstance(wrong, Page) and field_errors(wrong) == {"code": "That code is incorrect. Try again."}
        code = emulator.latest_code(email, "signin")
        claims = id_token_of(emulator, fresh.submit(wrong, "/login/otp/code", {"code": code, "action": "verify"}))
        assert claims["preferred_username"] == email


def test_one_time_code_sign_in_answers_unknown_addresses_like_known_ones(emulator, browser, graph):
    known = f"otp-known-{secrets.token_hex(4)}@contoso.example"
    emulator.new_user(known)
    unknown = f"otp-unknown-{secrets.token_hex(4)}@contoso.example"
    with linked_flow(graph, emulator.seeded.client_id, flow_body("EmailOtpSignup-OAUTH", [])):
        pages = []
        for email in (known, unknown):
            person = ScriptedBrowser(emulator)
            page = person.submit(person.open(_authorize_url(emulator, SCOPE)), "/login/otp", {"email": email})
            wrong = person.submit(page, "/login/otp/code", {"code": "00000000", "action": "verify"})
            pages.append((page.status, page.soup.h1.text, wrong.status, field_errors(wrong)))
        assert pages[0] == pages[1]


# --- password reset ---------------------------------------------------------------------------------------


def reset_pages(emulator: LiveEmulator, email: str) -> tuple[ScriptedBrowser, Page]:
    person = ScriptedBrowser(emulator)
    sign_in_page = person.open(_authorize_url(emulator, SCOPE))
    assert isinstance(sign_in_page, Page)
    link = sign_in_page.soup.find("a", string="Forgot password?")
    page = person.open(requests_join(sign_in_page.url, link["href"]))
    assert isinstance(page, Page) and "/login/reset" in page.url
    return person, person.submit(page, "/login/reset", {"email": email})


def requests_join(base: str, href: str) -> str:
    from urllib.parse import urljoin

    return urljoin(base, href)


def test_password_reset_with_an_emailed_code_then_sign_in_with_the_new_password(emulator, browser):
    email = f"reset-{secrets.token_hex(4)}@contoso.example"
    emulator.new_user(email, PASSWORD)
    # Signed in before: a refresh token of the (confidential) web app, and a tenant SSO cookie.
    before = browser.sign_in(_authorize_url(emulator, SCOPE), email, PASSWORD)
    refresh_token = redeem(emulator, before.params["code"], scope=SCOPE).json()["refresh_token"]

    person, code_page = reset_pages(emulator, email)
    assert isinstance(code_page, Page) and "/login/reset/code" in code_page.url
    code = emulator.latest_code(email, "password_reset")
    assert len(code) == 8
    new_password_page = person.submit(code_page, "/login/reset/code", {"code": code, "action": "verify"})
    assert isinstance(new_password_page, Page) and "/login/reset/password" in new_password_page.url
    weak = person.submit(
        new_password_page, "/login/reset/password", {"password": "weak", "password_confirmation": "weak"}
    )
    assert isinstance(weak, Page) and "between 8 and 256" in field_errors(weak)["password"]
    mismatch = person.submit(
        weak, "/login/reset/password", {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD + "x"}
    )
    assert field_errors(mismatch) == {"password_confirmation": "The passwords don't match."}
    signin = person.submit(
        mismatch, "/login/reset/password", {"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD}
    )
    assert isinstance(signin, Page) and "/login/signin" in signin.url
    assert "Your password was changed" in signin.soup.find(class_="notice").text
    assert signin.soup.find("input", attrs={"name": "email"})["value"] == email
    old = person.submit(signin, "/login/signin", {"email": email, "password": PASSWORD})
    assert isinstance(old, Page) and old.error_text() == "Your password is incorrect."
    assert isinstance(person.submit(old, "/login/signin", {"email": email, "password": NEW_PASSWORD}), Callback)

    # The tenant's sign-in session ended: the earlier browser must sign in again.
    silent = browser.open(_authorize_url(emulator, SCOPE, prompt="none"))
    assert isinstance(silent, Callback) and silent.params["error"] == "login_required"
    # UNSURE for external tenants; Entra's guidance: a confidential client's refresh token survives.
    refreshed = redeem(
        emulator, None, grant_type="refresh_token", refresh_token=refresh_token, redirect_uri=None, scope=SCOPE
    )
    assert refreshed.status_code == 200, refreshed.text


def test_password_reset_codes_are_single_use_limited_and_expire(emulator):
    email = f"reset-limits-{secrets.token_hex(4)}@contoso.example"
    emulator.new_user(email, PASSWORD)
    person, code_page = reset_pages(emulator, email)
    for _ in range(4):
        wrong = person.submit(code_page, "/login/reset/code", {"code": "00000000", "action": "verify"})
        assert field_errors(wrong) == {"code": "That code is incorrect. Try again."}
    spent = person.submit(wrong, "/login/reset/code", {"code": "00000000", "action": "verify"})
    assert field_errors(spent) == {"code": "Too many incorrect codes. Request a new code."}
    code = emulator.latest_code(email, "password_reset")
    assert field_errors(person.submit(spent, "/login/reset/code", {"code": code, "action": "verify"}))[
        "code"
    ].startswith("Too many")

    resent = person.submit(spent, "/login/reset/code", {"action": "resend"})
    new_code = emulator.latest_code(email, "password_reset")
    store(emulator).expire_one_time_codes_for_tests(emulator.app.extensions["ciam_emulator"].now())
    expired = person.submit(resent, "/login/reset/code", {"code": new_code, "action": "verify"})
    assert field_errors(expired) == {"code": "That code has expired. Request a new code."}

    person, code_page = reset_pages(emulator, email)
    code = emulator.latest_code(email, "password_reset")
    assert (
        "/login/reset/password" in person.submit(code_page, "/login/reset/code", {"code": code, "action": "verify"}).url
    )
    # Used once: the same code again is refused.
    again = person.submit(code_page, "/login/reset/code", {"code": code, "action": "verify"})
    assert field_errors(again) == {"code": "There is no active code. Request a new code."}


def test_password_reset_answers_unknown_addresses_like_known_ones(emulator):
    known = f"reset-known-{secrets.token_hex(4)}@contoso.example"
    emulator.new_user(known, PASSWORD)
    unknown = f"reset-unknown-{secrets.token_hex(4)}@contoso.example"
    seen = []
    for email in (known, unknown):
        person, code_page = reset_pages(emulator, email)
        text = code_page.soup.find("main").get_text(" ", strip=True).replace(email, "EMAIL")
        answers = [code_page.status, text]
        page = code_page
        for _ in range(5):
            page = person.submit(page, "/login/reset/code", {"code": "00000000", "action": "verify"})
            answers.append((page.status, field_errors(page)))
        seen.append(answers)
    assert seen[0] == seen[1]
    bad_person = ScriptedBrowser(emulator)
    sign_in_page = bad_person.open(_authorize_url(emulator, SCOPE))
    reset = bad_person.open(
        requests_join(sign_in_page.url, sign_in_page.soup.find("a", string="Forgot password?")["href"])
    )
    bad = bad_person.submit(reset, "/login/reset", {"email": "nobody at example"})
    assert bad.status == 400 and field_errors(bad) == {"email": "Enter a valid email address."}
    assert bad.soup.find("input", attrs={"name": "email"})["value"] == "nobody at example"


# --- "Stay signed in?" ----------------------------------------------------------------------------------


@pytest.fixture
def keep_signed_in_shown(emulator: LiveEmulator) -> Iterator[None]:
    emulator.control("POST", "tenant-settings", {"show_keep_signed_in": True})
    yield
    emulator.control("POST", "tenant-settings", {"show_keep_signed_in": False})


@pytest.mark.parametrize(("answer", "persistent"), [("yes", True), ("no", False)])
def test_stay_signed_in_keeps_the_tenant_cookie_only_when_asked(emulator, keep_signed_in_shown, answer, persistent):
    email = f"kmsi-{secrets.token_hex(4)}@contoso.example"
    emulator.new_user(email, PASSWORD)
    person = ScriptedBrowser(emulator)
    page = person.submit(
        person.open(_authorize_url(emulator, SCOPE)), "/login/signin", {"email": email, "password": PASSWORD}
    )
    assert isinstance(page, Page) and "/login/kmsi" in page.url and page.soup.h1.text == "Stay signed in?"
    form = page.form("/login/kmsi")
    response = person.http.post(
        requests_join(page.url, form["action"]),
        data={"req": form.find("input", attrs={"name": "req"})["value"], "stay": answer},
        allow_redirects=False,
        timeout=10,
    )
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("ciam_emulator_sso=")
    assert ("Max-Age=" in cookie) is persistent
    assert isinstance(person._follow(response), Callback)


def test_overlapping_submissions_of_one_reset_code_let_exactly_one_through(emulator):
    """Eight browsers' worth of the same right code at once (HTTPS, threaded server): single use holds."""
    from concurrent.futures import ThreadPoolExecutor

    email = f"reset-race-{secrets.token_hex(4)}@contoso.example"
    emulator.new_user(email, PASSWORD)
    person, code_page = reset_pages(emulator, email)
    code = emulator.latest_code(email, "password_reset")
    form = code_page.form("/login/reset/code")
    target = requests_join(code_page.url, form["action"])
    request_id = form.find("input", attrs={"name": "req"})["value"]

    def submit(_: int) -> int:
        session = ScriptedBrowser(emulator).http
        session.cookies.update(person.http.cookies)
        answer = session.post(
            target, data={"req": request_id, "code": code, "action": "verify"}, allow_redirects=False, timeout=10
        )
        return answer.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(submit, range(8)))
    assert statuses == [303] + [400] * 7


def test_one_time_code_customers_get_sms_not_email_as_their_mfa_method(emulator, graph):
    """Email OTP cannot be both the first factor and the MFA method: the tenant texts the MFA code."""
    email = f"otp-mfa-{secrets.token_hex(4)}@contoso.example"
    emulator.new_user(email)
    mfa_scope = f"openid profile offline_access api://{emulator.seeded.mfa_app_id}/User.MFA"
    with linked_flow(graph, emulator.seeded.client_id, flow_body("EmailOtpSignup-OAUTH", [])):
        person = ScriptedBrowser(emulator)
        page = person.submit(person.open(_authorize_url(emulator, mfa_scope)), "/login/otp", {"email": email})
        phone_page = person.submit(page, "/login/otp/code", {"code": emulator.latest_code(email, "signin")})
        assert isinstance(phone_page, Page) and phone_page.url.split("?")[0].endswith("/login/mfa/sms")
        bad = person.submit(phone_page, "/login/mfa/sms", {"phone": "07700 900123"})
        assert bad.status == 400 and "country code" in field_errors(bad)["phone"]
        assert bad.soup.find("input", attrs={"name": "phone"})["value"] == "07700 900123"
        code_page = person.submit(bad, "/login/mfa/sms", {"phone": "+44 7700 900123"})
        assert isinstance(code_page, Page) and "/login/mfa/sms/code" in code_page.url
        assert "+44" in code_page.soup.find("strong").text and "900123" not in code_page.soup.find("strong").text
        wrong = person.submit(code_page, "/login/mfa/sms/code", {"code": "1", "action": "verify"})
        assert field_errors(wrong) == {"code": "That code is incorrect. Try again."}
        sms = emulator.latest_code("+447700900123", "mfa_sms")
        callback = person.submit(wrong, "/login/mfa/sms/code", {"code": sms, "action": "verify"})
        assert isinstance(callback, Callback) and "code" in callback.params
    http = ScriptedBrowser(emulator).http
    to_email = http.get(f"{emulator.base_url}/_emulator/outbox.json", params={"to": email}, timeout=10).json()
    assert [m["purpose"] for m in to_email] == ["signin"], "no MFA code by email"


def test_a_flow_without_sign_up_offers_none_and_refuses_one(emulator, graph):
    body = {**flow_body("EmailPassword-OAUTH", []), "onInteractiveAuthFlowStart": {"isSignUpAllowed": False}}
    with linked_flow(graph, emulator.seeded.client_id, body):
        person = ScriptedBrowser(emulator)
        sign_in_page = person.open(_authorize_url(emulator, SCOPE))
        assert isinstance(sign_in_page, Page) and sign_in_page.soup.find("a", string="Create one") is None
        sign_up_page = person.open(_authorize_url(emulator, SCOPE, prompt="create"))
        assert "Sign-up isn't available" in (sign_up_page.error_text() or "")
        refused = person.submit(sign_up_page, "/login/signup", {"email": f"no-{secrets.token_hex(3)}@contoso.example"})
        assert refused.status == 400 and "Sign-up isn't available" in (refused.error_text() or "")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
_FLOW_KEYS = st.sampled_from(
    [
        "displayName",
        "onAuthenticationMethodLoadStart",
        "onInteractiveAuthFlowStart",
        "onAttributeCollection",
        "onUserCreateStart",
        "priority",
        "conditions",
        "@odata.type",
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(_FLOW_KEYS, _JSON, max_size=4))
def test_any_flow_body_is_created_or_refused_with_a_graph_error(emulator, changes):
    """Whatever JSON arrives, the answer is a flow or a Graph error (a 4xx), never a crash."""
    body = {**flow_body("EmailPassword-OAUTH", []), **changes}
    try:
        created = user_flows.create_flow(store(emulator), emulator.seeded.tenant_id, body)
    except GraphError as error:
        assert 400 <= error.status < 500
    else:
        store(emulator).delete_user_flow(emulator.seeded.tenant_id, created["id"])
