"""A local emulator of a Microsoft Entra External ID (CIAM) tenant and a slice of Microsoft Graph."""

from ciam_emulator.app import create_app
from ciam_emulator.settings import EmulatorSettings

__all__ = ["EmulatorSettings", "create_app"]
