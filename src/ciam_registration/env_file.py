"""Reading and updating a .env file: our keys are set, every other line is kept as it was."""

from __future__ import annotations

import os
import re
from pathlib import Path

from dotenv import dotenv_values

from ciam_registration.errors import EnvFileError

_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.~:/@+\-]*")


def read_env_values(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        return {key: value for key, value in dotenv_values(path).items() if value is not None}
    except OSError as problem:
        raise EnvFileError(f"Could not read {path}: {problem.strerror}") from problem


def _quoted(value: str) -> str:
    if _PLAIN_VALUE.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def update_env_file(path: Path, values: dict[str, str]) -> None:
    """Set ``values`` in the file (first occurrence replaced, later duplicates dropped), keep the rest.

    The file is written to a temporary neighbour with mode 0600 and renamed over the original,
    so a crash never leaves half a file and the client secret is never world-readable.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        written: set[str] = set()
        output: list[str] = []
        for line in lines:
            match = _ENV_LINE.match(line)
            key = match.group(1) if match else None
            if key in values:
                if key not in written:
                    output.append(f"{key}={_quoted(values[key])}")
                    written.add(key)
                continue
            output.append(line)
        output.extend(f"{key}={_quoted(value)}" for key, value in values.items() if key not in written)
        temporary = path.with_name(path.name + ".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write("\n".join(output) + "\n")
        os.chmod(temporary, 0o600)  # in case the temporary file existed with other permissions
        temporary.replace(path)
    except OSError as problem:
        raise EnvFileError(f"Could not write {path}: {problem.strerror}") from problem
