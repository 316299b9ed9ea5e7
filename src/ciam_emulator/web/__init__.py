"""Flask views of the emulator (thin: the protocol logic lives in the parent package)."""
