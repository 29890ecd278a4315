"""The application: ports (what chinwag needs from the world) and use cases (what it does)."""
