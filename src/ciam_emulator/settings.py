"""Runtime settings of one emulator instance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class EmulatorSettings:
    """Where the emulator keeps its state and the public URL it is reached at.

    ``base_url`` is read on every request (not copied at start-up), so a test that binds
    port 0 can fill in the real port after the server socket exists.
    """

    instance_dir: Path
    base_url: str
    test_controls: bool = False

    def __post_init__(self) -> None:
        self.instance_dir = Path(self.instance_dir)
        self.base_url = self.base_url.rstrip("/")
