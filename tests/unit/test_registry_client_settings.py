"""``--registry`` / ``CHINWAG_REGISTRY`` as a list of registries: the spellings taken (every
one taken before lists among them), the errors, and what the container and the desktop app
are given."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import pickle

import pytest

from chinwag.adapters.registry.endpoints import parse_endpoint
from chinwag.entrypoints.common import StartupError
from chinwag.entrypoints.registry_config import configured_registries
from chinwag.entrypoints.settings import (
    ClientSettings,
    Registries,
    add_client_arguments,
    container_config,
    registry_endpoint,
    resolve,
)


def settings_for(*argv: str, **environ: str) -> ClientSettings:
    parser = argparse.ArgumentParser()
    add_client_arguments(parser)
    return resolve(parser.parse_args(argv), environ)


def test_a_list_of_registries_of_every_kind() -> None:
    settings = settings_for(
        "--registry", "a.example:7000, tcp://b.example, ws://c.example:8080, wss://D.example/x"
    )
    assert [str(endpoint) for endpoint in settings.registries] == [
        "a.example:7000",
        "b.example:7420",
        "ws://c.example:8080/chinwag",
        "wss://d.example/x",
    ]
    assert tuple(settings.registry) == ("a.example", 7000)  # the first, as a pair
    assert settings.listen == ("0.0.0.0", 0)


def test_the_environment_takes_a_list_too_and_the_default_is_one_local_registry() -> None:
    settings = settings_for(CHINWAG_REGISTRY="ws://127.0.0.1:9/chinwag,[::1]:9")
    assert [str(endpoint) for endpoint in settings.registries] == [
        "ws://127.0.0.1:9/chinwag",
        "[::1]:9",
    ]
    assert settings.listen == ("127.0.0.1", 0)  # every registry is on this machine
    assert settings_for().registries == (parse_endpoint("127.0.0.1:7420"),)
    mixed = settings_for("--registry", "127.0.0.1,example.org")
    assert mixed.listen == ("0.0.0.0", 0)  # one is elsewhere: peers must reach us


@pytest.mark.parametrize(
    ("typed", "pinned"),
    [
        ("127.0.0.1:7420", "127.0.0.1:7420"),
        ("LocalHost", "localhost:7420"),
        ("[0:0::1]:9", "[::1]:9"),
        ("[127.0.0.1]:7420", "127.0.0.1:7420"),
        ("[h.example]:7420", "h.example:7420"),
        ("h.example:+80", "h.example:80"),
        ("::1:7420", "[::1]:7420"),
    ],
)
def test_every_spelling_taken_before_lists_still_is(typed: str, pinned: str) -> None:
    """Under the same pin name as before, so the keys pinned then still match."""
    assert [str(endpoint) for endpoint in registry_endpoint(typed).endpoints] == [pinned]
    assert [str(endpoint) for endpoint in registry_endpoint(f"{typed},b.example").endpoints] == [
        pinned,
        "b.example:7420",
    ]


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("http://x", "unknown scheme 'http'"),
        ("a.example,,b.example", "item 2 of 'a.example,,b.example' is empty"),
        ("a.example,", "is empty"),
        ("a.example,A.example:7420", "are the same registry"),
        ("h.example:0", "port '0' is not a number from 1 to 65535"),
        ("a.example/chinwag", "start it with ws:// or wss://"),
        ("127.1", "neither an IP address nor a hostname"),
        ("ws://user@h/chinwag", "no user name"),
        (",".join(f"h{n}.example" for n in range(17)), "at most 16"),
    ],
)
def test_a_bad_registry_says_what_is_wrong_and_where_it_came_from(typed: str, says: str) -> None:
    with pytest.raises(StartupError) as caught:
        settings_for("--registry", typed)
    assert caught.value.code == "bad_flag"
    assert str(caught.value).startswith("--registry: ")
    assert says in str(caught.value)
    with pytest.raises(StartupError, match=r"^CHINWAG_REGISTRY: "):
        settings_for(CHINWAG_REGISTRY=typed)


def test_registries_equal_the_pair_of_their_one_tcp_registry_only() -> None:
    one = registry_endpoint("h.example:9")
    assert one == ("h.example", 9) and one == ("h.example", 9)
    assert hash(one) == hash(("h.example", 9))
    assert one != ("h.example", 10)
    listed = registry_endpoint("h.example:9,b.example")
    assert listed != ("h.example", 9) and listed != one
    assert registry_endpoint("ws://h.example:9") != ("h.example", 9)
    assert listed == registry_endpoint("h.example:9, b.example")
    assert str(listed) == "h.example:9,b.example:7420"
    assert registry_endpoint(str(listed)) == listed  # what the desktop app shows, typed again
    host, port = listed
    assert (host, port) == ("h.example", 9)
    assert pickle.loads(pickle.dumps(listed)) == listed
    assert copy.deepcopy(listed).endpoints == listed.endpoints
    with pytest.raises(ValueError, match="no registry"):
        Registries([])


def test_settings_made_from_a_pair_still_name_their_registry() -> None:
    """Tests and embedders make settings with ``registry=(host, port)``; the desktop app
    replaces it by what was typed at sign-in."""
    settings = settings_for("--registry", "a.example,ws://b.example")
    pair = dataclasses.replace(settings, registry=("127.0.0.1", 7420))
    assert pair.registries == (parse_endpoint("127.0.0.1:7420"),)
    typed = dataclasses.replace(settings, registry=registry_endpoint("c.example,d.example"))
    assert [str(endpoint) for endpoint in typed.registries] == ["c.example:7420", "d.example:7420"]


def test_the_container_is_given_the_endpoints_or_a_host_and_port_as_before() -> None:
    settings = settings_for("--registry", "a.example,ws://b.example")
    adapters = container_config(settings, "alice")["adapters"]
    assert isinstance(adapters, dict)
    assert configured_registries(adapters) == settings.registries
    older = {"registry_host": "127.0.0.1", "registry_port": 9}
    assert configured_registries(older) == (parse_endpoint("127.0.0.1:9"),)
    with pytest.raises(ValueError, match="names no registry"):
        configured_registries({})


def test_the_container_makes_a_registry_client_for_every_registry_listed() -> None:
    from dependency_injector import providers

    from chinwag.adapters.secure.keys import LocalKeys
    from chinwag.entrypoints.container import Container

    settings = settings_for("--registry", "a.example,ws://b.example", "--data-dir", "/nonexistent")
    container = Container()
    container.config.from_dict(container_config(settings, "alice"))
    container.adapters.keys.override(providers.Object(LocalKeys.generate()))
    assert container.adapters.directory().endpoints == settings.registries
