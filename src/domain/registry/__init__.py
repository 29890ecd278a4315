"""The registry's rules that need no I/O: why a request is refused, who may bind a name, what
presence a client is told (and when it is told everyone), the relay's caps, and whom a
per-address limit counts a peer as. The registry's use cases
(:mod:`chinwag.application.registry`) apply them; nothing here knows a socket or a clock."""
