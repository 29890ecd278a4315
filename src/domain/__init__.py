"""The domain: pure pydantic models and the rules of chat. No I/O lives here."""
