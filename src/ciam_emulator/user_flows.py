"""User flows as data: Graph's externalUsersSelfServiceSignUpEventsFlow documents, the custom user
attributes (identityUserFlowAttribute), and what the hosted pages read from them (the sign-in method
and the sign-up form), independent of Flask.

Sources: Microsoft Graph v1.0 reference pages for authenticationEventsFlow (create, list, get,
update, delete, includeApplications, attributes $ref), externalUsersSelfServiceSignUpEventsFlow,
authenticationAttributeCollectionInputConfiguration and identityUserFlowAttribute (create); the
External ID docs "Create a sign-up and sign-in user flow" and "Collect user attributes during
sign-up". Anything those pages do not settle says UNSURE.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from ciam_emulator.errors import GraphError
from ciam_emulator.store import Store

FLOW_TYPE = "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow"
METHOD_LOAD_TYPE = "#microsoft.graph.onAuthenticationMethodLoadStartExternalUsersSelfServiceSignUp"
FLOW_START_TYPE = "#microsoft.graph.onInteractiveAuthFlowStartExternalUsersSelfServiceSignUp"
ATTRIBUTE_COLLECTION_TYPE = "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp"
USER_CREATE_TYPE = "#microsoft.graph.onUserCreateStartExternalUsersSelfServiceSignUp"
APPLICATION_CONDITION_TYPE = "#microsoft.graph.authenticationConditionApplication"

EMAIL_PASSWORD = "EmailPassword-OAUTH"  # noqa: S105 - an identity provider id, not a password
EMAIL_OTP = "EmailOtpSignup-OAUTH"
# Google-OAUTH and Facebook-OAUTH are documented too; the emulator has no federation to offer.
SUPPORTED_IDENTITY_PROVIDERS = {EMAIL_PASSWORD: "email_password", EMAIL_OTP: "email_otp"}
DOCUMENTED_IDENTITY_PROVIDERS = {EMAIL_PASSWORD, EMAIL_OTP, "Google-OAUTH", "Facebook-OAUTH"}

# Built-in attribute ids (identityUserFlowAttribute, "built-in" ones) -> (label, Graph user property).
BUILT_IN_ATTRIBUTES = {
    "city": ("City", "city"),
    "country": ("Country/Region", "country"),
    "displayName": ("Display Name", "displayName"),
    "email": ("Email Address", "mail"),
    "givenName": ("Given Name", "givenName"),
    "jobTitle": ("Job Title", "jobTitle"),
    "postalCode": ("Postal Code", "postalCode"),
    "state": ("State/Province", "state"),
    "streetAddress": ("Street Address", "streetAddress"),
    "surname": ("Surname", "surname"),
}
DATA_TYPES = ("string", "boolean", "int64", "stringCollection", "dateTime")
# The input types the hosted sign-up form can render. The reference also lists radioSingleSelect,
# checkboxMultiSelect and checkboxSingleSelect: refused as an emulator limit, never ignored.
SUPPORTED_INPUT_TYPES = {"text", "boolean"}
_INPUT_PROPERTIES = {
    "attribute",
    "label",
    "inputType",
    "required",
    "editable",
    "hidden",
    "writeToDirectory",
    "validationRegEx",
    "options",
    "defaultValue",
}
_FLOW_PROPERTIES = {
    "id",
    "displayName",
    "description",
    "priority",
    "conditions",
    "onAuthenticationMethodLoadStart",
    "onInteractiveAuthFlowStart",
    "onAttributeCollection",
    "onUserCreateStart",
}
# UNSURE: Graph documents no length limit for a collected string; the directory's own string
# properties (jobTitle, city...) take up to 128 to 1024 characters. The emulator allows 256.
MAX_STRING_LENGTH = 256
# The name part of a custom attribute: what the admin center accepts (letters, digits; UNSURE exactly).
_CUSTOM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,99}$")
# UNSURE: the priority a flow gets when the create body has none (the reference's examples show 500).
DEFAULT_PRIORITY = 500
# The b2c-extensions-app of every external tenant (user attributes doc: custom attributes are stored
# as extension properties of this app).
EXTENSIONS_APP_NAME = "b2c-extensions-app. Do not modify. Used by AADB2C for storing user data."


def bad_request(message: str) -> GraphError:
    return GraphError(400, "Request_BadRequest", message)


def not_found(what: str) -> GraphError:
    return GraphError(404, "Request_ResourceNotFound", f"Resource '{what}' does not exist.")


# --- custom attributes ------------------------------------------------------------------------------


def extensions_app_id(store: Store, tenant_id: str) -> str:
    """The appId of the tenant's b2c-extensions-app (made on first use, as the tenant has one from birth)."""
    app = store.find_app_by_name(tenant_id, EXTENSIONS_APP_NAME)
    if app is None:
        app = store.create_app(tenant_id, EXTENSIONS_APP_NAME)
    return app.app_id


def extension_name(store: Store, tenant_id: str, name: str) -> str:
    """``extension_{b2c-extensions-app appId without dashes}_{name}`` (user attributes doc)."""
    return f"extension_{extensions_app_id(store, tenant_id).replace('-', '')}_{name}"


def attribute_resource(row: dict[str, str]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "displayName": row["display_name"],
        "description": row["description"],
        "userFlowAttributeType": "custom",
        "dataType": row["data_type"],
    }


def built_in_attribute_resources() -> list[dict[str, Any]]:
    # UNSURE: the built-in ones' descriptions; the ids, type and dataType are from the reference.
    return [
        {
            "id": attribute_id,
            "displayName": label,
            "description": label,
            "userFlowAttributeType": "builtIn",
            "dataType": "string",
        }
        for attribute_id, (label, _) in BUILT_IN_ATTRIBUTES.items()
    ]


def list_attributes(store: Store, tenant_id: str) -> list[dict[str, Any]]:
    custom = [attribute_resource(row) for row in store.list_user_flow_attributes(tenant_id)]
    return built_in_attribute_resources() + custom


def create_attribute(store: Store, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /identity/userFlowAttributes: {displayName, description, dataType} -> 201 with the new id."""
    unknown = {k for k in body if not k.startswith("@odata.")} - {"displayName", "description", "dataType"}
    if unknown:
        raise bad_request(f"Property '{sorted(unknown)[0]}' of 'identityUserFlowAttribute' cannot be set.")
    name = body.get("displayName")
    if not isinstance(name, str) or not _CUSTOM_NAME.match(name):
        raise bad_request("Property 'displayName' must be a name of letters and digits, starting with a letter.")
    if name in BUILT_IN_ATTRIBUTES:
        raise bad_request(f"'{name}' is a built-in attribute.")
    description = body.get("description")
    if not isinstance(description, str):
        raise bad_request("Property 'description' is required.")
    data_type = body.get("dataType")
    if data_type not in DATA_TYPES:
        raise bad_request(f"Property 'dataType' must be one of {', '.join(DATA_TYPES)}.")
    attribute_id = extension_name(store, tenant_id, name)
    if not store.create_user_flow_attribute(tenant_id, attribute_id, name, description, data_type):
        # UNSURE: Graph's status and code for a duplicate attribute name (notes §13).
        raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue", f"An attribute named '{name}' exists.")
    return attribute_resource(
        {"id": attribute_id, "display_name": name, "description": description, "data_type": data_type}
    )


def _data_types(store: Store, tenant_id: str) -> dict[str, str]:
    """Every attribute id the tenant knows -> its dataType (ids compared case-insensitively)."""
    types = {attribute_id.lower(): "string" for attribute_id in BUILT_IN_ATTRIBUTES}
    types.update({row["id"].lower(): row["data_type"] for row in store.list_user_flow_attributes(tenant_id)})
    return types


# --- flows: checking Graph bodies --------------------------------------------------------------------


def _identity_providers(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise bad_request("'onAuthenticationMethodLoadStart.identityProviders' needs at least one identity provider.")
    ids = []
    for entry in value:
        provider = entry.get("id") if isinstance(entry, dict) else None
        if provider not in DOCUMENTED_IDENTITY_PROVIDERS:
            raise bad_request(f"'{provider}' is not an identity provider of external tenants.")
        if provider not in SUPPORTED_IDENTITY_PROVIDERS:
            raise bad_request(f"The emulator does not model the identity provider '{provider}'.")
        if provider not in ids:
            ids.append(provider)
    if len(ids) > 1:
        # UNSURE: the admin center offers "Email with password" or "Email one-time passcode", one of
        # them per flow; the Graph pages do not say whether a list with both is refused.
        raise bad_request("A user flow signs customers in either with email and password or with a one-time passcode.")
    return [{"id": provider} for provider in ids]


def _input(value: Any, data_types: dict[str, str], collected: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request("Every input of 'attributeCollectionPage.views' must be an object.")
    unknown = {k for k in value if not k.startswith("@odata.")} - _INPUT_PROPERTIES
    if unknown:
        raise bad_request(f"Property '{sorted(unknown)[0]}' of an attribute input is not supported.")
    attribute = value.get("attribute")
    if not isinstance(attribute, str) or attribute.lower() not in data_types:
        raise bad_request(f"The input's attribute '{attribute}' is not a user flow attribute of this tenant.")
    if attribute.lower() not in {a.lower() for a in collected}:
        raise bad_request(f"The input's attribute '{attribute}' is not among the flow's attributes.")
    label = value.get("label")
    if not isinstance(label, str) or not label.strip():
        raise bad_request(f"The input for '{attribute}' needs a 'label'.")
    input_type = value.get("inputType", "text")
    if input_type not in SUPPORTED_INPUT_TYPES:
        raise bad_request(f"The emulator's sign-up page cannot show inputType '{input_type}'.")
    data_type = data_types[attribute.lower()]
    expected = {"text": {"string", "int64"}, "boolean": {"boolean"}}[input_type]
    if data_type not in expected:
        raise bad_request(f"inputType '{input_type}' does not fit the {data_type} attribute '{attribute}'.")
    regex = value.get("validationRegEx")
    if regex is not None:
        if not isinstance(regex, str):
            raise bad_request(f"'validationRegEx' of '{attribute}' must be a string.")
        try:
            re.compile(regex)
        except re.error as problem:
            raise bad_request(f"'validationRegEx' of '{attribute}' is not a valid regular expression.") from problem
    flags = {}
    for name, default in (("required", False), ("editable", True), ("hidden", False), ("writeToDirectory", True)):
        flag = value.get(name, default)
        if not isinstance(flag, bool):
            raise bad_request(f"'{name}' of '{attribute}' must be true or false.")
        flags[name] = flag
    return {
        "attribute": attribute,
        "label": label.strip(),
        "inputType": input_type,
        "defaultValue": value.get("defaultValue"),
        "validationRegEx": regex,
        "options": _options(value.get("options"), attribute),
        **flags,
    }


def _options(value: Any, attribute: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request(f"'options' of '{attribute}' must be a list.")
    return list(value)


def _attribute_collection(value: Any, data_types: dict[str, str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request("'onAttributeCollection' must be an object.")
    attributes = value.get("attributes", [])
    if not isinstance(attributes, list):
        raise bad_request("'onAttributeCollection.attributes' must be a list.")
    ids: list[str] = []
    for entry in attributes:
        attribute = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(attribute, str) or attribute.lower() not in data_types:
            raise bad_request(f"'{attribute}' is not a user flow attribute of this tenant.")
        if attribute.lower() not in {a.lower() for a in ids}:
            ids.append(attribute)
    page = value.get("attributeCollectionPage") or {"views": [{"inputs": []}]}
    views = page.get("views") if isinstance(page, dict) else None
    if not isinstance(views, list) or not all(isinstance(view, dict) for view in views):
        raise bad_request("'attributeCollectionPage.views' must be a list of views.")
    checked_views = []
    for view in views:
        inputs = view.get("inputs") or []
        if not isinstance(inputs, list):
            raise bad_request("'inputs' of a view must be a list.")
        checked_views.append(
            {
                "title": view.get("title"),
                "description": view.get("description"),
                "inputs": [_input(item, data_types, ids) for item in inputs],
            }
        )
    return {
        "@odata.type": ATTRIBUTE_COLLECTION_TYPE,
        "attributes": [{"id": attribute} for attribute in ids],
        "attributeCollectionPage": {"views": checked_views},
    }


def _handler(body: dict[str, Any], name: str) -> dict[str, Any]:
    """An event handler of the body: an object (null reads as empty)."""
    value = body[name]
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"'{name}' must be an object.")
    return value


def _checked_flow(store: Store, tenant_id: str, document: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """``document`` changed by ``body``; a changed event handler replaces the old one whole."""
    if body.get("@odata.type", FLOW_TYPE) != FLOW_TYPE:
        raise bad_request(f"'@odata.type' must be '{FLOW_TYPE}' in an external tenant.")
    unknown = {k for k in body if not k.startswith("@odata.")} - _FLOW_PROPERTIES
    if unknown:
        raise bad_request(
            f"Property '{sorted(unknown)[0]}' of 'externalUsersSelfServiceSignUpEventsFlow' is not supported."
        )
    if "id" in body and body["id"] != document.get("id"):
        raise bad_request("Property 'id' is read-only.")
    changed = dict(document)
    if "displayName" in body:
        if not isinstance(body["displayName"], str) or not body["displayName"].strip():
            raise bad_request("Property 'displayName' is required.")
        changed["displayName"] = body["displayName"].strip()
    if "description" in body:
        if body["description"] is not None and not isinstance(body["description"], str):
            raise bad_request("Property 'description' must be a string.")
        changed["description"] = body["description"]
    if "priority" in body:
        if not isinstance(body["priority"], int) or isinstance(body["priority"], bool):
            raise bad_request("Property 'priority' must be a number.")
        changed["priority"] = body["priority"]
    if "conditions" in body and body["conditions"] not in (None, {}, {"applications": {"includeApplications": []}}):
        # Apps are linked through .../conditions/applications/includeApplications (the reference's way).
        raise bad_request("Link applications with POST .../conditions/applications/includeApplications.")
    if "onAuthenticationMethodLoadStart" in body:
        handler = _handler(body, "onAuthenticationMethodLoadStart")
        changed["onAuthenticationMethodLoadStart"] = {
            "@odata.type": METHOD_LOAD_TYPE,
            "identityProviders": _identity_providers(handler.get("identityProviders")),
        }
    if "onInteractiveAuthFlowStart" in body:
        allowed = _handler(body, "onInteractiveAuthFlowStart").get("isSignUpAllowed", True)
        if not isinstance(allowed, bool):
            raise bad_request("'isSignUpAllowed' must be true or false.")
        changed["onInteractiveAuthFlowStart"] = {"@odata.type": FLOW_START_TYPE, "isSignUpAllowed": allowed}
    if "onAttributeCollection" in body:
        changed["onAttributeCollection"] = _attribute_collection(
            body["onAttributeCollection"], _data_types(store, tenant_id)
        )
    if "onUserCreateStart" in body:
        user_type = _handler(body, "onUserCreateStart").get("userTypeToCreate", "member")
        if user_type != "member":
            raise bad_request("External tenants create customers as 'member' users.")
        changed["onUserCreateStart"] = {"@odata.type": USER_CREATE_TYPE, "userTypeToCreate": user_type}
    if not changed.get("displayName"):
        raise bad_request("Property 'displayName' is required.")
    if "onAuthenticationMethodLoadStart" not in changed:
        raise bad_request("'onAuthenticationMethodLoadStart.identityProviders' needs at least one identity provider.")
    return changed


def create_flow(store: Store, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "description": None,
        "priority": DEFAULT_PRIORITY,
        "onInteractiveAuthFlowStart": {"@odata.type": FLOW_START_TYPE, "isSignUpAllowed": True},
        "onAttributeCollection": {
            "@odata.type": ATTRIBUTE_COLLECTION_TYPE,
            "attributes": [],
            "attributeCollectionPage": {"views": [{"title": None, "description": None, "inputs": []}]},
        },
        "onUserCreateStart": {"@odata.type": USER_CREATE_TYPE, "userTypeToCreate": "member"},
    }
    document = _checked_flow(store, tenant_id, document, body)
    if not store.create_user_flow(tenant_id, document):
        # UNSURE: Graph's status and code for a duplicate flow name (notes §13).
        raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue", "A user flow with this displayName exists.")
    return flow_resource(store, tenant_id, document)


def find_flow(store: Store, tenant_id: str, flow_id: str) -> dict[str, Any]:
    document = store.get_user_flow(tenant_id, flow_id)
    if document is None:
        raise not_found(flow_id)
    return document


def update_flow(store: Store, tenant_id: str, flow_id: str, body: dict[str, Any]) -> None:
    changed = _checked_flow(store, tenant_id, find_flow(store, tenant_id, flow_id), body)
    if not store.replace_user_flow(tenant_id, changed):
        raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue", "A user flow with this displayName exists.")


def flow_resource(store: Store, tenant_id: str, document: dict[str, Any]) -> dict[str, Any]:
    """The flow in Graph's shape. UNSURE: Graph returns identityProviders, attributes and
    includeApplications as navigation properties (read with $expand or their own URLs); the emulator
    shows them inline as well, and also serves the includeApplications URL."""
    apps = [
        {"@odata.type": APPLICATION_CONDITION_TYPE, "appId": app_id}
        for app_id in store.flow_app_ids(tenant_id, document["id"])
    ]
    return {
        "@odata.type": FLOW_TYPE,
        **document,
        "conditions": {"applications": {"includeApplications": apps}},
    }


def add_application(store: Store, tenant_id: str, flow_id: str, body: dict[str, Any]) -> dict[str, Any]:
    find_flow(store, tenant_id, flow_id)
    app_id = body.get("appId")
    if not isinstance(app_id, str) or store.find_app(tenant_id, app_id) is None:
        raise bad_request(f"'{app_id}' is not the appId of an application in this tenant.")
    already = store.link_app_to_flow(tenant_id, app_id.lower(), flow_id)
    if already is not None:
        # An app belongs to at most one user flow (notes §13). UNSURE: Graph's status and code.
        raise GraphError(
            409,
            "Request_MultipleObjectsWithSameKeyValue",
            f"The application '{app_id}' is already linked to a user flow.",
        )
    return {"@odata.type": APPLICATION_CONDITION_TYPE, "appId": app_id.lower()}


def add_attribute_reference(store: Store, tenant_id: str, flow_id: str, body: dict[str, Any]) -> None:
    """POST .../onAttributeCollection/.../attributes/$ref with {"@odata.id": ".../userFlowAttributes/{id}"}."""
    document = find_flow(store, tenant_id, flow_id)
    reference = body.get("@odata.id")
    if not isinstance(reference, str) or "/identity/userFlowAttributes/" not in reference:
        raise bad_request("'@odata.id' must be the URL of a user flow attribute.")
    attribute = reference.rsplit("/", 1)[1]
    if attribute.lower() not in _data_types(store, tenant_id):
        raise bad_request(f"'{attribute}' is not a user flow attribute of this tenant.")
    collection = document["onAttributeCollection"]
    if attribute.lower() not in {a["id"].lower() for a in collection["attributes"]}:
        collection["attributes"].append({"id": attribute})
        store.replace_user_flow(tenant_id, document)


# --- what the hosted pages read ------------------------------------------------------------------------

# An app linked to no user flow. UNSURE: what Entra shows then is not documented; the emulator keeps
# its earlier pages (email with password, sign-up asking for a display name).
DEFAULT_FLOW: dict[str, Any] = {
    "id": "",
    "displayName": "(no user flow linked)",
    "onAuthenticationMethodLoadStart": {"identityProviders": [{"id": EMAIL_PASSWORD}]},
    "onInteractiveAuthFlowStart": {"isSignUpAllowed": True},
    "onAttributeCollection": {
        "attributes": [{"id": "email"}, {"id": "displayName"}],
        "attributeCollectionPage": {
            "views": [
                {
                    "inputs": [
                        {
                            "attribute": "displayName",
                            "label": "Display name",
                            "inputType": "text",
                            "required": True,
                            "editable": True,
                            "hidden": False,
                            "writeToDirectory": True,
                        }
                    ]
                }
            ]
        },
    },
}


@dataclass(frozen=True)
class SignUpField:
    """One input of the hosted sign-up form."""

    attribute: str
    label: str
    input_type: str
    data_type: str
    required: bool
    validation_regex: str | None

    @property
    def form_name(self) -> str:
        """Built-in ones by their snake_case name (display_name, given_name...), custom ones by their id."""
        if self.is_custom:
            return self.attribute
        return re.sub(r"(?<!^)([A-Z])", r"_\1", self.attribute).lower()

    @property
    def is_custom(self) -> bool:
        return self.attribute.startswith("extension_")


@dataclass(frozen=True)
class FlowSettings:
    sign_in_method: str  # "email_password" | "email_otp"
    sign_up_allowed: bool
    fields: tuple[SignUpField, ...]


def flow_for_app(store: Store, tenant_id: str, app_id: str) -> FlowSettings:
    document = store.flow_for_app(tenant_id, app_id) or DEFAULT_FLOW
    providers = [p["id"] for p in document["onAuthenticationMethodLoadStart"].get("identityProviders", [])]
    method = SUPPORTED_IDENTITY_PROVIDERS[providers[0]] if providers else "email_password"
    data_types = _data_types(store, tenant_id)
    fields = []
    for view in document["onAttributeCollection"]["attributeCollectionPage"]["views"]:
        for item in view.get("inputs", []):
            # The email is the verified sign-in address; hidden inputs are not shown (the reference's flags).
            if item["attribute"].lower() == "email" or item.get("hidden"):
                continue
            fields.append(
                SignUpField(
                    attribute=item["attribute"],
                    label=item["label"],
                    input_type=item.get("inputType", "text"),
                    data_type=data_types.get(item["attribute"].lower(), "string"),
                    required=bool(item.get("required")),
                    validation_regex=item.get("validationRegEx"),
                )
            )
    allowed = bool((document.get("onInteractiveAuthFlowStart") or {}).get("isSignUpAllowed", True))
    return FlowSettings(sign_in_method=method, sign_up_allowed=allowed, fields=tuple(fields))


# UNSURE: int64 bounds are Graph's Edm.Int64; the hosted page's own messages are the emulator's words.
_INT64 = (-(2**63), 2**63 - 1)


def check_sign_up_values(
    fields: tuple[SignUpField, ...], form: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Check every field at once: (values by attribute id, messages by form name)."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for field in fields:
        raw = form.get(field.form_name, "")
        if field.data_type == "boolean":
            checked = raw == "true"
            if field.required and not checked:
                problems[field.form_name] = f"Select '{field.label}' to continue."
            values[field.attribute] = checked
            continue
        text = raw.strip()
        if not text:
            if field.required:
                problems[field.form_name] = f"{field.label} is required."
            continue
        if len(text) > MAX_STRING_LENGTH:
            problems[field.form_name] = f"{field.label} can be at most {MAX_STRING_LENGTH} characters."
            continue
        # UNSURE: which characters Entra refuses in a collected value; the emulator refuses control,
        # format (bidi, zero-width), surrogate, private-use and unassigned characters.
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text):
            problems[field.form_name] = f"{field.label} contains characters that are not allowed."
            continue
        if field.data_type == "int64":
            try:
                number = int(text)
            except ValueError:
                problems[field.form_name] = f"{field.label} must be a whole number."
                continue
            if not _INT64[0] <= number <= _INT64[1]:
                problems[field.form_name] = f"{field.label} is too large."
                continue
            values[field.attribute] = number
            continue
        # UNSURE: Entra evaluates validationRegEx with .NET's Regex.IsMatch (a match anywhere);
        # Python's re.search is the nearest.
        if field.validation_regex and not re.search(field.validation_regex, text):
            problems[field.form_name] = f"{field.label} is not in the expected format."
            continue
        values[field.attribute] = text
    return values, problems


def split_values(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Graph user properties for built-in attributes, extension values for custom ones)."""
    built_in: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for attribute, value in values.items():
        if attribute in BUILT_IN_ATTRIBUTES:
            built_in[BUILT_IN_ATTRIBUTES[attribute][1]] = value
        else:
            custom[attribute] = value
    return built_in, custom


# --- email one-time passcode in the authentication methods policy --------------------------------------

EMAIL_METHOD_TYPE = "#microsoft.graph.emailAuthenticationMethodConfiguration"
EMAIL_METHOD_SETTING = "email_authentication_method"
_EXTERNAL_ID_OTP_VALUES = ("default", "enabled", "disabled")
# UNSURE: a new external tenant's starting state of the email method is not documented; the emulator
# starts disabled, so enabling it (as ciam-register does) is a visible step.
_EMAIL_METHOD_DEFAULT: dict[str, Any] = {
    "state": "disabled",
    "allowExternalIdToUseEmailOtp": "default",
    "includeTargets": [],
    "excludeTargets": [],
}


def email_method(store: Store, tenant_id: str) -> dict[str, Any]:
    settings = store.tenant_setting(tenant_id, EMAIL_METHOD_SETTING, _EMAIL_METHOD_DEFAULT)
    return {"@odata.type": EMAIL_METHOD_TYPE, "id": "Email", **settings}


def _targets(value: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise bad_request(f"'{name}' must be a list of targets.")
    targets = []
    for target in value:
        if (
            not isinstance(target, dict)
            or target.get("targetType", "group") != "group"
            or not isinstance(target.get("id"), str)
        ):
            raise bad_request(f"Every target of '{name}' needs a group 'id' (or 'all_users').")
        targets.append(
            {
                "targetType": "group",
                "id": target["id"],
                "isRegistrationRequired": bool(target.get("isRegistrationRequired", False)),
            }
        )
    return targets


def update_email_method(store: Store, tenant_id: str, body: dict[str, Any]) -> None:
    """PATCH .../authenticationMethodConfigurations/email (emailAuthenticationMethodConfiguration update)."""
    if body.get("@odata.type", EMAIL_METHOD_TYPE) != EMAIL_METHOD_TYPE:
        raise bad_request(f"'@odata.type' must be '{EMAIL_METHOD_TYPE}'.")
    unknown = {k for k in body if not k.startswith("@odata.")} - {
        "id",
        "state",
        "allowExternalIdToUseEmailOtp",
        "includeTargets",
        "excludeTargets",
    }
    if unknown:
        raise bad_request(
            f"Property '{sorted(unknown)[0]}' of 'emailAuthenticationMethodConfiguration' is not supported."
        )
    settings = dict(store.tenant_setting(tenant_id, EMAIL_METHOD_SETTING, _EMAIL_METHOD_DEFAULT))
    if "state" in body:
        if body["state"] not in ("enabled", "disabled"):
            raise bad_request("Property 'state' must be 'enabled' or 'disabled'.")
        settings["state"] = body["state"]
    if "allowExternalIdToUseEmailOtp" in body:
        if body["allowExternalIdToUseEmailOtp"] not in _EXTERNAL_ID_OTP_VALUES:
            raise bad_request("Property 'allowExternalIdToUseEmailOtp' must be default, enabled or disabled.")
        settings["allowExternalIdToUseEmailOtp"] = body["allowExternalIdToUseEmailOtp"]
    for name in ("includeTargets", "excludeTargets"):
        if name in body:
            settings[name] = _targets(body[name], name)
    store.set_tenant_setting(tenant_id, EMAIL_METHOD_SETTING, settings)


def email_otp_for_all_users(store: Store, tenant_id: str) -> bool:
    """Email OTP enabled for all users: what SSPR and email OTP as MFA need (notes §13)."""
    settings = email_method(store, tenant_id)
    return settings["state"] == "enabled" and any(t["id"] == "all_users" for t in settings["includeTargets"])


# --- "Stay signed in?" -------------------------------------------------------------------------------------

KEEP_SIGNED_IN_SETTING = "show_keep_signed_in"


def shows_keep_signed_in(store: Store, tenant_id: str) -> bool:
    """UNSURE whether external tenants show "Stay signed in?" by default (notes §13); off unless a
    test control turns it on. Graph's branding has no property for it."""
    return bool(store.tenant_setting(tenant_id, KEEP_SIGNED_IN_SETTING, False))
