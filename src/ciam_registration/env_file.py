"""Reading and updating a .env file: our keys are set, every other line is kept as it was."""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import dotenv_values, set_key

from ciam_registration.errors import EnvFileError


def read_env_values(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        return {key: value for key, value in dotenv_values(path).items() if value is not None}
    except OSError as problem:
        raise EnvFileError(f"Could not read {path}: {problem.strerror}") from problem


def update_env_file(path: Path, values: dict[str, str]) -> None:
    """Set ``values`` in the file and keep every other line (python-dotenv rewrites it atomically
    through a temporary file); the file is left readable by its owner only, as it holds a secret."""
    try:
        for key, value in values.items():
            set_key(path, key, value, quote_mode="auto")
        os.chmod(path, 0o600)
    except OSError as problem:
        raise EnvFileError(f"Could not write {path}: {problem.strerror}") from problem
