"""transport adapters."""
