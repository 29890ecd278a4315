"""The secure channel: Noise handshakes and encrypted records between peers."""
