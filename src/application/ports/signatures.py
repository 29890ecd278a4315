from typing import Protocol


class Signatures(Protocol):
    """Signing with this user's identity key, and checking others' signatures.

    Every signed message starts with its context, ``chinwag-NAME:`` (a name of lowercase
    letters and hyphens, then a colon), which names what is signed: a group change, a group
    message, the Noise key. No context is a prefix of another, so a signature made for one use
    never passes for another. Contexts are part of the wire protocol (docs/protocol.md).
    """

    def sign(self, message: bytes) -> bytes:
        """This user's signature of ``message`` (which starts with its context)."""
        ...

    def verify(self, key: bytes, message: bytes, signature: bytes) -> bool:
        """Whether the identity key ``key`` signed ``message``; ``False`` for anything
        malformed (sizes, a key nobody can hold), never an exception."""
        ...
