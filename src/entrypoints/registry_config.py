"""``--registry`` (and ``CHINWAG_REGISTRY``): one registry or a list of registries of one network,
as the settings hold them (:class:`Registries`) and as the container is told them.

The text is parsed by :mod:`chinwag.adapters.registry.endpoints`; the plain ``HOST:PORT``
spellings an older chinwag took and that parser refuses (``[127.0.0.1]:7420``, ``::1:7420``)
are still taken, under the pin name they always had. The container is given
``registry_endpoints``, or else ``registry_host`` and ``registry_port`` as configurations made
before there were lists (benchmarks, embedders, settings made from a pair) still say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from chinwag.adapters.registry.connector import endpoints_of
from chinwag.adapters.registry.endpoints import (
    REGISTRY_PORT,
    RegistryEndpoint,
    Scheme,
    parse_endpoint,
    parse_endpoints,
)
from chinwag.domain.user import validate_host
from chinwag.entrypoints.common import parse_address


class Registries(tuple[str, int]):
    """The registries to sign in with, as ``--registry`` listed them (:attr:`endpoints`).

    As a pair it is the first one's host and port, what the settings held when there was one
    registry, so code that makes settings from ``(host, port)`` keeps working; and it equals
    such a pair when it is that one registry over TCP."""

    endpoints: tuple[RegistryEndpoint, ...]

    def __new__(cls, endpoints: Sequence[RegistryEndpoint]) -> Registries:
        listed = tuple(endpoints)
        if not listed:
            raise ValueError("no registry given")
        self = super().__new__(cls, (listed[0].host, listed[0].port))
        self.endpoints = listed
        return self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Registries):
            return self.endpoints == other.endpoints
        if isinstance(other, tuple):
            return registries_of(self) == _plain(other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:  # equal ones have the same first registry
        return tuple.__hash__(self)

    def __reduce__(self) -> tuple[type[Registries], tuple[tuple[RegistryEndpoint, ...]]]:
        return Registries, (self.endpoints,)

    def __repr__(self) -> str:
        return f"Registries({str(self)!r})"

    def __str__(self) -> str:
        """The list as it may be typed again (``--registry``, the desktop app's sign-in)."""
        return ",".join(endpoint.pin_name for endpoint in self.endpoints)


def _plain(pair: tuple[object, ...]) -> tuple[RegistryEndpoint, ...] | None:
    """A ``(host, port)`` pair as the one TCP registry it names; None if it names none."""
    try:
        host, port = pair
        if isinstance(host, str) and isinstance(port, int):
            return (RegistryEndpoint(Scheme.TCP, validate_host(host), port),)
    except ValueError:
        pass
    return None


def registries_of(registry: tuple[str, int]) -> tuple[RegistryEndpoint, ...]:
    """The registries ``ClientSettings.registry`` names: its list, or the one TCP registry of a
    plain ``(host, port)``; ValueError if that pair names none (port 0)."""
    if isinstance(registry, Registries):
        return registry.endpoints
    host, port = registry
    return (RegistryEndpoint(Scheme.TCP, validate_host(host), port),)


def registry_endpoint(text: str) -> Registries:
    """``--registry`` as typed: one registry or a comma-separated list (see
    :mod:`chinwag.adapters.registry.endpoints`), each in its one spelling: its key is pinned
    under it, so ``127.1`` is refused rather than pinned apart from ``127.0.0.1``. ``ValueError``
    (``InvalidAddress`` among them) says what is wrong."""
    return Registries(parse_endpoints(",".join(_as_before(item) for item in text.split(","))))


def _as_before(item: str) -> str:
    """``item``, or the one spelling of a plain ``HOST:PORT`` that chinwag took before lists
    and the endpoint parser refuses (``[127.0.0.1]:7420``, ``::1:7420``, ``host:+80``), so
    those still work. Anything else is left for the endpoint parser to say what is wrong."""
    try:
        parse_endpoint(item)
    except ValueError:
        pass
    else:
        return item
    if not item.strip() or "/" in item:
        return item
    try:
        host, port = parse_address(item, default_port=REGISTRY_PORT)
        return RegistryEndpoint(Scheme.TCP, validate_host(host), port).pin_name
    except ValueError:
        return item


def registry_config(registry: tuple[str, int]) -> dict[str, object]:
    """The registries for the container: the endpoints listed, or a plain ``(host, port)`` as
    it always went (checked only if a registry client is made: tests that replace it by the
    in-memory directory give port 0)."""
    if isinstance(registry, Registries):
        return {"registry_endpoints": registry.endpoints}
    return {"registry_host": registry[0], "registry_port": registry[1]}


def configured_registries(config: Mapping[str, object] | None) -> tuple[RegistryEndpoint, ...]:
    """The registries the adapters' configuration names; ValueError if it names none."""
    config = config or {}
    endpoints = config.get("registry_endpoints")
    if endpoints:
        if not isinstance(endpoints, tuple | list) or not all(
            isinstance(endpoint, RegistryEndpoint) for endpoint in endpoints
        ):
            raise ValueError("registry_endpoints must be RegistryEndpoint values")
        return endpoints_of(endpoints)
    host, port = config.get("registry_host"), config.get("registry_port")
    if not isinstance(host, str) or not isinstance(port, int | str):
        raise ValueError("the configuration names no registry (registry_endpoints)")
    return endpoints_of(host, int(port))
