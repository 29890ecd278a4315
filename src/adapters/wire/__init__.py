"""The wire: framing shared by the registry and peer protocols (see docs/protocol.md)."""
