"""The emulator's shared services, built once per Flask app."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ciam_emulator.controls import RuntimeControls
from ciam_emulator.directory import Directory
from ciam_emulator.graph_tokens import GraphTokenKey
from ciam_emulator.keys import KeyRing
from ciam_emulator.settings import EmulatorSettings
from ciam_emulator.store import Store


@dataclass
class Emulator:
    settings: EmulatorSettings
    store: Store
    keys: KeyRing
    controls: RuntimeControls
    directory: Directory
    # Seals Graph access tokens, which clients must not be able to read (graph_tokens.py).
    graph_token_key: GraphTokenKey

    @classmethod
    def open(cls, settings: EmulatorSettings) -> Emulator:
        settings.instance_dir.mkdir(parents=True, exist_ok=True)
        store = Store(settings.instance_dir / "emulator.sqlite3")
        return cls(
            settings=settings,
            store=store,
            keys=KeyRing(settings.instance_dir / "keys"),
            controls=RuntimeControls(),
            directory=Directory(store),
            graph_token_key=GraphTokenKey.load_or_create(settings.instance_dir / "keys"),
        )

    @property
    def base_url(self) -> str:
        return self.settings.base_url.rstrip("/")

    @staticmethod
    def now() -> float:
        return time.time()
