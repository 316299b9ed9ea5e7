"""Custom user attributes in the ID token, as the profile and the claims page show them."""

from ciam_webapp.claims import custom_attribute_label, custom_attributes, describe_claims

MEMBER = "extension_0123456789abcdef0123456789abcdef_MembershipNumber"


def test_extension_claims_are_labelled_from_their_name():
    assert custom_attribute_label(MEMBER) == "Membership number"
    assert custom_attribute_label("extension_0123456789abcdef0123456789abcdef_VIPLevel") == "Vip level"
    for other in ("name", "extension_short_Name", "extension_0123456789abcdef0123456789abcdef_"):
        assert custom_attribute_label(other) is None


def test_only_custom_attributes_are_listed_for_the_profile():
    claims = {"name": "Ada", MEMBER: "AB123456", "oid": "x"}
    assert custom_attributes(claims) == [(MEMBER, "Membership number", "AB123456")]
    meanings = {name: meaning for name, _, meaning in describe_claims(claims)}
    assert meanings[MEMBER] == "A custom attribute you gave at sign-up: membership number."
