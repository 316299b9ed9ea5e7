"""One small facade over MSAL Python for a web app with a signed-in user per browser session.

MSAL keeps one token cache per application object, so a `ConfidentialClientApplication` is built per
call around the caller's own `SerializableTokenCache`; what is expensive is shared process-wide: the
HTTP session (connection pool) and MSAL's `http_cache`, so tenant discovery is fetched once per
process, not per request. Nothing here imports Flask: callers pass the cache and flow in and out.

The same facade serves a generic OpenID Provider (`oidc_issuer`): MSAL is then built with
`oidc_authority=`, ID tokens are checked without `tid`, and no Entra-only parameter is sent.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import msal
import requests

from ciam_core.errors import ProviderUnavailable
from ciam_core.jwks import KeySet

from .errors import IdentityError, InteractionRequired, SignInCancelled, SignInError, TenantUnavailable
from .id_token import IdTokenValidator, JwksCache
from .metadata import MetadataProvider, TenantMetadata
from .token_response import TokenEndpointGuard, TokenResponseRefused, decode_client_info

# Errors from the token endpoint that mean "send the user to the tenant's pages".
INTERACTION_ERRORS = frozenset({"invalid_grant", "interaction_required", "login_required", "consent_required"})
# What MSAL raises when the tenant cannot be reached or answers 5xx (its throttled HTTP client turns
# HTTP errors into MsalServiceError).
TRANSPORT_ERRORS = (requests.RequestException, msal.exceptions.MsalServiceError)
# We use response_mode=query on purpose (the README's security notes explain why). The filter is
# installed once at import: warnings.catch_warnings() per call is not thread-safe.
warnings.filterwarnings("ignore", message=r"response_mode='form_post' is recommended", category=UserWarning)
# MSAL looks for the optional msal_extensions package each time an application object is built (one
# per request here, around the user's cache); a failed import is not remembered, so each look walks
# sys.path again (~80 µs). When it is not installed, a None entry makes every later look fail at
# once, as Python's import system documents for None in sys.modules; MSAL carries on as it would.
if importlib.util.find_spec("msal_extensions") is None:
    sys.modules.setdefault("msal_extensions", None)  # type: ignore[arg-type]
# Declaring CAE capability lets resources (Graph) send claims challenges, which we honour. Only for
# Entra: `xms_cc` means nothing to other providers, and without Graph there is no challenge to honour.
CLIENT_CAPABILITIES = ["cp1"]
# Entra External ID documents prompt=create; "Initiating User Registration via OpenID Connect 1.0"
# defines the same value for any provider that lists it in discovery's prompt_values_supported.
PROMPT_CREATE = "create"


@dataclass(frozen=True)
class SignedIn:
    """The outcome of a validated sign-in."""

    claims: dict[str, Any]
    id_token: str
    home_account_id: str


@dataclass(frozen=True)
class ProviderState:
    """What the app must know of its provider before it can serve anyone: the discovery document
    (ours and MSAL's copy in its HTTP cache) and the signing keys. Fetched once by gunicorn's master
    and inherited by every worker it forks, so a worker started during an outage needs no network
    to serve pages whose tokens are cached."""

    metadata: TenantMetadata
    signing_keys: KeySet = field(repr=False)
    msal_http_cache: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class AccessToken:
    token: str
    scopes: tuple[str, ...]
    from_cache: bool


class EntraClient:
    def __init__(
        self,
        *,
        client_id: str,
        client_credential: str | dict[str, str],
        authority: str,
        redirect_uri: str,
        post_logout_redirect_uri: str,
        http: requests.Session,
        timeout: float | tuple[float, float],
        tenant_id: str | None = None,
        oidc_issuer: str | None = None,
    ) -> None:
        self.client_id = client_id
        # None: Entra External ID (`authority`). Set: a generic OpenID Provider with this issuer.
        self.oidc_issuer = oidc_issuer
        self._client_credential = client_credential
        self.authority = authority
        self.redirect_uri = redirect_uri
        self.post_logout_redirect_uri = post_logout_redirect_uri
        self.http = http
        self._timeout = timeout
        # MSAL's HTTP cache: discovery answers (and its throttling state) shared by every per-request app.
        self._http_cache: dict[str, Any] = {}
        self.metadata = MetadataProvider(authority, http, oidc_issuer=oidc_issuer)
        self.signing_keys = JwksCache(self.metadata, http)
        self.id_tokens = IdTokenValidator(
            metadata=self.metadata,
            jwks=self.signing_keys,
            client_id=client_id,
            tenant_id=tenant_id,
            require_tid=oidc_issuer is None,
        )

    @property
    def is_entra(self) -> bool:
        return self.oidc_issuer is None

    # -- what must be known of the provider before serving anyone ------------------------------

    def fetch_provider_state(self) -> ProviderState:
        """Discovery, the signing keys, and MSAL's own discovery fetch, now; TenantUnavailable if
        the provider cannot be reached."""
        metadata = self.metadata.get()
        try:
            key_set = self.signing_keys.refresh()
        except ProviderUnavailable as exc:
            raise TenantUnavailable(exc.reason) from exc
        self._msal_app(None)  # MSAL fetches the discovery document into the shared _http_cache
        return ProviderState(metadata=metadata, signing_keys=key_set, msal_http_cache=dict(self._http_cache))

    def preload(self, state: ProviderState) -> None:
        self.metadata.preload(state.metadata)
        self.signing_keys.preload(state.signing_keys)
        self._http_cache.update(state.msal_http_cache)

    # -- building MSAL around one user's cache -------------------------------------------------

    def _msal_app(self, cache: msal.SerializableTokenCache | None) -> msal.ConfidentialClientApplication:
        if self.is_entra:
            provider: dict[str, Any] = {"authority": self.authority, "client_capabilities": CLIENT_CAPABILITIES}
        else:
            # MSAL fetches {authority}/.well-known/openid-configuration and checks its issuer; it needs
            # https and a path segment in the issuer (config.py refuses an OIDC_ISSUER without them).
            provider = {"oidc_authority": self.authority}
        try:
            return msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self._client_credential,
                token_cache=cache,
                # MSAL reads token responses without checking their shape (token_response.py).
                http_client=TokenEndpointGuard(self.http),
                http_cache=self._http_cache,
                timeout=self._timeout,
                instance_discovery=False,  # CIAM hosts skip it anyway; a local tenant must skip it
                **provider,
            )
        except TRANSPORT_ERRORS as exc:
            raise TenantUnavailable(f"tenant discovery failed: {type(exc).__name__}") from exc
        except ValueError as exc:
            # MSAL raises ValueError for a 4xx or non-JSON discovery answer.
            raise TenantUnavailable(f"tenant discovery refused: {exc}") from exc

    # -- sign-in ----------------------------------------------------------------------------------

    def offers_sign_up(self) -> bool:
        """Whether the provider opens a sign-up page for prompt=create (Entra always; others if they say so)."""
        return self.is_entra or PROMPT_CREATE in self.metadata.get().prompt_values_supported

    def start_sign_in(
        self,
        scopes: list[str],
        *,
        claims_challenge: str | None = None,
        prompt: str | None = None,
        login_hint: str | None = None,
        max_age: int | None = None,
    ) -> dict[str, Any]:
        """MSAL's auth code flow: the caller keeps what the callback needs; `auth_uri` is where to go."""
        # MSAL reads the same discovery document but checks none of it: ours refuses a non-https
        # authorization endpoint (or another tenant's issuer) before the browser is sent anywhere.
        self.metadata.get()
        app = self._msal_app(None)
        return app.initiate_auth_code_flow(
            scopes,
            redirect_uri=self.redirect_uri,
            claims_challenge=claims_challenge,
            prompt=prompt,
            login_hint=login_hint,
            max_age=max_age,
        )

    def complete_sign_in(
        self, flow: dict[str, Any], auth_response: dict[str, str], cache: msal.SerializableTokenCache
    ) -> SignedIn:
        """Check the callback, redeem the code, then validate the ID token. SignInCancelled when the
        customer cancelled at the tenant. On any failure the cache must be discarded."""
        self._check_callback(flow, auth_response)
        app = self._msal_app(cache)
        try:
            result = app.acquire_token_by_auth_code_flow(flow, auth_response)
        except TRANSPORT_ERRORS as exc:
            raise TenantUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from exc
        except TokenResponseRefused as exc:
            raise SignInError(f"code redemption refused: {exc.reason}") from exc
        except ValueError as exc:  # MSAL: state mismatch or a response with neither code nor error
            raise SignInError(f"callback refused by MSAL: {exc}") from exc
        except RuntimeError as exc:  # MSAL: nonce mismatch, max_age without auth_time
            raise SignInError(f"ID token refused by MSAL: {exc}") from exc
        except KeyError as exc:
            # MSAL indexes the response while caching it: without client_info (any non-Entra provider)
            # it keys the account on the ID token's `sub`, and a token without one raises KeyError.
            raise SignInError(f"token response refused by MSAL: it lacks {exc}") from exc
        if "error" in result:
            error = _token_endpoint_error(result, during="code redemption")
            if isinstance(error, TenantUnavailable):
                raise error
            raise SignInError(error.reason, correlation_id=error.correlation_id, tenant_error=result["error"])
        id_token = result.get("id_token")
        if not id_token:
            raise SignInError("token response carried no ID token")
        claims = self.id_tokens.validate(id_token, expected_nonce=_nonce_hash(flow.get("nonce")))
        home_account_id = _home_account_id(result, claims, is_entra=self.is_entra)
        return SignedIn(claims=claims, id_token=id_token, home_account_id=home_account_id)

    def _check_callback(self, flow: dict[str, Any], auth_response: dict[str, str]) -> None:
        """Everything about the authorization response that needs no token request, in this order:
        our state, then the issuer (RFC 9207 §2.4 asks it of error responses too), then its kind."""
        if not flow or "state" not in flow:
            raise SignInError("no sign-in was started in this browser session (login CSRF or expired flow)")
        if auth_response.get("state") != flow["state"]:
            raise SignInError("state in the callback does not match the sign-in this session started")
        self._check_response_issuer(auth_response)
        error = auth_response.get("error")
        if error is not None and "code" in auth_response:
            # RFC 6749 §4.1.2/§4.1.2.1: a response carries a code or an error, never both; which one
            # is true cannot be told, so neither is acted on (and no code is redeemed).
            raise SignInError("callback carries both a code and an error", tenant_error=error)
        if error == "access_denied":
            raise SignInCancelled("the customer cancelled at the tenant", tenant_error=error)
        if error is not None:
            raise SignInError(
                f"tenant returned error {error!r}",
                tenant_error=error,
                tenant_description=auth_response.get("error_description"),
            )
        if not auth_response.get("code"):
            raise SignInError("callback carries neither a code nor an error")

    def _check_response_issuer(self, auth_response: dict[str, str]) -> None:
        """RFC 9207 (mix-up defence): an `iss` in the authorization response must be our provider's,
        and a provider that promises to send it must have sent it. UNSURE whether Entra sends or
        announces it (not found in its documentation; the emulator does neither); either way a sent
        `iss` must be the discovery issuer."""
        metadata = self.metadata.get()
        iss = auth_response.get("iss")
        if iss is None:
            if metadata.authorization_response_iss_parameter_supported:
                raise SignInError("authorization response has no iss although the provider always sends it")
            return
        if iss != metadata.issuer:
            raise SignInError(f"authorization response iss {iss!r} is not the provider's issuer {metadata.issuer!r}")

    # -- tokens for APIs ---------------------------------------------------------------------------

    def acquire_token(
        self,
        cache: msal.SerializableTokenCache,
        home_account_id: str,
        scopes: list[str],
        *,
        claims_challenge: str | None = None,
        force_refresh: bool = False,
    ) -> AccessToken:
        """A token from the cache or by refresh token; InteractionRequired when the user must act.
        `force_refresh` skips the cached access token (an API refused it although it had not expired)."""
        app = self._msal_app(cache)
        account = next((a for a in app.get_accounts() if a.get("home_account_id") == home_account_id), None)
        if account is None:
            raise InteractionRequired("no account in this session's token cache")
        try:
            result = app.acquire_token_silent_with_error(
                scopes, account, claims_challenge=claims_challenge, force_refresh=force_refresh
            )
        except TRANSPORT_ERRORS as exc:
            raise TenantUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from exc
        except TokenResponseRefused as exc:
            # The tenant answered a refresh with something that is not a token response: as broken
            # as a 5xx for the customer (signing in again would meet the same endpoint).
            raise TenantUnavailable(f"token refresh refused: {exc.reason}") from exc
        if result is None:
            raise InteractionRequired(f"no token cached for {' '.join(scopes)}")
        if "error" in result:
            raise _token_endpoint_error(result, during="silent token acquisition")
        return AccessToken(
            token=result["access_token"],
            scopes=tuple(str(result.get("scope", "")).split()),
            from_cache=result.get("token_source") == "cache",
        )

    # -- sign-out ----------------------------------------------------------------------------------

    def sign_out_url(self, id_token_claims: dict[str, Any] | None) -> str:
        # Entra documents post_logout_redirect_uri and logout_hint (the optional `login_hint` claim);
        # OpenID Connect RP-Initiated Logout 1.0 takes client_id in place of id_token_hint.
        # No id_token_hint: an ID token in a URL ends up in proxy and server logs.
        end_session_endpoint = self.metadata.get().end_session_endpoint
        if end_session_endpoint is None:
            # A generic provider without RP-Initiated Logout: only the app's own session can end here.
            return self.post_logout_redirect_uri
        params = {"post_logout_redirect_uri": self.post_logout_redirect_uri, "client_id": self.client_id}
        login_hint = (id_token_claims or {}).get("login_hint")
        if login_hint:
            params["logout_hint"] = login_hint
        return f"{end_session_endpoint}?{urlencode(params)}"


def _nonce_hash(nonce: str | None) -> str | None:
    # MSAL sends sha256(nonce) as the nonce parameter; the tenant echoes what it was sent.
    return None if not nonce else hashlib.sha256(nonce.encode("ascii")).hexdigest()


def _home_account_id(result: dict[str, Any], claims: dict[str, Any], *, is_entra: bool) -> str:
    """Same rule as MSAL's cache: `uid.utid` from client_info, else the ID token's `sub`.

    With Entra, client_info names the user and tenant the tokens in the cache belong to, and the ID
    token names the user the session is for: both must be one person (uid = oid, utid = tid), or
    the session would show one user while holding another's account and tokens."""
    client_info = result.get("client_info")
    if not client_info:
        return str(claims["sub"])
    data = decode_client_info(client_info)
    uid, utid = (data.get("uid"), data.get("utid")) if isinstance(data, dict) else (None, None)
    if not isinstance(uid, str) or not isinstance(utid, str) or not uid or not utid:
        raise SignInError("token response carried a client_info without uid and utid")
    if is_entra and not (_same_id(uid, claims.get("oid")) and _same_id(utid, claims.get("tid"))):
        raise SignInError("client_info names another user or tenant than the ID token (uid/utid vs oid/tid)")
    return f"{uid}.{utid}"


def _same_id(a: str, b: Any) -> bool:
    # Entra's object and tenant ids are GUIDs; their case carries no meaning.
    return isinstance(b, str) and a.lower() == b.lower()


def _token_endpoint_error(result: dict[str, Any], *, during: str) -> IdentityError:
    error = str(result.get("error"))
    codes = tuple(int(c) for c in result.get("error_codes") or () if str(c).isdigit())
    correlation_id = result.get("correlation_id")
    reason = f"{during}: {error} {list(codes) or ''} {result.get('suberror') or ''}".strip()
    if error in INTERACTION_ERRORS:
        return InteractionRequired(
            reason, claims_challenge=result.get("claims"), correlation_id=correlation_id, error_codes=codes
        )
    if error in ("temporarily_unavailable", "server_error"):
        return TenantUnavailable(reason, correlation_id=correlation_id)
    return SignInError(reason, correlation_id=correlation_id, tenant_error=error)
