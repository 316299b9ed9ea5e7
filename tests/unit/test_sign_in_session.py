"""SignInSession with plain dicts, a fake clock and a fake idp: every session rule, no server.

In the style of the Flask tutorial's tests: small per-test fixtures, one behaviour per test.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal
import pytest

from ciam_webapp.identity import InteractionRequired, SignedIn, SignInCancelled, SignInError
from ciam_webapp.identity.client import AccessToken
from ciam_webapp.sessions import Outcome, SessionEnded, SessionPolicy, SignInSession, StepUpNeeded
from ciam_webapp.sessions.sign_in_session import CSRF_TOKEN, PENDING_EDIT, PENDING_PREFIX, USER
from ciam_webapp.token_cache import TokenCacheCodec

MFA_SCOPE = "api://mfa-app/User.MFA"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeTenant:
    """Stands in for identity.EntraClient: hands out flows, redeems codes it issued, and refuses the
    MFA-guarded scope until the customer has done MFA (as conditional access does)."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}  # code -> account
        self.mfa_done: set[str] = set()

    def start_sign_in(self, scopes, *, claims_challenge=None, prompt=None, login_hint=None) -> dict[str, Any]:
        state = secrets.token_urlsafe(16)
        return {
            "state": state,
            "scope": sorted([*scopes, "offline_access", "openid", "profile"]),
            "code_verifier": secrets.token_urlsafe(32),
            "nonce": secrets.token_urlsafe(16),
            "claims_challenge": claims_challenge,
            "auth_uri": f"https://tenant.example/authorize?state={state}&prompt={prompt or ''}",
        }

    def code_for(self, account: str) -> str:
        code = secrets.token_urlsafe(8)
        self.codes[code] = account
        return code

    def complete_sign_in(self, flow, auth_response, cache: msal.SerializableTokenCache) -> SignedIn:
        if auth_response.get("error") == "access_denied" and "code" not in auth_response:
            raise SignInCancelled("the customer cancelled", tenant_error="access_denied")
        if auth_response.get("error"):
            raise SignInError(f"idp returned error {auth_response['error']!r}", tenant_error=auth_response["error"])
        account = self.codes.pop(auth_response.get("code", ""), None)
        if account is None:
            raise SignInError("code refused")
        if MFA_SCOPE in flow["scope"]:
            self.mfa_done.add(account)
        return SignedIn(claims={"oid": account, "name": f"Customer {account}"}, id_token="x", home_account_id=account)

    def acquire_token(self, cache, home_account_id, scopes, *, claims_challenge=None) -> AccessToken:
        if MFA_SCOPE in scopes and home_account_id not in self.mfa_done:
            raise InteractionRequired("AADSTS50076", claims_challenge='{"access_token":{}}')
        return AccessToken(token=f"token-for-{home_account_id}", scopes=tuple(scopes), from_cache=True)


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def idp() -> FakeTenant:
    return FakeTenant()


@pytest.fixture()
def record() -> dict[str, Any]:
    return {}


@pytest.fixture()
def browser() -> dict[str, Any]:
    return {}


@pytest.fixture()
def session(record, browser, idp, clock) -> SignInSession:
    return SignInSession(
        record,
        browser,
        entra=idp,
        redirect_uri="https://app.example/auth/redirect",
        token_cache_codec=TokenCacheCodec((), secret_key="k" * 40),
        policy=SessionPolicy(
            sign_in_scopes=("User.Read",), mfa_scope=MFA_SCOPE, step_up_max_age=600, lifetime=8 * 3600
        ),
        clock=clock,
    )


def state_of(auth_uri: str) -> str:
    return parse_qs(urlsplit(auth_uri).query)["state"][0]


def sign_in(session: SignInSession, idp: FakeTenant, account: str = "alice") -> None:
    state = state_of(session.start_sign_in(after="/claims"))
    result = session.complete({"state": state, "code": idp.code_for(account)})
    assert result.outcome is Outcome.SIGNED_IN


# -- pending authorizations --------------------------------------------------------------------------


def test_starting_a_sign_in_keeps_it_in_the_browser_and_stores_nothing_on_the_server(session, record, browser):
    auth_uri = session.start_sign_in(after="/profile")
    assert record == {}
    assert list(browser) == [PENDING_PREFIX + state_of(auth_uri)]
    kept = browser[PENDING_PREFIX + state_of(auth_uri)]
    assert "auth_uri" not in str(kept) and len(str(kept)) < 400, "small: only what the callback needs"


def test_a_callback_whose_state_matches_nothing_changes_nothing(session, record, browser, idp):
    session.start_sign_in(after=None)
    before = (dict(record), dict(browser))
    for forged in ({"state": "forged", "code": "x"}, {"code": "x"}, {"state": "", "error": "access_denied"}):
        with pytest.raises(SignInError):
            session.complete(forged)
    assert (record, browser) == before


def test_a_forged_callback_during_a_real_sign_in_leaves_the_real_one_working(session, idp, browser):
    state = state_of(session.start_sign_in(after=None))
    with pytest.raises(SignInError):
        session.complete({"state": state + "x", "code": idp.code_for("mallory")})
    session.complete({"state": state, "code": idp.code_for("alice")})
    assert session.user().oid == "alice"


def test_two_sign_ins_in_progress_at_once_both_complete(session, idp):
    first = state_of(session.start_sign_in(after="/claims"))
    second = state_of(session.start_sign_in(after="/profile"))
    assert session.complete({"state": first, "code": idp.code_for("alice")}).after == "/claims"
    assert session.complete({"state": second, "code": idp.code_for("alice")}).after == "/profile"
    assert session.user().oid == "alice"


def test_a_callback_is_used_once(session, idp):
    state = state_of(session.start_sign_in(after=None))
    session.complete({"state": state, "code": idp.code_for("alice")})
    with pytest.raises(SignInError, match="no sign-in with this state"):
        session.complete({"state": state, "code": idp.code_for("alice")})


def test_a_pending_authorization_lives_at_most_its_lifetime(session, idp, clock, browser):
    state = state_of(session.start_sign_in(after=None))
    clock.advance(session.policy.pending_lifetime + 1)
    with pytest.raises(SignInError):
        session.complete({"state": state, "code": idp.code_for("alice")})
    assert browser == {}, "the expired one is forgotten"
    assert session.policy.pending_lifetime <= 600


def test_a_browser_holds_a_bounded_number_of_pending_authorizations_oldest_dropped(session, clock, browser):
    states = []
    for _ in range(session.policy.max_pending + 3):
        states.append(state_of(session.start_sign_in(after=None)))
        clock.advance(1)
    assert sorted(browser) == sorted(PENDING_PREFIX + s for s in states[-session.policy.max_pending :])


def test_a_pending_lifetime_over_ten_minutes_is_refused():
    with pytest.raises(ValueError):
        SessionPolicy(sign_in_scopes=(), mfa_scope=None, pending_lifetime=601)


# -- the signed-in session ------------------------------------------------------------------------


def test_sign_in_creates_the_session_with_a_fresh_csrf_token(session, idp, record):
    sign_in(session, idp)
    assert record[USER]["oid"] == "alice" and len(record[CSRF_TOKEN]) >= 32
    assert session.user().display_name == "Customer alice"


def test_signing_in_as_someone_else_replaces_the_session_and_its_csrf_token(session, idp, record):
    sign_in(session, idp, "alice")
    csrf = record[CSRF_TOKEN]
    sign_in(session, idp, "bob")
    assert session.user().oid == "bob"
    assert record[CSRF_TOKEN] != csrf


def test_the_same_customer_signing_in_again_keeps_the_session_and_csrf_token(session, idp, record):
    sign_in(session, idp, "alice")
    csrf, tag = record[CSRF_TOKEN], record["tag"]
    sign_in(session, idp, "alice")
    assert (record[CSRF_TOKEN], record["tag"]) == (csrf, tag)


def test_a_cancelled_sign_in_changes_nothing_but_forgets_the_attempt(session, idp, record, browser):
    sign_in(session, idp)
    before = dict(record)
    state = state_of(session.start_sign_in(after=None))
    result = session.complete({"state": state, "error": "access_denied", "error_description": "cancelled"})
    assert result.outcome is Outcome.CANCELLED
    assert record == before and browser == {}


def test_a_failed_sign_in_keeps_the_existing_session(session, idp, record):
    sign_in(session, idp)
    before = dict(record)
    state = state_of(session.start_sign_in(after=None))
    with pytest.raises(SignInError):
        session.complete({"state": state, "code": "not-issued"})
    assert record == before


def test_sign_out_forgets_everything_and_returns_the_claims_for_the_logout_hint(session, idp, record, browser):
    sign_in(session, idp)
    session.start_sign_in(after=None)
    assert session.sign_out()["oid"] == "alice"
    assert record == {} and browser == {}
    assert session.user() is None


def test_a_session_past_its_lifetime_ends_when_next_read(session, idp, clock, record):
    sign_in(session, idp)
    clock.advance(session.policy.lifetime + 1)
    assert session.user() is None
    assert record == {}


def test_the_signed_in_user_is_read_from_the_record_once_per_request(record, browser, idp, clock, session):
    """A page asks three times (the sign-in check, the view, the page header); one read is enough
    (issue 16). Each request builds its own SignInSession."""
    sign_in(session, idp)

    class CountingRecord(dict):
        reads = 0

        def get(self, key, default=None):  # type: ignore[no-untyped-def]
            CountingRecord.reads += 1
            return super().get(key, default)

    next_request = SignInSession(
        CountingRecord(record),
        browser,
        entra=idp,
        redirect_uri="https://app.example/auth/redirect",
        token_cache_codec=TokenCacheCodec((), secret_key="k" * 40),
        policy=session.policy,
        clock=clock,
    )
    users = [next_request.user() for _ in range(3)]
    assert users[0] is users[1] is users[2] and users[0].oid == "alice"
    assert CountingRecord.reads <= 4, "user, signed_in_at, display_name and account, once"


def test_a_profile_save_shows_the_new_name_at_once(session, idp):
    sign_in(session, idp)
    session.profile_saved("Ada")
    assert session.user().display_name == "Ada"
    session.profile_saved(None)
    assert session.user().display_name == "Ada"


def test_a_notice_is_shown_once(session):
    session.notify("success", "Saved.")
    assert session.take_notice() == ("success", "Saved.")
    assert session.take_notice() is None


# -- MFA step-up -----------------------------------------------------------------------------------


def complete_step_up(session, idp, auth_uri, account="alice"):
    return session.complete({"state": state_of(auth_uri), "code": idp.code_for(account)})


def test_the_tenant_decides_the_step_up_and_our_freshness_rule_adds_to_it(session, idp, clock):
    sign_in(session, idp)
    need = session.step_up_needed()
    assert need == StepUpNeeded(claims_challenge='{"access_token":{}}')
    result = complete_step_up(session, idp, session.start_step_up(need, after="/profile/edit"))
    assert result.outcome is Outcome.STEPPED_UP and result.after == "/profile/edit"
    assert session.step_up_needed() is None
    clock.advance(session.policy.step_up_max_age + 1)
    assert session.step_up_needed() == StepUpNeeded(prompt="login")


def test_a_step_up_that_finishes_after_sign_out_does_not_sign_in_again(session, idp, record):
    sign_in(session, idp)
    auth_uri = session.start_step_up(session.step_up_needed(), after=None)
    state = state_of(auth_uri)
    session.sign_out()
    # (sign-out also forgets the pending authorizations; a browser that kept the cookie still fails)
    session._browser[PENDING_PREFIX + state] = {"p": "step_up", "s": [MFA_SCOPE], "v": "v", "n": "n", "t": 1e12}
    with pytest.raises(SignInError):
        session.complete({"state": state, "code": idp.code_for("alice")})
    assert record == {}


def test_a_step_up_for_a_session_that_ended_is_refused(session, idp, record, clock):
    sign_in(session, idp)
    auth_uri = session.start_step_up(session.step_up_needed(), after=None)
    record.clear()  # the session ended elsewhere (another tab signed out, or it expired)
    with pytest.raises(SessionEnded):
        complete_step_up(session, idp, auth_uri)
    assert record == {}


# -- the pending edit ------------------------------------------------------------------------------


def test_an_edit_waits_for_its_step_up_and_is_applied_once(session, idp, record):
    sign_in(session, idp)
    auth_uri = session.start_step_up(session.step_up_needed(), after=None, edit={"city": "Paris"})
    assert session.take_ready_edit(record[PENDING_EDIT]["id"]) is None, "not before its step-up completed"
    result = complete_step_up(session, idp, auth_uri)
    assert result.ready_edit
    assert session.take_ready_edit(result.ready_edit) == {"city": "Paris"}
    assert session.take_ready_edit(result.ready_edit) is None, "once"


def test_an_abandoned_edit_is_never_applied(session, idp, record):
    sign_in(session, idp)
    session.start_step_up(session.step_up_needed(), after=None, edit={"city": "Abandoned"})
    abandoned_id = record[PENDING_EDIT]["id"]
    # The customer never finishes that MFA; later they open the form, which starts a new step-up.
    result = complete_step_up(session, idp, session.start_step_up(session.step_up_needed(), after="/profile/edit"))
    assert result.ready_edit is None
    assert PENDING_EDIT not in record
    assert session.take_ready_edit(abandoned_id) is None


def test_a_new_edit_replaces_the_one_waiting(session, idp, record):
    sign_in(session, idp)
    first = session.start_step_up(session.step_up_needed(), after=None, edit={"city": "First"})
    second = session.start_step_up(session.step_up_needed(), after=None, edit={"city": "Second"})
    assert complete_step_up(session, idp, first).ready_edit is None
    ready = complete_step_up(session, idp, second).ready_edit
    assert session.take_ready_edit(ready) == {"city": "Second"}


def test_a_cancelled_or_failed_step_up_drops_its_edit(session, idp, record):
    sign_in(session, idp)
    auth_uri = session.start_step_up(session.step_up_needed(), after=None, edit={"city": "Cancelled"})
    session.complete({"state": state_of(auth_uri), "error": "access_denied"})
    assert PENDING_EDIT not in record
    auth_uri = session.start_step_up(session.step_up_needed(), after=None, edit={"city": "Failed"})
    with pytest.raises(SignInError):
        session.complete({"state": state_of(auth_uri), "code": "refused"})
    assert PENDING_EDIT not in record


def test_an_edit_is_not_applied_with_a_wrong_id_or_too_late(session, idp, clock):
    sign_in(session, idp)
    auth_uri = session.start_step_up(session.step_up_needed(), after=None, edit={"city": "Late"})
    ready = complete_step_up(session, idp, auth_uri).ready_edit
    assert session.take_ready_edit("guessed") is None
    assert session.take_ready_edit(None) is None
    clock.advance(121)
    assert session.take_ready_edit(ready) is None


def test_an_edit_whose_step_up_expired_is_dropped(session, idp, clock, record):
    sign_in(session, idp)
    auth_uri = session.start_step_up(session.step_up_needed(), after=None, edit={"city": "Expired"})
    clock.advance(session.policy.pending_lifetime + 1)
    with pytest.raises(SignInError):
        complete_step_up(session, idp, auth_uri)
    clock.advance(200)
    session.user()  # any later request
    assert session.take_ready_edit(record.get(PENDING_EDIT, {}).get("id")) is None
