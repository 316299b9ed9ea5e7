"""ciam-register's email one-time passcode step, by sign-in method (a recording fake of Graph)."""

from typing import Any

from ciam_registration import app_definitions as defs
from ciam_registration.registrar import Registrar, RegistrationSettings


class RecordingGraph:
    def __init__(self, email_method: dict[str, Any]) -> None:
        self.email_method = email_method
        self.patches: list[tuple[str, dict[str, Any]]] = []

    def get(self, path: str, *, permission: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        assert path == defs.EMAIL_METHOD_PATH
        return self.email_method

    def patch(self, path: str, body: dict[str, Any], *, permission: str) -> None:
        self.patches.append((path, body))


def _registrar(graph: RecordingGraph, method: str, lines: list[str]) -> Registrar:
    settings = RegistrationSettings(
        "contoso", "http://localhost/auth/redirect", "http://localhost/", sign_in_method=method
    )
    return Registrar(graph, settings, report=lines.append)  # type: ignore[arg-type]


def test_with_password_sign_in_email_otp_is_enabled_for_all_users():
    graph, lines = RecordingGraph({"state": "disabled", "includeTargets": []}), []
    _registrar(graph, "email_password", lines).ensure_email_one_time_passcode()
    ((path, body),) = graph.patches
    assert body["state"] == "enabled" and [t["id"] for t in body["includeTargets"]] == ["all_users"]


def test_with_one_time_code_sign_in_email_is_never_made_the_mfa_method():
    """Email OTP cannot be both the first factor and the MFA method: nothing is changed, and the run says SMS."""
    graph, lines = RecordingGraph({"state": "disabled", "includeTargets": []}), []
    _registrar(graph, "email_otp", lines).ensure_email_one_time_passcode()
    assert graph.patches == []
    assert any("MFA uses SMS" in line for line in lines)
