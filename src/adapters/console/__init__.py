"""The terminal client: JSON-lines and friendly text front ends over the same use cases."""
