"""Everything the app remembers about one browser, and the rules for changing it. No Flask here.

Modelled on the `Auth` class of Microsoft's `identity` package: one object over dict-like storage,
built per request, that the views call. It owns:

- **pending authorizations** (sign-ins in progress): several at once, keyed by `state`, each living
  at most `pending_lifetime` seconds, at most `max_pending` per browser. They live in `browser`
  (sealed cookies in production, see browser_state.py), so starting a sign-in stores nothing on the
  server, and a callback whose `state` matches none of them changes nothing.
- **the signed-in user**: the validated ID token's claims, the MSAL account, the sealed token cache,
  when the session started, the CSRF token (Flask-WTF reads it under `csrf_token`) and the display
  name after a profile save. These live in `record` (the server-side session, see record.py).
- **the step-up record**: when this session last completed MFA for the MFA-guarded scope.
- **the pending edit**: profile changes submitted while MFA was still needed, bound to the `state`
  of the step-up it waits for; applied only after *that* step-up completes, dropped when a new edit
  or another step-up starts or the step-up fails, and never older than the authorization it waited for.

Time comes from the injected `clock`, so tests drive lifetimes without sleeping.
"""

from __future__ import annotations

import enum
import secrets
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import msal

from ..identity import InteractionRequired, SignedIn, SignInCancelled, SignInError
from ..identity.client import AccessToken
from ..token_cache import TokenCacheCodec, merge_caches, merge_changes
from .record import Merge

# Field names in the server-side record. Nothing else is stored there.
USER = "user"
ACCOUNT = "account"
SIGNED_IN_AT = "signed_in_at"
SESSION_TAG = "tag"
TOKEN_CACHE = "token_cache"  # noqa: S105 - a field name
STEP_UP = "step_up"
PENDING_EDIT = "pending_edit"
DISPLAY_NAME = "display_name"
CSRF_TOKEN = "csrf_token"  # noqa: S105 - Flask-WTF's WTF_CSRF_FIELD_NAME
RECORD_FIELDS = frozenset(
    {USER, ACCOUNT, SIGNED_IN_AT, SESSION_TAG, TOKEN_CACHE, STEP_UP, PENDING_EDIT, DISPLAY_NAME, CSRF_TOKEN}
)

# Keys in the browser-held state.
PENDING_PREFIX = "auth."
NOTICE = "notice"

MAX_PENDING_LIFETIME = 600.0  # the bound: a sign-in in progress lives at most 10 minutes
READY_EDIT_LIFETIME = 120.0  # from the step-up's completion to the edit being applied (one redirect)


class Purpose(enum.StrEnum):
    SIGN_IN = "sign_in"  # becomes (or replaces) the browser's session
    STEP_UP = "step_up"  # MFA for the signed-in customer, for the MFA-guarded scope
    REAUTHORIZE = "reauthorize"  # the signed-in customer again, e.g. for a claims challenge from Graph


class EntraApi(Protocol):
    """What SignInSession needs from identity.EntraClient (tests pass a fake)."""

    def start_sign_in(
        self,
        scopes: list[str],
        *,
        claims_challenge: str | None = None,
        prompt: str | None = None,
        login_hint: str | None = None,
    ) -> dict[str, Any]: ...

    def complete_sign_in(
        self, flow: dict[str, Any], auth_response: dict[str, str], cache: msal.SerializableTokenCache
    ) -> SignedIn: ...

    def acquire_token(
        self,
        cache: msal.SerializableTokenCache,
        home_account_id: str,
        scopes: list[str],
        *,
        claims_challenge: str | None = None,
        force_refresh: bool = False,
    ) -> AccessToken: ...


@dataclass(frozen=True)
class SessionPolicy:
    sign_in_scopes: tuple[str, ...]
    mfa_scope: str | None
    step_up_max_age: float = 600.0
    lifetime: float = 8 * 3600.0
    pending_lifetime: float = MAX_PENDING_LIFETIME
    max_pending: int = 4

    def __post_init__(self) -> None:
        if not 0 < self.pending_lifetime <= MAX_PENDING_LIFETIME:
            raise ValueError(f"pending_lifetime must be in (0, {MAX_PENDING_LIFETIME}] seconds")


@dataclass(frozen=True)
class SignedInUser:
    claims: dict[str, Any]
    home_account_id: str
    display_name: str

    @property
    def oid(self) -> str | None:
        return self.claims.get("oid")

    @property
    def sign_in_name(self) -> str | None:
        return self.claims.get("preferred_username") or self.claims.get("email")


@dataclass(frozen=True)
class PendingAuthorization:
    """What the callback needs to finish a sign-in MSAL started (MSAL's flow minus its auth_uri)."""

    state: str
    purpose: Purpose
    scopes: tuple[str, ...]  # as MSAL decorated them (offline_access openid profile added)
    code_verifier: str
    nonce: str
    claims_challenge: str | None
    after: str | None
    created_at: float
    session_tag: str | None  # the session a step-up belongs to

    def to_browser(self) -> dict[str, Any]:
        # Short keys: this travels in a cookie.
        return {
            "p": self.purpose.value,
            "s": list(self.scopes),
            "v": self.code_verifier,
            "n": self.nonce,
            "c": self.claims_challenge,
            "a": self.after,
            "t": self.created_at,
            "g": self.session_tag,
        }

    @classmethod
    def from_browser(cls, state: str, data: Any) -> PendingAuthorization | None:
        try:
            return cls(
                state=state,
                purpose=Purpose(data["p"]),
                scopes=tuple(str(s) for s in data["s"]),
                code_verifier=str(data["v"]),
                nonce=str(data["n"]),
                claims_challenge=data.get("c"),
                after=data.get("a"),
                created_at=float(data["t"]),
                session_tag=data.get("g"),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def msal_flow(self, redirect_uri: str) -> dict[str, Any]:
        return {
            "state": self.state,
            "redirect_uri": redirect_uri,
            "scope": list(self.scopes),
            "code_verifier": self.code_verifier,
            "nonce": self.nonce,
            "claims_challenge": self.claims_challenge,
        }


class Outcome(enum.Enum):
    SIGNED_IN = "signed_in"  # a new session (or the same customer again)
    STEPPED_UP = "stepped_up"  # the signed-in customer re-authenticated (MFA, claims)
    CANCELLED = "cancelled"  # the customer cancelled at the tenant


@dataclass(frozen=True)
class AuthorizationResult:
    outcome: Outcome
    after: str | None = None
    ready_edit: str | None = None  # id of the pending edit that may now be applied


@dataclass(frozen=True)
class StepUpNeeded:
    claims_challenge: str | None = None
    prompt: str | None = None  # "login" when our own freshness rule, not the tenant, asks for MFA again


class SessionEnded(SignInError):
    """A step-up finished for a session that no longer exists (signed out or expired meanwhile)."""


def field_merges(codec: TokenCacheCodec) -> dict[str, Merge]:
    """How the record resolves two requests changing one field at once: the token cache the other request
    saved, plus what this request changed in it (a three-way merge: nothing this request merely carried
    over replaces a newer token)."""

    def merge_token_caches(base: bytes | None, theirs: bytes, ours: bytes) -> bytes:
        return codec.seal(merge_changes(codec.load(base), codec.load(theirs), codec.load(ours)))

    return {TOKEN_CACHE: merge_token_caches}


class SignInSession:
    def __init__(
        self,
        record: MutableMapping[str, Any],
        browser: MutableMapping[str, Any],
        *,
        entra: EntraApi,
        redirect_uri: str,
        token_cache_codec: TokenCacheCodec,
        policy: SessionPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._record = record
        self._browser = browser
        self._entra = entra
        self._redirect_uri = redirect_uri
        self._codec = token_cache_codec
        self.policy = policy
        self._clock = clock
        # user() once per request: a page asks three times (the sign-in check, the view, the page
        # header). Whatever changes who is signed in here forgets it (_forget_user).
        self._user: tuple[SignedInUser | None] | None = None

    # -- the signed-in user ---------------------------------------------------------------------------

    def user(self) -> SignedInUser | None:
        """The signed-in customer, or None. A session past its absolute lifetime ends here. Read
        once per SignInSession (one per request)."""
        if self._user is None:
            self._user = (self._read_user(),)
        return self._user[0]

    def _forget_user(self) -> None:
        self._user = None

    def _read_user(self) -> SignedInUser | None:
        claims = self._record.get(USER)
        if not claims:
            return None
        if self._clock() - float(self._record.get(SIGNED_IN_AT, 0)) > self.policy.lifetime:
            self._record.clear()
            return None
        name = self._record.get(DISPLAY_NAME) or claims.get("name") or claims.get("preferred_username") or ""
        return SignedInUser(claims=claims, home_account_id=str(self._record.get(ACCOUNT, "")), display_name=name)

    def sign_out(self) -> dict[str, Any] | None:
        """End the session at once; returns its claims (for the tenant's logout hint)."""
        claims = self._record.get(USER)
        self._record.clear()
        self._forget_user()
        for key in [k for k in self._browser if k.startswith(PENDING_PREFIX)]:
            del self._browser[key]
        return claims

    # -- authorizations (sign-in, step-up) ------------------------------------------------------

    def start_sign_in(self, *, after: str | None, prompt: str | None = None) -> str:
        """Returns the tenant URL to send the browser to."""
        return self._start(Purpose.SIGN_IN, list(self.policy.sign_in_scopes), after=after, prompt=prompt)[1]

    def _start(
        self,
        purpose: Purpose,
        scopes: list[str],
        *,
        after: str | None,
        prompt: str | None = None,
        claims_challenge: str | None = None,
    ) -> tuple[str, str]:
        """Start an auth code flow (PKCE, state, nonce by MSAL); returns its state and the tenant URL."""
        user = self.user() if purpose is not Purpose.SIGN_IN else None
        flow = self._entra.start_sign_in(
            scopes,
            claims_challenge=claims_challenge,
            prompt=prompt,
            login_hint=user.sign_in_name if user else None,
        )
        pending = PendingAuthorization(
            state=flow["state"],
            purpose=purpose,
            scopes=tuple(flow["scope"]),
            code_verifier=flow["code_verifier"],
            nonce=flow["nonce"],
            claims_challenge=flow.get("claims_challenge"),
            after=after,
            created_at=self._clock(),
            session_tag=self._record.get(SESSION_TAG) if user else None,
        )
        self._make_room_for_one_more()
        self._browser[PENDING_PREFIX + pending.state] = pending.to_browser()
        return pending.state, str(flow["auth_uri"])

    def _pending(self) -> Iterator[PendingAuthorization]:
        for key in list(self._browser):
            if key.startswith(PENDING_PREFIX):
                found = self._pending_for(key[len(PENDING_PREFIX) :])
                if found is not None:
                    yield found

    def _pending_for(self, state: str) -> PendingAuthorization | None:
        key = PENDING_PREFIX + state
        if key not in self._browser:
            return None
        pending = PendingAuthorization.from_browser(state, self._browser[key])
        if pending is None or self._clock() - pending.created_at > self.policy.pending_lifetime:
            del self._browser[key]
            return None
        return pending

    def _make_room_for_one_more(self) -> None:
        pending = sorted(self._pending(), key=lambda p: p.created_at)
        for oldest in pending[: max(0, len(pending) - self.policy.max_pending + 1)]:
            self._forget(oldest)

    def _forget(self, pending: PendingAuthorization) -> None:
        """Abandon a sign-in in progress, and the edit waiting for it."""
        self._browser.pop(PENDING_PREFIX + pending.state, None)
        self._drop_edit_waiting_for(pending.state)

    def complete(self, auth_response: dict[str, str]) -> AuthorizationResult:
        """The redirect URI's work: match `state`, redeem the code, validate the ID token, then update
        the session. Raises SignInError (nothing changed, except the used pending authorization
        and an edit that waited for it)."""
        state = auth_response.get("state") or ""
        pending = self._pending_for(state) if state else None
        if pending is None:
            # Unknown, expired, forged or replayed state: touch nothing.
            raise SignInError("no sign-in with this state was started in this browser (login CSRF or expired)")
        self._browser.pop(PENDING_PREFIX + pending.state, None)  # a callback is used once
        cache = msal.SerializableTokenCache()  # redeem into an empty cache: on failure nothing is kept
        try:
            # A cancellation too goes through the client: its callback must pass the same checks (iss).
            signed_in = self._entra.complete_sign_in(pending.msal_flow(self._redirect_uri), auth_response, cache)
        except SignInCancelled:
            self._drop_edit_waiting_for(pending.state)
            return AuthorizationResult(Outcome.CANCELLED, after=pending.after)
        except SignInError:
            self._drop_edit_waiting_for(pending.state)
            raise
        current = self.user()
        same_customer = current is not None and current.home_account_id == signed_in.home_account_id
        if pending.purpose is not Purpose.SIGN_IN:
            if current is None or self._record.get(SESSION_TAG) != pending.session_tag:
                raise SessionEnded("the session that started this step-up has ended; sign in again")
            if same_customer:
                return self._stepped_up(pending, signed_in, cache)
        if same_customer:
            # The same customer signed in again (a second tab, "Sign in" clicked twice): keep the session,
            # its id and its CSRF token, so the other tabs keep working; add the new tokens.
            self._add_tokens(signed_in, cache)
            return AuthorizationResult(Outcome.SIGNED_IN, after=pending.after)
        self._new_session(signed_in, cache, mfa_done=self._grants_mfa(pending))
        return AuthorizationResult(Outcome.SIGNED_IN, after=pending.after)

    def _grants_mfa(self, pending: PendingAuthorization) -> bool:
        return self.policy.mfa_scope is not None and self.policy.mfa_scope in pending.scopes

    def _new_session(self, signed_in: SignedIn, cache: msal.SerializableTokenCache, *, mfa_done: bool) -> None:
        """A new server-side session under a new id, with a new CSRF token: a planted or stolen
        pre-sign-in id, and any CSRF token seen before, are worthless."""
        self._record.clear()  # deletes the stored session this browser had, if any
        self._forget_user()
        now = self._clock()
        self._record[USER] = signed_in.claims
        self._record[ACCOUNT] = signed_in.home_account_id
        self._record[SIGNED_IN_AT] = now
        self._record[SESSION_TAG] = secrets.token_urlsafe(8)
        self._record[TOKEN_CACHE] = self._codec.seal(cache)
        self._record[CSRF_TOKEN] = secrets.token_hex(20)
        if mfa_done:
            self._record[STEP_UP] = {"at": now, "state": None}

    def _add_tokens(self, signed_in: SignedIn, cache: msal.SerializableTokenCache) -> None:
        with self._token_cache() as kept:
            merged = merge_caches(kept, cache)
        self._record[TOKEN_CACHE] = self._codec.seal(merged)
        self._record[USER] = signed_in.claims  # the newest validated ID token
        self._forget_user()

    def _stepped_up(
        self, pending: PendingAuthorization, signed_in: SignedIn, cache: msal.SerializableTokenCache
    ) -> AuthorizationResult:
        self._add_tokens(signed_in, cache)
        if pending.purpose is Purpose.STEP_UP or self._grants_mfa(pending):
            self._record[STEP_UP] = {"at": self._clock(), "state": pending.state}
        ready_edit = self._mark_edit_ready(pending.state)
        return AuthorizationResult(Outcome.STEPPED_UP, after=pending.after, ready_edit=ready_edit)

    # -- tokens ------------------------------------------------------------------------------------

    @contextmanager
    def _token_cache(self) -> Iterator[msal.SerializableTokenCache]:
        """The user's MSAL cache; saved back only if MSAL changed it (and the block did not raise)."""
        cache = self._codec.load(self._record.get(TOKEN_CACHE))
        yield cache
        if cache.has_state_changed:
            self._record[TOKEN_CACHE] = self._codec.seal(cache)

    def access_token(
        self, scopes: list[str], *, claims_challenge: str | None = None, force_refresh: bool = False
    ) -> str:
        """A token for `scopes` from the cache or by refresh; InteractionRequired when the customer must act.
        `force_refresh`: a new one by refresh token, for an API that refused the cached one."""
        user = self.user()
        if user is None:
            raise InteractionRequired("nobody is signed in")
        extra = {"force_refresh": True} if force_refresh else {}
        with self._token_cache() as cache:
            token = self._entra.acquire_token(
                cache, user.home_account_id, scopes, claims_challenge=claims_challenge, **extra
            )
        return token.token

    def reauthorize(self, *, scopes: list[str], claims_challenge: str | None, after: str | None) -> str:
        """Send the signed-in customer back to the tenant (e.g. Graph asked for more claims)."""
        return self._start(Purpose.REAUTHORIZE, scopes, after=after, claims_challenge=claims_challenge)[1]

    # -- MFA step-up ----------------------------------------------------------------------------------

    def step_up_needed(self) -> StepUpNeeded | None:
        """Does changing the profile need MFA first? The tenant decides for the MFA-guarded scope
        (AADSTS50076 until the customer has done MFA); our own rule adds that the MFA is recent."""
        if self.policy.mfa_scope is None:
            raise ValueError("no MFA-guarded scope is configured")
        try:
            self.access_token([self.policy.mfa_scope])
        except InteractionRequired as exc:
            return StepUpNeeded(claims_challenge=exc.claims_challenge)
        step_up = self._record.get(STEP_UP) or {}
        done_at = step_up.get("at") if isinstance(step_up, dict) else None
        if done_at is None or self._clock() - float(done_at) > self.policy.step_up_max_age:
            # The tenant would hand out the token silently; ask it to authenticate again, and the
            # conditional access policy on the scope makes it ask for MFA.
            return StepUpNeeded(prompt="login")
        return None

    def start_step_up(self, need: StepUpNeeded, *, after: str | None, edit: dict[str, Any] | None = None) -> str:
        """Start MFA. With `edit`, the changes wait for this step-up and only this one; without, any
        edit waiting for an earlier step-up is dropped (that step-up was abandoned)."""
        scopes = [self.policy.mfa_scope] if self.policy.mfa_scope else []
        state, auth_uri = self._start(
            Purpose.STEP_UP, scopes, after=after, prompt=need.prompt, claims_challenge=need.claims_challenge
        )
        self._keep_edit_for(state, edit, claims=need.claims_challenge)
        return auth_uri

    def reauthorize_with_edit(self, *, claims_challenge: str | None, edit: dict[str, Any], after: str | None) -> str:
        """Graph refused the token mid-save with a claims challenge: authenticate again, then apply."""
        state, auth_uri = self._start(
            Purpose.REAUTHORIZE, list(self.policy.sign_in_scopes), after=after, claims_challenge=claims_challenge
        )
        self._keep_edit_for(state, edit)
        return auth_uri

    # -- the pending edit --------------------------------------------------------------------------

    def _keep_edit_for(self, state: str, edit: dict[str, Any] | None, *, claims: str | None = None) -> None:
        if edit is None:
            self._record.pop(PENDING_EDIT, None)
            return
        self._record[PENDING_EDIT] = {
            "id": secrets.token_urlsafe(12),
            "changes": dict(edit),
            "awaits": state,
            "claims": claims,  # what that step-up asked the tenant for, if anything
            "created_at": self._clock(),
            "ready_at": None,
        }

    def _pending_edit(self) -> dict[str, Any] | None:
        edit = self._record.get(PENDING_EDIT)
        if not isinstance(edit, dict) or not isinstance(edit.get("changes"), dict):
            return None
        if self._clock() - float(edit.get("created_at") or 0) > self.policy.pending_lifetime + READY_EDIT_LIFETIME:
            self._record.pop(PENDING_EDIT, None)  # its step-up can no longer complete
            return None
        return edit

    def _drop_edit_waiting_for(self, state: str) -> None:
        edit = self._pending_edit()
        if edit is not None and edit.get("awaits") == state:
            self._record.pop(PENDING_EDIT, None)

    def _mark_edit_ready(self, state: str) -> str | None:
        edit = self._pending_edit()
        if edit is None or edit.get("awaits") != state:
            return None
        self._record[PENDING_EDIT] = {**edit, "ready_at": self._clock()}
        return str(edit["id"])

    def claims_of_ready_edit(self, edit_id: str | None) -> str | None:
        """The claims the step-up of this edit asked for (so a resource asking for the same claims again
        is not sent round again), or None; leaves the edit where it is."""
        edit = self._pending_edit()
        if edit is None or not edit_id or not secrets.compare_digest(str(edit.get("id")), edit_id):
            return None
        claims = edit.get("claims")
        return claims if isinstance(claims, str) else None

    def take_ready_edit(self, edit_id: str | None) -> dict[str, Any] | None:
        """The changes of the edit whose step-up just completed, once; None for anything else (an
        unknown id, an edit still waiting, one whose step-up was abandoned, or one already applied)."""
        edit = self._pending_edit()
        if edit is None or not edit_id or not secrets.compare_digest(str(edit.get("id")), edit_id):
            return None
        ready_at = edit.get("ready_at")
        if ready_at is None or self._clock() - float(ready_at) > READY_EDIT_LIFETIME:
            return None
        self._record.pop(PENDING_EDIT, None)
        return dict(edit["changes"])

    # -- after a profile save -------------------------------------------------------------------------

    def profile_saved(self, display_name: str | None) -> None:
        """Show the new name in the header and on the home page at once, not after the next sign-in."""
        if display_name:
            self._record[DISPLAY_NAME] = display_name
            self._forget_user()

    # -- one-shot notices ---------------------------------------------------------------------------

    def notify(self, category: str, message: str) -> None:
        self._browser[NOTICE] = [category, message]

    def take_notice(self) -> tuple[str, str] | None:
        notice = self._browser.pop(NOTICE, None)
        if isinstance(notice, list) and len(notice) == 2:
            return str(notice[0]), str(notice[1])
        return None
