"""registry adapters."""
