"""Reading an app's settings from the environment and an optional `.env` file, one variable at a time.

Every problem becomes a `ConfigError` whose message names the variable and how to fix it, so a
newcomer who copied the sample's `Enter_the_...` placeholders is told which one is left. The web
app's and the API's `config.py` say which variables they need; the reading is done here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from .client_certificate import CertificateError, ClientCertificate, load_client_certificate

PLACEHOLDER_PREFIX = "Enter_the_"


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the variable and the fix."""


def environment_values(
    environ: Mapping[str, str] | None = None, dotenv_path: str | os.PathLike[str] | None = ".env"
) -> dict[str, str]:
    """The variables to read: the `.env` file's, overridden by the process environment (or `environ`)."""
    values: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


class EnvironmentReader:
    """Reads one variable at a time and turns every problem into a ConfigError naming it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = values

    def optional(self, name: str) -> str | None:
        value = (self._values.get(name) or "").strip()
        if not value:
            return None
        if value.startswith(PLACEHOLDER_PREFIX):
            raise ConfigError(
                f"{name} still holds the sample's placeholder {value!r}: replace it with your value "
                f"(in .env or the environment)"
            )
        return value

    def required(self, name: str, what: str) -> str:
        value = self.optional(name)
        if value is None:
            raise ConfigError(f"{name} is not set: set it to {what} (in .env or the environment)")
        return value

    def url(self, name: str, example: str) -> str:
        return self._checked_url(name, self.required(name, f"an absolute URL, {example}"))

    def optional_url(self, name: str) -> str | None:
        value = self.optional(name)
        return None if value is None else self._checked_url(name, value)

    @staticmethod
    def _checked_url(name: str, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name} must be an absolute http(s) URL, got {value!r}")
        return value

    def existing_file(self, name: str) -> str | None:
        value = self.optional(name)
        if value is not None and not Path(value).is_file():
            raise ConfigError(f"{name} points to {value!r}, which is not a file: fix the path or unset it")
        return value

    def number(self, name: str, default: float, *, minimum: float) -> float:
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {value!r}") from None
        if number < minimum:
            raise ConfigError(f"{name} must be at least {minimum:g}, got {value!r}")
        return number

    def optional_integer(self, name: str, *, minimum: int) -> int | None:
        value = self.optional(name)
        if value is None:
            return None
        if not value.isdigit() or int(value) < minimum:
            raise ConfigError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
        return int(value)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = (self.optional(name) or default).lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def client_credential(
        self, prefix: str, *, holder: str, registration: str
    ) -> tuple[str | None, str | None, ClientCertificate | None]:
        """{prefix}CLIENT_SECRET, or {prefix}CLIENT_CERTIFICATE_PATH (+ {prefix}CLIENT_CERTIFICATE_PASSWORD):
        exactly one of them, as (secret, certificate path, certificate). `holder` ("the app") and
        `registration` ("the web app registration") word the messages."""
        secret_name, path_name = f"{prefix}CLIENT_SECRET", f"{prefix}CLIENT_CERTIFICATE_PATH"
        password_name = f"{prefix}CLIENT_CERTIFICATE_PASSWORD"  # noqa: S105 - a variable's name
        secret = self.optional(secret_name)
        path = self.optional(path_name)
        password = self.optional(password_name)
        if secret and path:
            raise ConfigError(
                f"{secret_name} and {path_name} are both set: {holder} authenticates with one credential, "
                f"so unset one of them"
            )
        if not secret and not path:
            raise ConfigError(
                f"{secret_name} is not set: set it to a client secret of {registration}, or set {path_name} "
                f"to a PEM file with the private key and certificate of a certificate uploaded to that "
                f"registration (in .env or the environment)"
            )
        if password and not path:
            raise ConfigError(f"{password_name} is set but {path_name} is not: set both or neither")
        if path is None:
            return secret, None, None
        try:
            certificate = load_client_certificate(path, password, name=path_name, password_name=password_name)
        except CertificateError as exc:
            raise ConfigError(str(exc)) from None
        return None, path, certificate
