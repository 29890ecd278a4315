"""What the registry's use cases need from the world, one protocol per module: where names are
bound (``NameStore``), who is online (``PresenceStore``), changes from other registries
(``PresenceBus``), reaching a client on another registry (``RelayRouter``), the client a session
talks to (``ClientPort``) and time (``Ticker``)."""
