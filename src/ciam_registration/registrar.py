"""The registration itself: each step first looks for what exists, then creates or fixes only
what is missing, so running it again changes nothing and never duplicates an object."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ciam_registration import app_definitions as defs
from ciam_registration.errors import (
    GraphConflictError,
    GraphNotFoundError,
    GraphRequestError,
    RegistrationConflictError,
    RegistrationError,
)
from ciam_registration.graph_client import GraphClient

logger = logging.getLogger(__name__)

APPLICATIONS = "Application.ReadWrite.All"
GRANTS = "DelegatedPermissionGrant.ReadWrite.All"
POLICIES = "Policy.ReadWrite.ConditionalAccess and Policy.Read.All"
FLOWS = "EventListener.ReadWrite.All"
ATTRIBUTES = "IdentityUserFlow.ReadWrite.All"
METHODS = "Policy.ReadWrite.AuthenticationMethod"
FLOWS_PATH = "identity/authenticationEventsFlows"

# Graph replicates a new application before its appId can be used elsewhere (a service principal
# created too early is refused with a 400); wait and try again a few times.
REPLICATION_ATTEMPTS = 5
REPLICATION_WAIT_SECONDS = 3.0


@dataclass(frozen=True)
class RegistrationSettings:
    tenant_subdomain: str
    redirect_uri: str
    post_logout_redirect_uri: str
    # The web app's display name is what customers see on the tenant's pages; empty means
    # defs.default_web_app_name(tenant_subdomain), e.g. "Contoso".
    web_app_name: str = ""
    mfa_app_name: str = "mfa-app"
    policy_name: str = ""
    rotate_secret: bool = False
    secret_lifetime_days: int = 180
    # The authentication context the API can require, with a policy that makes it mean "MFA done".
    auth_context: str = defs.AUTH_CONTEXT_ID
    # The user flow linked to the web app; empty means defs.default_user_flow_name(web app name).
    user_flow_name: str = ""
    sign_in_method: str = "email_password"  # or "email_otp" (keys of defs.SIGN_IN_METHODS)

    @property
    def user_flow_display_name(self) -> str:
        return self.user_flow_name or defs.default_user_flow_name(self.web_app_display_name)

    @property
    def web_app_display_name(self) -> str:
        return self.web_app_name or defs.default_web_app_name(self.tenant_subdomain)

    @property
    def mfa_policy_name(self) -> str:
        return self.policy_name or f"Require MFA for {self.mfa_app_name}"

    @property
    def context_policy_name(self) -> str:
        return f"Require MFA for authentication context {self.auth_context}"


@dataclass
class RegistrationResult:
    web_app_id: str
    mfa_app_id: str
    mfa_scope: str
    policy_id: str
    # Set only when this run created a secret; the caller writes it to .env and nowhere else.
    client_secret: str | None = field(default=None, repr=False)
    changes: list[str] = field(default_factory=list)
    # The mfa-app API's secret, likewise only when this run created one (written to the API's env file).
    api_client_secret: str | None = field(default=None, repr=False)
    auth_context: str = defs.AUTH_CONTEXT_ID
    context_policy_id: str = ""
    user_flow_id: str = ""

    def api_env_values(self) -> dict[str, str]:
        """The API's own settings (ciam_api's names); AUTHORITY, TENANT_ID and GRAPH_ENDPOINT are the
        tenant's, as for the web app."""
        values = {
            "API_CLIENT_ID": self.mfa_app_id,
            "ALLOWED_CLIENT_APPS": self.web_app_id,
            "REQUIRED_AUTH_CONTEXT": self.auth_context,
        }
        if self.api_client_secret is not None:
            values["API_CLIENT_SECRET"] = self.api_client_secret
        return values

    def env_values(self, settings: RegistrationSettings) -> dict[str, str]:
        values = {
            "CLIENT_ID": self.web_app_id,
            "TENANT_SUBDOMAIN": settings.tenant_subdomain,
            "REDIRECT_URI": settings.redirect_uri,
            "POST_LOGOUT_REDIRECT_URI": settings.post_logout_redirect_uri,
            "MFA_SCOPE": self.mfa_scope,
        }
        if self.client_secret is not None:
            values["CLIENT_SECRET"] = self.client_secret
        return values


class Registrar:
    def __init__(
        self,
        graph: GraphClient,
        settings: RegistrationSettings,
        *,
        report: Callable[[str], None] = lambda line: None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.graph = graph
        self.settings = settings
        self._report = report
        self._sleep = sleep
        self._now = now
        self.changes: list[str] = []

    def _changed(self, line: str) -> None:
        self.changes.append(line)
        self._report(line)

    # --- the whole run ------------------------------------------------------------------------

    def register(
        self, existing_env: dict[str, str], existing_api_env: dict[str, str] | None = None
    ) -> RegistrationResult:
        """Bring the tenant to the wanted state; ``existing_env`` is the current .env and
        ``existing_api_env`` the API's env file (either may be empty)."""
        api_env = existing_api_env or {}
        mfa_app, mfa_app_created = self.ensure_mfa_app(existing_env.get("MFA_SCOPE") or _scope_of(api_env))
        mfa_principal = self.ensure_service_principal(mfa_app)
        web_app, web_app_created = self.ensure_web_app(mfa_app, existing_env.get("CLIENT_ID"))
        web_principal = self.ensure_service_principal(web_app)
        secret = self.ensure_client_secret(web_app, web_app_created, existing_env)
        api_secret = self.ensure_api_secret(mfa_app, mfa_app_created, api_env)
        graph_principal = self.find_graph_service_principal()
        self.ensure_tenant_wide_grant(web_principal, graph_principal, list(defs.WEB_APP_GRAPH_SCOPES))
        self.ensure_tenant_wide_grant(web_principal, mfa_principal, [defs.MFA_SCOPE_VALUE])
        # The API's own Graph permission for on-behalf-of: only an admin can consent to it.
        self.ensure_tenant_wide_grant(mfa_principal, graph_principal, list(defs.MFA_APP_GRAPH_SCOPES))
        policy = self.ensure_mfa_policy(mfa_app)
        self.ensure_auth_context(self.settings.auth_context)
        context_policy = self.ensure_context_policy(self.settings.auth_context)
        custom_ids = self.ensure_custom_attributes()
        self.ensure_attribute_claims(web_app, custom_ids)
        flow = self.ensure_user_flow(web_app, custom_ids)
        self.ensure_email_one_time_passcode()
        return RegistrationResult(
            web_app_id=web_app["appId"],
            mfa_app_id=mfa_app["appId"],
            mfa_scope=f"{defs.identifier_uri(mfa_app['appId'])}/{defs.MFA_SCOPE_VALUE}",
            policy_id=policy["id"],
            client_secret=secret,
            changes=list(self.changes),
            api_client_secret=api_secret,
            auth_context=self.settings.auth_context,
            context_policy_id=context_policy["id"],
            user_flow_id=flow["id"],
        )

    # --- applications -------------------------------------------------------------------------

    def _only_application(self, odata_filter: str, what: str) -> dict[str, Any] | None:
        found = self.graph.list("applications", permission=APPLICATIONS, odata_filter=odata_filter)
        if len(found) > 1:
            ids = ", ".join(app["appId"] for app in found)
            raise RegistrationConflictError(
                f"{len(found)} applications match {what} ({ids}); delete or rename all but one and run again."
            )
        return found[0] if found else None

    def _reload(self, application: dict[str, Any]) -> dict[str, Any]:
        return self.graph.get(f"applications/{application['id']}", permission=APPLICATIONS)

    def ensure_mfa_app(self, mfa_scope_in_env: str | None) -> tuple[dict[str, Any], bool]:
        name = self.settings.mfa_app_name
        application = None
        # The .env names the mfa-app by its identifier URI; that finds it even if it was renamed.
        if mfa_scope_in_env and mfa_scope_in_env.startswith("api://"):
            uri = mfa_scope_in_env.rsplit("/", 1)[0]
            application = self._only_application(defs.filter_identifier_uri(uri), f"identifier URI {uri}")
        if application is None:
            application = self._only_application(defs.filter_display_name(name), f"the name '{name}'")
        created = application is None
        if application is None:
            application = self.graph.post("applications", defs.new_mfa_app_body(name), permission=APPLICATIONS)
            self._changed(f"created application '{name}' (appId {application['appId']})")
        changes = defs.mfa_app_changes(application)
        if changes:
            self.graph.patch(f"applications/{application['id']}", changes, permission=APPLICATIONS)
            self._changed(f"updated application '{name}': {', '.join(sorted(changes))}")
            application = self._reload(application)
        return application, created

    def find_web_app(self, client_id_in_env: str | None) -> dict[str, Any] | None:
        """The web app registration: by the .env's CLIENT_ID first (it finds the app whatever its name),
        then by the wanted name, then by the name earlier releases gave it."""
        name = self.settings.web_app_display_name
        if client_id_in_env:
            found = self._only_application(defs.filter_app_id(client_id_in_env), f"appId {client_id_in_env}")
            if found is not None:
                return found
        found = self._only_application(defs.filter_display_name(name), f"the name '{name}'")
        if found is None and name != defs.LEGACY_WEB_APP_NAME:
            legacy = defs.LEGACY_WEB_APP_NAME
            found = self._only_application(defs.filter_display_name(legacy), f"the name '{legacy}'")
        return found

    def _refuse_a_second_app_named(self, name: str, application: dict[str, Any]) -> None:
        """Renaming must not make two registrations with one name (a later run could not tell them apart)."""
        others = [
            app
            for app in self.graph.list(
                "applications", permission=APPLICATIONS, odata_filter=defs.filter_display_name(name)
            )
            if app["appId"] != application["appId"]
        ]
        if others:
            raise RegistrationConflictError(
                f"Cannot rename '{application['displayName']}' ({application['appId']}) to '{name}': application "
                f"{others[0]['appId']} already has that name. Pass another --web-app-name, or delete one of them."
            )

    def ensure_web_app(
        self, mfa_app: dict[str, Any], client_id_in_env: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        name = self.settings.web_app_display_name
        redirect_uris = defs.wanted_redirect_uris(self.settings.redirect_uri, self.settings.post_logout_redirect_uri)
        resource_access = defs.wanted_resource_access(mfa_app["appId"], defs.mfa_scope_id(mfa_app))
        application = self.find_web_app(client_id_in_env)
        if application is not None and application.get("displayName") != name:
            self._refuse_a_second_app_named(name, application)
        if application is None:
            body = defs.new_web_app_body(name, redirect_uris, resource_access)
            application = self.graph.post("applications", body, permission=APPLICATIONS)
            self._changed(f"created application '{name}' (appId {application['appId']})")
            return application, True
        changes = defs.web_app_changes(application, redirect_uris, resource_access, display_name=name)
        if changes:
            self.graph.patch(f"applications/{application['id']}", changes, permission=APPLICATIONS)
            if "displayName" in changes:
                self._changed(f"renamed application '{application['displayName']}' to '{name}'")
            others = sorted(set(changes) - {"displayName"})
            if others:
                self._changed(f"updated application '{name}': {', '.join(others)}")
            application = self._reload(application)
        return application, False

    def ensure_client_secret(
        self, web_app: dict[str, Any], web_app_created: bool, existing_env: dict[str, str]
    ) -> str | None:
        """A new secret when there is none we can use; None keeps the one in .env.

        Graph never shows a secret again, so "usable" means: .env has a secret for this client id.
        """
        same_client = existing_env.get("CLIENT_ID") == web_app["appId"]
        # The app accepts exactly one credential: with a certificate configured, adding a secret
        # to .env would stop it from starting.
        env_has_credential = same_client and bool(
            existing_env.get("CLIENT_SECRET") or existing_env.get("CLIENT_CERTIFICATE_PATH")
        )
        if env_has_credential and not web_app_created and not self.settings.rotate_secret:
            return None
        return self._add_secret(web_app)

    def ensure_api_secret(self, mfa_app: dict[str, Any], created: bool, existing_api_env: dict[str, str]) -> str | None:
        """The mfa-app API's credential for on-behalf-of, by the same rule as the web app's: a new
        secret unless the API's env file holds one for this app (or a certificate)."""
        same_app = existing_api_env.get("API_CLIENT_ID") == mfa_app["appId"]
        has_credential = same_app and bool(
            existing_api_env.get("API_CLIENT_SECRET") or existing_api_env.get("API_CLIENT_CERTIFICATE_PATH")
        )
        if has_credential and not created and not self.settings.rotate_secret:
            return None
        return self._add_secret(mfa_app)

    def _add_secret(self, application: dict[str, Any]) -> str:
        end = self._now() + dt.timedelta(days=self.settings.secret_lifetime_days)
        body = defs.password_body(
            f"ciam-register {self._now():%Y-%m-%d}", end.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        credential = self.graph.post(f"applications/{application['id']}/addPassword", body, permission=APPLICATIONS)
        secret = credential.get("secretText")
        if not secret:
            raise RegistrationError("Graph created a client secret but did not return its text; run again.")
        self._changed(f"added a client secret to '{application['displayName']}' (hint {credential.get('hint', '?')}…)")
        return secret

    # --- service principals and consent -------------------------------------------------------

    def _service_principal_for(self, app_id: str) -> dict[str, Any] | None:
        found = self.graph.list("servicePrincipals", permission=APPLICATIONS, odata_filter=defs.filter_app_id(app_id))
        return found[0] if found else None

    def ensure_service_principal(self, application: dict[str, Any]) -> dict[str, Any]:
        principal = self._service_principal_for(application["appId"])
        if principal is not None:
            return principal
        for attempt in range(1, REPLICATION_ATTEMPTS + 1):
            try:
                principal = self.graph.post(
                    "servicePrincipals", {"appId": application["appId"]}, permission=APPLICATIONS
                )
                break
            except GraphRequestError as problem:
                if problem.status not in {400, 404} or attempt == REPLICATION_ATTEMPTS:
                    raise
                logger.info("application %s not replicated yet; waiting", application["appId"])
                self._sleep(REPLICATION_WAIT_SECONDS)
        self._changed(f"created the service principal of '{application['displayName']}'")
        return principal

    def find_graph_service_principal(self) -> dict[str, Any]:
        principal = self._service_principal_for(defs.GRAPH_APP_ID)
        if principal is None:
            raise RegistrationError("Microsoft Graph's service principal was not found in the tenant.")
        published = {scope.get("value"): scope.get("id") for scope in principal.get("oauth2PermissionScopes") or []}
        for name in defs.WEB_APP_GRAPH_SCOPES:
            if published.get(name) not in (None, defs.GRAPH_SCOPE_IDS[name]):
                raise RegistrationError(
                    f"Microsoft Graph publishes {name} with id {published[name]}, not {defs.GRAPH_SCOPE_IDS[name]}."
                )
        return principal

    def ensure_tenant_wide_grant(self, client: dict[str, Any], resource: dict[str, Any], scopes: list[str]) -> None:
        """Admin consent for every user (consentType AllPrincipals): customers cannot consent themselves."""
        existing = self.graph.list(
            "oauth2PermissionGrants",
            permission=GRANTS,
            odata_filter=defs.filter_tenant_wide_grant(client["id"], resource["id"]),
        )
        if not existing:
            body = defs.tenant_wide_grant_body(client["id"], resource["id"], scopes)
            self.graph.post("oauth2PermissionGrants", body, permission=GRANTS)
            self._changed(f"granted admin consent to {' '.join(scopes)} of '{resource['displayName']}'")
            return
        grant = existing[0]
        missing = defs.missing_scopes(grant.get("scope"), scopes)
        if missing:
            scope = " ".join([*(grant.get("scope") or "").split(), *missing])
            self.graph.patch(f"oauth2PermissionGrants/{grant['id']}", {"scope": scope}, permission=GRANTS)
            self._changed(f"added {' '.join(missing)} of '{resource['displayName']}' to the admin consent")

    # --- the user flow, its attributes, email one-time passcode ---------------------------------

    def ensure_custom_attributes(self) -> dict[str, str]:
        """The product's custom attributes (found by name, else created); returns name -> extension id.
        A custom attribute's dataType is fixed once created, so a different one is a conflict."""
        existing = {
            attribute.get("displayName"): attribute
            for attribute in self.graph.list("identity/userFlowAttributes", permission=ATTRIBUTES)
            if attribute.get("userFlowAttributeType") == "custom"
        }
        ids: dict[str, str] = {}
        for wanted in defs.CUSTOM_ATTRIBUTES:
            found = existing.get(wanted.name)
            if found is None:
                body = {"displayName": wanted.name, "description": wanted.description, "dataType": wanted.data_type}
                found = self.graph.post("identity/userFlowAttributes", body, permission=ATTRIBUTES)
                self._changed(f"created the custom user attribute '{wanted.name}' ({found['id']})")
            elif found.get("dataType") != wanted.data_type:
                raise RegistrationConflictError(
                    f"The custom attribute '{wanted.name}' exists with dataType {found.get('dataType')}, not "
                    f"{wanted.data_type}; a dataType cannot change. Remove it or rename ours, then run again."
                )
            ids[wanted.name] = found["id"]
        return ids

    def ensure_attribute_claims(self, web_app: dict[str, Any], custom_ids: dict[str, str]) -> None:
        """Custom attributes reach the web app's ID token only when its registration maps them."""
        claims = web_app.get("optionalClaims")
        for extension_id in custom_ids.values():
            claims = defs.mapped_claim(claims, extension_id)
        have = {c.get("name") for c in ((web_app.get("optionalClaims") or {}).get("idToken") or [])}
        missing = sorted(set(custom_ids.values()) - have)
        if missing:
            self.graph.patch(f"applications/{web_app['id']}", {"optionalClaims": claims}, permission=APPLICATIONS)
            self._changed(f"mapped {', '.join(missing)} into the ID token of '{web_app['displayName']}'")

    def ensure_user_flow(self, web_app: dict[str, Any], custom_ids: dict[str, str]) -> dict[str, Any]:
        name = self.settings.user_flow_display_name
        method = self.settings.sign_in_method
        inputs = defs.sign_up_inputs(custom_ids)
        found = self.graph.list(FLOWS_PATH, permission=FLOWS, odata_filter=defs.filter_display_name(name))
        if len(found) > 1:
            raise RegistrationConflictError(f"{len(found)} user flows are named '{name}'; keep one.")
        if found:
            flow = found[0]
            changes = defs.user_flow_changes(flow, method, inputs)
            if changes:
                self.graph.patch(f"{FLOWS_PATH}/{flow['id']}", changes, permission=FLOWS)
                what = sorted(set(changes) - {"@odata.type"})
                self._changed(f"updated the user flow '{name}': {', '.join(what)}")
        else:
            flow = self.graph.post(FLOWS_PATH, defs.new_user_flow_body(name, method, inputs), permission=FLOWS)
            self._changed(f"created the user flow '{name}' ({method})")
        links = f"{FLOWS_PATH}/{flow['id']}/conditions/applications/includeApplications"
        linked = {item.get("appId", "").lower() for item in self.graph.list(links, permission=FLOWS)}
        if web_app["appId"].lower() not in linked:
            body = {"@odata.type": "#microsoft.graph.authenticationConditionApplication", "appId": web_app["appId"]}
            try:
                self.graph.post(links, body, permission=FLOWS)
            except GraphConflictError as problem:
                raise RegistrationConflictError(
                    f"'{web_app['displayName']}' is linked to another user flow (an app belongs to one); unlink it "
                    f"in the admin center or name that flow with --user-flow-name, then run again."
                ) from problem
            self._changed(f"linked '{web_app['displayName']}' to the user flow '{name}'")
        return flow

    def ensure_email_one_time_passcode(self) -> None:
        """Email one-time passcode for all users: password reset needs it, and it is the customers' MFA
        method. Not with one-time-code sign-in: email cannot be both the first factor and the MFA
        method (entra-notes §13), so the tool leaves the method alone and says SMS is the MFA method."""
        if self.settings.sign_in_method == "email_otp":
            configuration = self.graph.get(defs.EMAIL_METHOD_PATH, permission=METHODS)
            state = "enabled" if configuration.get("state") == "enabled" else "not enabled"
            self._report(
                f"note: customers sign in with an email code, so email one-time passcode ({state} in the "
                "authentication methods policy) is not their MFA method; MFA uses SMS, a paid add-on"
            )
            return
        configuration = self.graph.get(defs.EMAIL_METHOD_PATH, permission=METHODS)
        changes = defs.email_method_changes(configuration)
        if changes:
            self.graph.patch(defs.EMAIL_METHOD_PATH, changes, permission=METHODS)
            self._changed("enabled email one-time passcode for all users (authentication methods policy)")

    # --- conditional access -----------------------------------------------------------------

    def ensure_auth_context(self, context_id: str) -> dict[str, Any]:
        """The authentication context (create or update by id, Graph's authenticationContextClassReference);
        an existing one keeps its names, and is only published (isAvailable) if it was not."""
        path = f"identity/conditionalAccess/authenticationContextClassReferences/{context_id}"
        try:
            context = self.graph.get(path, permission=POLICIES)
        except GraphNotFoundError:
            self.graph.patch(path, defs.auth_context_body(context_id), permission=POLICIES)
            self._changed(f"created the authentication context {context_id}")
            return self.graph.get(path, permission=POLICIES)
        if not context.get("isAvailable"):
            self.graph.patch(path, {"isAvailable": True}, permission=POLICIES)
            self._changed(f"published the authentication context {context_id} to apps (isAvailable)")
        return context

    def ensure_context_policy(self, context_id: str) -> dict[str, Any]:
        """A policy requiring MFA for the context: any that does (whatever its name) is kept as it is."""
        policies = self.graph.list("identity/conditionalAccess/policies", permission=POLICIES)
        for policy in policies:
            if defs.policy_requires_mfa_for_context(policy, context_id):
                if policy.get("state") != "enabled":
                    self._report(
                        f"note: the conditional access policy '{policy.get('displayName')}' is {policy.get('state')}"
                    )
                return policy
        name = self.settings.context_policy_name
        if any(policy.get("displayName") == name for policy in policies):
            raise RegistrationConflictError(
                f"The conditional access policy '{name}' exists but does not require MFA for the authentication "
                f"context {context_id}; fix it in the admin center or delete it, then run again."
            )
        policy = self.graph.post(
            "identity/conditionalAccess/policies", defs.context_policy_body(name, context_id), permission=POLICIES
        )
        self._changed(f"created the conditional access policy '{name}'")
        return policy

    def ensure_mfa_policy(self, mfa_app: dict[str, Any]) -> dict[str, Any]:
        name = self.settings.mfa_policy_name
        policies = self.graph.list("identity/conditionalAccess/policies", permission=POLICIES)
        named = [policy for policy in policies if policy.get("displayName") == name]
        if len(named) > 1:
            raise RegistrationConflictError(f"{len(named)} conditional access policies are named '{name}'; keep one.")
        if named:
            policy = named[0]
            # A security policy is never rewritten silently: a person decides what to do with it.
            if not defs.policy_requires_mfa_for(policy, mfa_app["appId"]):
                raise RegistrationConflictError(
                    f"The conditional access policy '{name}' exists but does not require MFA for "
                    f"{mfa_app['appId']}; fix it in the admin center or delete it, then run again."
                )
            if policy.get("state") != "enabled":
                self._report(f"note: the conditional access policy '{name}' is {policy.get('state')}")
            return policy
        policy = self.graph.post(
            "identity/conditionalAccess/policies",
            defs.mfa_policy_body(name, mfa_app["appId"]),
            permission=POLICIES,
        )
        self._changed(f"created the conditional access policy '{name}'")
        return policy


def _scope_of(api_env: dict[str, str]) -> str | None:
    """The mfa-app's scope as the API's env file names the app (its client id)."""
    app_id = api_env.get("API_CLIENT_ID")
    return f"{defs.identifier_uri(app_id)}/{defs.MFA_SCOPE_VALUE}" if app_id else None
