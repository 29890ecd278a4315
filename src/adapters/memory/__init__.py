"""In-memory twins of every port: real adapters for fast tests and for embedding chinwag."""
