"""The Graph request bodies and merges of the registration tool (no HTTP)."""

from ciam_registration import app_definitions as defs

MFA_APP_ID = "11111111-1111-1111-1111-111111111111"


def _mfa_app(**api):
    return {"id": "obj", "appId": MFA_APP_ID, "identifierUris": [], "api": api}


def test_odata_strings_double_embedded_quotes():
    assert defs.filter_display_name("O'Brien's app") == "displayName eq 'O''Brien''s app'"
    assert defs.filter_identifier_uri("api://x") == "identifierUris/any(x:x eq 'api://x')"
    assert defs.filter_tenant_wide_grant("c", "r") == (
        "clientId eq 'c' and consentType eq 'AllPrincipals' and resourceId eq 'r'"
    )


def test_new_mfa_app_exposes_user_mfa_with_v2_tokens():
    body = defs.new_mfa_app_body("mfa-app")
    (scope,) = body["api"]["oauth2PermissionScopes"]
    assert body["api"]["requestedAccessTokenVersion"] == 2
    assert scope["value"] == "User.MFA" and scope["type"] == "User" and scope["isEnabled"] is True
    assert scope["adminConsentDisplayName"] and len(scope["id"]) == 36
    assert "identifierUris" not in body  # needs the appId: set by a PATCH after creation


def test_a_created_mfa_app_only_needs_its_identifier_uri():
    body = defs.new_mfa_app_body("mfa-app")
    created = {**_mfa_app(**body["api"]), **{k: body[k] for k in ("requiredResourceAccess", "optionalClaims")}}
    assert defs.mfa_app_changes(created) == {"identifierUris": [f"api://{MFA_APP_ID}"]}
    created["identifierUris"] = [f"api://{MFA_APP_ID}"]
    assert defs.mfa_app_changes(created) == {}


def test_a_disabled_scope_is_enabled_again_keeping_its_id_and_other_scopes():
    other = {"id": "s2", "value": "Other", "type": "User", "isEnabled": True}
    disabled = dict(defs.mfa_scope_definition("s1"), isEnabled=False)
    app = _mfa_app(requestedAccessTokenVersion=1, oauth2PermissionScopes=[other, disabled])
    changes = defs.mfa_app_changes(app)
    assert changes["api"]["requestedAccessTokenVersion"] == 2
    scopes = {s["id"]: s for s in changes["api"]["oauth2PermissionScopes"]}
    assert scopes["s1"]["isEnabled"] is True and scopes["s2"] == other


def test_web_app_asks_for_graph_and_mfa_scopes_by_id():
    access = defs.wanted_resource_access(MFA_APP_ID, "scope-id")
    graph, mfa = access
    assert graph["resourceAppId"] == "00000003-0000-0000-c000-000000000000"
    ids = {a["id"] for a in graph["resourceAccess"]}
    assert "e1fe6dd8-ba31-4d61-89e7-88639da4683d" in ids  # User.Read
    assert "b4e74841-8e56-480b-be8b-910348b18b4c" in ids  # User.ReadWrite
    assert all(a["type"] == "Scope" for a in graph["resourceAccess"])
    assert mfa == {"resourceAppId": MFA_APP_ID, "resourceAccess": [{"id": "scope-id", "type": "Scope"}]}


def test_merges_add_what_is_missing_and_keep_what_a_person_added():
    someone_elses = {
        "resourceAppId": "22222222-2222-2222-2222-222222222222",
        "resourceAccess": [{"id": "r", "type": "Role"}],
    }
    existing = [
        someone_elses,
        {"resourceAppId": MFA_APP_ID.upper(), "resourceAccess": [{"id": "SCOPE-ID", "type": "Scope"}]},
    ]
    merged = defs.merge_resource_access(existing, defs.wanted_resource_access(MFA_APP_ID, "scope-id"))
    assert merged[0] == someone_elses
    assert merged[1]["resourceAccess"] == [{"id": "SCOPE-ID", "type": "Scope"}]  # same id, other case: no duplicate
    assert len(merged) == 3
    claims = defs.merge_optional_claims({"idToken": [{"name": "email"}], "accessToken": [{"name": "idtyp"}]})
    assert [c["name"] for c in claims["idToken"]] == ["email", "login_hint"]
    assert claims["accessToken"] == [{"name": "idtyp"}]


def test_web_app_changes_are_empty_once_applied():
    uris = defs.wanted_redirect_uris("https://app.example/auth/redirect", "https://app.example/")
    access = defs.wanted_resource_access(MFA_APP_ID, "scope-id")
    app = {"id": "o", "appId": "a", "web": {"redirectUris": ["https://old.example/cb"]}, "requiredResourceAccess": []}
    changes = defs.web_app_changes(app, uris, access)
    assert changes["web"]["redirectUris"] == ["https://old.example/cb", *uris]
    assert set(changes) == {"web", "requiredResourceAccess", "optionalClaims"}
    app.update(changes)
    assert defs.web_app_changes(app, uris, access) == {}


def test_post_logout_uri_is_a_redirect_uri_not_the_front_channel_logout_url():
    body = defs.new_web_app_body("web", defs.wanted_redirect_uris("https://a/cb", "https://a/"), [])
    assert body["web"] == {"redirectUris": ["https://a/cb", "https://a/"]}
    assert defs.wanted_redirect_uris("https://a/", "https://a/") == ["https://a/"]


def test_grant_and_policy_bodies():
    grant = defs.tenant_wide_grant_body("client", "resource", ["openid", "User.Read"])
    assert grant == {
        "clientId": "client",
        "consentType": "AllPrincipals",
        "resourceId": "resource",
        "scope": "openid User.Read",
    }
    assert defs.missing_scopes("openid  User.Read", ["User.Read", "User.ReadWrite"]) == ["User.ReadWrite"]
    policy = defs.mfa_policy_body("Require MFA for mfa-app", MFA_APP_ID)
    assert policy["state"] == "enabled"
    assert policy["conditions"]["applications"]["includeApplications"] == [MFA_APP_ID]
    assert policy["conditions"]["users"]["includeUsers"] == ["All"]
    assert policy["conditions"]["clientAppTypes"] == ["all"]  # required by Graph
    assert policy["grantControls"]["builtInControls"] == ["mfa"]
    assert defs.policy_requires_mfa_for(policy, MFA_APP_ID)
    assert not defs.policy_requires_mfa_for(policy, "another")


def test_the_web_app_is_named_for_customers_and_an_old_name_is_changed():
    from ciam_registration.registrar import RegistrationSettings

    settings = RegistrationSettings("contoso", "https://a/cb", "https://a/")
    assert settings.web_app_display_name == "Contoso"
    assert RegistrationSettings("contoso", "x", "y", web_app_name="Contoso Rewards").web_app_display_name == (
        "Contoso Rewards"
    )
    uris = defs.wanted_redirect_uris("https://a/cb", "https://a/")
    access = defs.wanted_resource_access(MFA_APP_ID, "scope-id")
    old = {"displayName": defs.LEGACY_WEB_APP_NAME, "web": {"redirectUris": uris}, "requiredResourceAccess": access}
    old["optionalClaims"] = defs.merge_optional_claims(None)
    assert defs.web_app_changes(old, uris, access, display_name="Contoso") == {"displayName": "Contoso"}
    assert defs.web_app_changes(old, uris, access) == {}  # no wanted name: the name is not touched


def test_an_older_mfa_app_gains_its_graph_permission_and_xms_cc_keeping_what_it_had():
    """The API edits the profile on behalf of the customer (Graph User.ReadWrite) and its tokens carry
    the client's capabilities (optional claim xms_cc)."""
    app = _mfa_app(requestedAccessTokenVersion=2, oauth2PermissionScopes=[defs.mfa_scope_definition("s1")])
    app["identifierUris"] = [f"api://{MFA_APP_ID}"]
    app["optionalClaims"] = {"idToken": [{"name": "auth_time"}], "accessToken": [], "saml2Token": []}
    changes = defs.mfa_app_changes(app)
    (graph,) = changes["requiredResourceAccess"]
    assert graph["resourceAppId"] == defs.GRAPH_APP_ID
    assert {"id": defs.GRAPH_SCOPE_IDS["User.ReadWrite"], "type": "Scope"} in graph["resourceAccess"]
    assert [c["name"] for c in changes["optionalClaims"]["accessToken"]] == ["xms_cc"]
    assert changes["optionalClaims"]["idToken"] == [{"name": "auth_time"}]
    app.update(changes)
    assert defs.mfa_app_changes(app) == {}


def test_the_context_policy_requires_mfa_for_that_context_only():
    body = defs.context_policy_body("p", "c3")
    assert defs.policy_requires_mfa_for_context(body, "c3")
    assert not defs.policy_requires_mfa_for_context(body, "c1")
    assert not defs.policy_requires_mfa_for(body, "c3")


MEMBER = "extension_0123456789abcdef0123456789abcdef_MembershipNumber"


def test_a_user_flow_that_already_matches_needs_no_patch():
    inputs = defs.sign_up_inputs({"MembershipNumber": MEMBER})
    flow = defs.new_user_flow_body("Contoso sign-up and sign-in", "email_password", inputs)
    assert defs.user_flow_changes(flow, "email_password", inputs) == {}
    assert [a["id"] for a in flow["onAttributeCollection"]["attributes"]] == [
        "email",
        "displayName",
        "givenName",
        "surname",
        "city",
        "country",
        MEMBER,
    ]


def test_a_user_flow_gets_the_missing_inputs_after_a_persons_and_the_wanted_method():
    wanted = defs.sign_up_inputs({"MembershipNumber": MEMBER})
    person_added = {"attribute": "jobTitle", "label": "Role"}
    flow = defs.new_user_flow_body("f", "email_otp", [wanted[0], person_added])
    changes = defs.user_flow_changes(flow, "email_password", wanted)
    assert changes["onAuthenticationMethodLoadStart"]["identityProviders"] == [{"id": "EmailPassword-OAUTH"}]
    inputs = changes["onAttributeCollection"]["attributeCollectionPage"]["views"][0]["inputs"]
    assert [i["attribute"] for i in inputs] == [
        "displayName",
        "jobTitle",
        "givenName",
        "surname",
        "city",
        "country",
        MEMBER,
    ]
    assert inputs[1] == person_added


def test_email_otp_is_enabled_for_all_users_keeping_other_targets():
    group = {"targetType": "group", "id": "g1", "isRegistrationRequired": False}
    changes = defs.email_method_changes({"state": "disabled", "includeTargets": [group]})
    assert changes["state"] == "enabled" and [t["id"] for t in changes["includeTargets"]] == ["g1", "all_users"]
    assert defs.email_method_changes({"state": "enabled", "includeTargets": [{"id": "all_users"}]}) == {}


def test_the_custom_attribute_is_mapped_into_the_id_token_from_the_directory():
    claims = defs.mapped_claim(defs.merge_optional_claims(None), MEMBER)
    assert [(c["name"], c["source"]) for c in claims["idToken"]] == [("login_hint", None), (MEMBER, "user")]
