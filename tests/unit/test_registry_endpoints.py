"""Registry endpoints: ``--registry`` spellings, their one canonical spelling (what keys are
pinned under), and the failover order a client tries them in."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chinwag.adapters.registry.endpoints import (
    MAX_ENDPOINTS,
    FailoverOrder,
    RegistryEndpoint,
    Scheme,
    parse_endpoint,
    parse_endpoints,
)
from chinwag.adapters.registry.pins import registry_address
from chinwag.domain.user import InvalidAddress
from chinwag.entrypoints.settings import registry_endpoint

TCP, WS, WSS = Scheme.TCP, Scheme.WS, Scheme.WSS


# -- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "pin_name"),
    [
        ("127.0.0.1:7420", RegistryEndpoint(TCP, "127.0.0.1", 7420), "127.0.0.1:7420"),
        ("localhost", RegistryEndpoint(TCP, "localhost", 7420), "localhost:7420"),
        (" Example.ORG.:9000 ", RegistryEndpoint(TCP, "example.org", 9000), "example.org:9000"),
        ("[::1]:7421", RegistryEndpoint(TCP, "::1", 7421), "[::1]:7421"),
        ("[::1]", RegistryEndpoint(TCP, "::1", 7420), "[::1]:7420"),
        ("[0:0::1]", RegistryEndpoint(TCP, "::1", 7420), "[::1]:7420"),
        ("tcp://h.example", RegistryEndpoint(TCP, "h.example", 7420), "h.example:7420"),
        ("TCP://[2001:db8::1]:1", RegistryEndpoint(TCP, "2001:db8::1", 1), "[2001:db8::1]:1"),
        (
            "ws://h.example",
            RegistryEndpoint(WS, "h.example", 80, "/chinwag"),
            "ws://h.example/chinwag",
        ),
        (
            "ws://h.example:80/chinwag",
            RegistryEndpoint(WS, "h.example", 80, "/chinwag"),
            "ws://h.example/chinwag",
        ),
        (
            "ws://h.example:7480/x/y",
            RegistryEndpoint(WS, "h.example", 7480, "/x/y"),
            "ws://h.example:7480/x/y",
        ),
        ("ws://h.example/", RegistryEndpoint(WS, "h.example", 80, "/"), "ws://h.example/"),
        (
            "WSS://Chat.Example.org",
            RegistryEndpoint(WSS, "chat.example.org", 443, "/chinwag"),
            "wss://chat.example.org/chinwag",
        ),
        (
            "wss://chat.example.org:443/chinwag",
            RegistryEndpoint(WSS, "chat.example.org", 443, "/chinwag"),
            "wss://chat.example.org/chinwag",
        ),
        (
            "wss://[2001:DB8::1]:8443/a%2fb",
            RegistryEndpoint(WSS, "2001:db8::1", 8443, "/a%2Fb"),
            "wss://[2001:db8::1]:8443/a%2Fb",
        ),
        (
            "wss://h.example:80/p",
            RegistryEndpoint(WSS, "h.example", 80, "/p"),
            "wss://h.example:80/p",
        ),
    ],
)
def test_one_endpoint_in_every_spelling(
    text: str, expected: RegistryEndpoint, pin_name: str
) -> None:
    endpoint = parse_endpoint(text)
    assert endpoint == expected
    assert endpoint.pin_name == pin_name == str(endpoint)
    assert parse_endpoint(pin_name) == endpoint
    assert parse_endpoint(endpoint.url) == endpoint


def test_what_each_scheme_means() -> None:
    tcp, ws, wss = parse_endpoints("h.example,ws://h.example,wss://h.example")
    assert (tcp.websocket, tcp.secure, tcp.url) == (False, False, "tcp://h.example:7420")
    assert (ws.websocket, ws.secure, ws.url) == (True, False, "ws://h.example/chinwag")
    assert (wss.websocket, wss.secure, wss.url) == (True, True, "wss://h.example/chinwag")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "no registry given"),
        ("   ", "no registry given"),
        ("http://h.example", "unknown scheme 'http'"),
        ("https://h.example/chinwag", "unknown scheme 'https'"),
        ("udp://h.example", "unknown scheme 'udp'"),
        ("://h.example", "no scheme"),
        ("tcp://h.example/", "tcp:// takes no path"),
        ("tcp://h.example:7420/chinwag", "tcp:// takes no path"),
        ("h.example/chinwag", "start it with ws:// or wss:// (ws://h.example/chinwag)"),
        ("ws:/h.example", "only a WebSocket address has a path"),
        ("h.example:0", "port '0' is not a number from 1 to 65535"),
        ("h.example:65536", "port '65536' is not a number from 1 to 65535"),
        ("h.example:+80", "port '+80' is not a number"),
        ("h.example:٨٠", "is not a number"),
        ("h.example:8_0", "is not a number"),
        ("h.example:http", "port 'http' is not a number"),
        ("ws://h.example:007420000/", "is not a number"),
        ("h.example:", "a colon but no port"),
        ("[::1]:", "a colon but no port"),
        ("alice@h.example:7420", "no user name or password"),
        ("ws://alice:secret@h.example/chinwag", "no user name or password"),
        ("h.example:7420?x=1", "no query (?) or fragment (#)"),
        ("ws://h.example/chinwag?x=1", "no query (?) or fragment (#)"),
        ("wss://h.example/chinwag#top", "no query (?) or fragment (#)"),
        ("::1", "put an IPv6 address in brackets"),
        ("::1:7420", "put an IPv6 address in brackets"),
        ("ws://2001:db8::1/chinwag", "put an IPv6 address in brackets"),
        ("[::1", "never closed"),
        ("[::1]7420", "after [IPv6] comes :PORT or nothing"),
        ("[127.0.0.1]:7420", "brackets are for IPv6 addresses only; write 127.0.0.1"),
        ("[h.example]", "brackets are for IPv6 addresses only"),
        ("[]:7420", "has no host"),
        (":7420", "has no host"),
        ("ws://:80/chinwag", "has no host"),
        ("ws://h.example/a b", "a space or a control character"),
        ("h.example\n:7420", "a space or a control character"),
        ("ws://h.example/a/../b", ". or .. segments"),
        ("ws://h.example/./b", ". or .. segments"),
        ("ws://h.example/é", "the path may have letters"),
        ("ws://h.example/a%2", "the path may have letters"),
        ("ws://h.example/" + "a" * 300, "longer than 255"),
    ],
)
def test_bad_endpoints_are_refused_saying_why(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_endpoint(text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("127.1:7420", "neither an IP address nor a hostname"),
        ("ws://bad_host/chinwag", "is not a valid host"),
        ("[fe80::1%eth0]:7420", "zone id"),
        ("wss://[fe80::1%25eth0]/chinwag", "zone id"),
        ("-h.example", "is not a valid host"),
    ],
)
def test_hosts_are_judged_by_validate_host(text: str, words: str) -> None:
    with pytest.raises(InvalidAddress, match=words):
        parse_endpoint(text)


def test_refusals_quote_what_was_typed_escaped_and_cut() -> None:
    with pytest.raises(ValueError, match="control character") as refused:
        parse_endpoint("\x1b[2Jhttp://" + "x" * 500)
    message = str(refused.value)
    assert "\x1b" not in message
    assert "\\x1b[2J" in message
    assert len(message) < 400


# -- lists -------------------------------------------------------------------------------------


def test_a_list_keeps_its_order_and_tolerates_spaces() -> None:
    endpoints = parse_endpoints(" b.example:7420 ,wss://a.example , [::1]:7000,tcp://c.example")
    assert [e.pin_name for e in endpoints] == [
        "b.example:7420",
        "wss://a.example/chinwag",
        "[::1]:7000",
        "c.example:7420",
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a.example,,b.example", "item 2 of 'a.example,,b.example' is empty"),
        ("a.example,", "item 2 of 'a.example,' is empty"),
        (",a.example", "item 1 of ',a.example' is empty"),
        ("a.example, ,b.example", "item 2"),
        (",", "item 1"),
    ],
)
def test_empty_items_are_refused(text: str, words: str) -> None:
    with pytest.raises(ValueError, match="empty") as refused:
        parse_endpoints(text)
    assert words in str(refused.value)


@pytest.mark.parametrize(
    "text",
    [
        "a.example,a.example",
        "a.example, A.EXAMPLE:7420",
        "a.example,tcp://a.example:7420",
        "[::1],[0::1]:7420",
        "wss://a.example,WSS://a.example:443/chinwag",
    ],
)
def test_one_registry_named_twice_is_refused_not_merged(text: str) -> None:
    with pytest.raises(ValueError, match=r"are the same registry .* list it once"):
        parse_endpoints(text)


def test_same_host_on_other_schemes_ports_or_paths_are_different_registries() -> None:
    endpoints = parse_endpoints(
        "a.example,a.example:7421,ws://a.example:7420/chinwag,ws://a.example,"
        "wss://a.example,wss://a.example/other"
    )
    assert len({e.pin_name for e in endpoints}) == 6


def test_the_list_is_bounded() -> None:
    hosts = [f"h{i}.example" for i in range(MAX_ENDPOINTS + 1)]
    assert len(parse_endpoints(",".join(hosts[:-1]))) == MAX_ENDPOINTS
    with pytest.raises(ValueError, match=f"at most {MAX_ENDPOINTS}"):
        parse_endpoints(",".join(hosts))


# -- the value ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "host", "port", "path"),
    [
        ("http", "h.example", 80, "/"),
        (TCP, "H.example", 7420, ""),
        (TCP, "0:0::1", 7420, ""),
        (TCP, "h.example", 0, ""),
        (TCP, "h.example", 65536, ""),
        (TCP, "h.example", True, ""),
        (TCP, "h.example", 7420, "/chinwag"),
        (WS, "h.example", 80, ""),
        (WS, "h.example", 80, "chinwag"),
        (WS, "h.example", 80, "/a%2f"),
        (WSS, "h.example", 443, "/a/../b"),
    ],
)
def test_an_endpoint_is_only_ever_in_its_one_spelling(
    scheme: Scheme, host: str, port: int, path: str
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own words
        RegistryEndpoint(scheme, host, port, path)


def test_an_endpoint_is_a_frozen_hashable_value() -> None:
    endpoint = RegistryEndpoint(Scheme("ws"), "h.example", 80, "/chinwag")
    assert endpoint == parse_endpoint("ws://h.example")
    assert len({endpoint, parse_endpoint("ws://H.example:80/chinwag")}) == 1
    with pytest.raises(AttributeError):
        endpoint.port = 81  # type: ignore[misc]


# -- properties --------------------------------------------------------------------------------

_LABEL = st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]|[a-z]", fullmatch=True)
_HOSTNAMES = st.lists(_LABEL, min_size=1, max_size=4).map(".".join)
_IPV4 = st.ip_addresses(v=4).map(str)
_IPV6 = st.ip_addresses(v=6).map(lambda a: a.compressed)
_HOSTS = st.one_of(_HOSTNAMES, _IPV4, _IPV6)
_PORTS = st.integers(min_value=1, max_value=65535)
_SEGMENT = st.from_regex(r"(?:[A-Za-z0-9\-_~!$&'()*+;=:@]|%[0-9A-F]{2}){1,12}", fullmatch=True)
_PATHS = st.lists(_SEGMENT, min_size=0, max_size=4).map(lambda parts: "/" + "/".join(parts))


@st.composite
def endpoints(draw: st.DrawFn) -> RegistryEndpoint:
    scheme = draw(st.sampled_from(Scheme))
    path = "" if scheme is TCP else draw(_PATHS)
    return RegistryEndpoint(scheme, draw(_HOSTS), draw(_PORTS), path)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@settings(max_examples=300)
@given(endpoints())
def test_canonical_spellings_round_trip(endpoint: RegistryEndpoint) -> None:
    assert parse_endpoint(endpoint.pin_name) == endpoint
    assert parse_endpoint(endpoint.url) == endpoint
    assert parse_endpoint(f"  {endpoint.pin_name}\t") == endpoint


@settings(max_examples=200)
@given(endpoints(), st.booleans(), st.booleans())
def test_other_spellings_reach_the_same_canonical_one(
    endpoint: RegistryEndpoint, upper: bool, explicit_port: bool
) -> None:
    host = _bracketed(endpoint.host)
    scheme = endpoint.scheme.upper() if upper else endpoint.scheme.value
    typed = f"{scheme}://{host.upper() if upper else host}"
    if explicit_port or endpoint.port != {TCP: 7420, WS: 80, WSS: 443}[endpoint.scheme]:
        typed += f":{endpoint.port}"
    if endpoint.path != "/chinwag" or explicit_port:
        typed += endpoint.path
    assert parse_endpoint(typed) == endpoint
    assert parse_endpoint(typed).pin_name == endpoint.pin_name


@settings(max_examples=100)
@given(st.lists(endpoints(), min_size=1, max_size=MAX_ENDPOINTS, unique=True), st.booleans())
def test_lists_round_trip(listed: list[RegistryEndpoint], spaced: bool) -> None:
    separator = " , " if spaced else ","
    assert parse_endpoints(separator.join(e.pin_name for e in listed)) == tuple(listed)


@settings(max_examples=300)
@given(st.one_of(_HOSTNAMES, _IPV4, _IPV6.map(_bracketed)), st.none() | _PORTS)
def test_plain_addresses_keep_the_pin_name_of_today(host: str, port: int | None) -> None:
    """Pins made before lists (``registry_address`` of ``registry_endpoint``) still match."""
    typed = host if port is None else f"{host}:{port}"
    endpoint = parse_endpoint(typed)
    assert endpoint.scheme is TCP
    # today's parser read "[::1]" alone as a port "1]": it took IPv6 with a port only
    today = typed if port is not None or not host.startswith("[") else f"{typed}:7420"
    assert endpoint.pin_name == registry_address(*registry_endpoint(today))


@pytest.mark.parametrize(
    "text", ["[127.0.0.1]:7420", "[h.example]:7420", "h.example:+80", "::1:7420"]
)  # port 0, which no registry can be reached at, is refused by both now (test_settings_registries)
def test_what_today_took_and_endpoints_refuse(text: str) -> None:
    """Deliberately stricter than ``registry_endpoint``: port 0 cannot be connected to, brackets
    are for IPv6, a port is ASCII digits, and ``::1:7420`` is itself an IPv6 address."""
    registry_endpoint(text)
    with pytest.raises(ValueError, match=r"port|brackets"):
        parse_endpoint(text)


@settings(max_examples=500)
@given(
    st.text(alphabet=st.sampled_from("ws:/[]@?#%.,-_ 1aZ\n9é"), max_size=30) | st.text(max_size=30)
)
def test_any_text_is_either_endpoints_or_a_value_error(text: str) -> None:
    try:
        listed = parse_endpoints(text)
    except ValueError:
        return
    assert listed
    for endpoint in listed:
        assert parse_endpoint(endpoint.pin_name) == endpoint


# -- failover ----------------------------------------------------------------------------------


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


A, B, C = parse_endpoints("a.example,ws://b.example,wss://c.example")


def rounded(order: FailoverOrder) -> tuple[RegistryEndpoint, float]:
    """The next endpoint and its wait to the nanosecond (the clock's sums are floats)."""
    endpoint, wait = order.next()
    return endpoint, round(wait, 9)


def test_one_endpoint_backs_off_like_the_single_registry_client() -> None:
    clock = Clock()
    order = FailoverOrder([A], clock)
    assert order.next() == (A, 0.0)
    waits = []
    for _ in range(8):
        order.failed(A)
        endpoint, wait = order.next()
        assert endpoint == A
        waits.append(round(wait, 6))
        clock.now += wait
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.6, 3.0, 3.0, 3.0]
    assert order.failures(A) == 8
    order.worked(A)
    assert order.failures(A) == 0
    order.failed(A)
    assert rounded(order) == (A, 0.1)


def test_a_loss_moves_on_to_the_next_and_round_robin_wraps() -> None:
    clock = Clock()
    order = FailoverOrder([A, B, C], clock)
    order.worked(B)
    assert order.next() == (B, 0.0)  # starts with the one that worked
    order.failed(B)  # lost
    endpoint, wait = order.next()
    assert endpoint == C
    assert wait == pytest.approx(0.1)  # never in the same millisecond as everyone else
    clock.now += wait
    order.failed(C)
    assert order.next()[0] == A
    clock.now += order.next()[1]
    order.failed(A)
    assert order.next()[0] == B


def test_asking_changes_nothing() -> None:
    clock = Clock()
    order = FailoverOrder([A, B], clock)
    order.failed(A)
    assert order.next() == order.next()
    assert rounded(order) == (B, 0.1)


def test_the_one_that_worked_is_first_again_after_the_others_failed() -> None:
    clock = Clock()
    order = FailoverOrder([A, B, C], clock)
    order.failed(A)
    clock.now += 0.1
    order.failed(B)
    clock.now += 0.1
    order.worked(C)
    assert order.next() == (C, 0.0)
    order.failed(C)
    clock.now += 5
    assert order.next() == (A, 0.0)  # then on round the list
    assert order.failures(A) == 1  # the others keep their backoff: they may still be down


def test_an_endpoint_backing_off_long_is_skipped_for_one_ready() -> None:
    clock = Clock()
    order = FailoverOrder([A, B], clock, cap=3.0)
    for _ in range(12):  # A proves another key: retried up to once a minute
        order.failed(A, cap=60.0)
        clock.now += 0.1
    assert order.failed(A, cap=60.0) == 60.0
    clock.now += 0.1
    for _ in range(10):
        endpoint, wait = order.next()
        assert endpoint == B
        assert wait <= 3.0
        clock.now += wait
        order.failed(B)
    clock.now += 60
    assert order.next() == (A, 0.0)


def test_when_none_is_ready_the_one_ready_first_is_waited_for() -> None:
    clock = Clock()
    order = FailoverOrder([A, B, C], clock)
    for endpoint in (A, B, C):
        for _ in range(4):
            order.failed(endpoint)  # each 0.8 s now
        clock.now += 0.2
    # A ready at 1000.8, B at 1001.0, C at 1001.2; the cursor is at A
    assert rounded(order) == (A, 0.2)
    order.failed(B, cap=0.1)  # B now waits 0.1 only: it comes first
    assert rounded(order) == (B, 0.1)


def test_a_cap_below_the_first_delay_is_the_first_delay() -> None:
    order = FailoverOrder([A], Clock(), first_delay=0.5, cap=0.1)
    assert order.failed(A) == 0.5
    assert order.failed(A) == 0.5
    assert order.failed(A, cap=0.0) == 0.5


def test_failover_refuses_what_it_cannot_order() -> None:
    with pytest.raises(ValueError, match="at least one"):
        FailoverOrder([], Clock())
    with pytest.raises(ValueError, match="must differ"):
        FailoverOrder([A, A], Clock())
    with pytest.raises(ValueError, match="positive"):
        FailoverOrder([A], Clock(), first_delay=0)
    order = FailoverOrder([A, B], Clock())
    with pytest.raises(ValueError, match="not one of"):
        order.failed(C)
    with pytest.raises(ValueError, match="not one of"):
        order.worked(C)


@settings(max_examples=200)
@given(
    st.integers(min_value=1, max_value=5),
    st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=60),
)
def test_when_everything_fails_every_endpoint_has_its_turn_in_order(
    count: int, durations: list[float]
) -> None:
    """Whatever each try takes, endpoints that all fail are tried strictly round robin, each
    wait is from 0.1 s to the cap, and the backoff doubles once per whole round."""
    listed = [parse_endpoint(f"h{i}.example") for i in range(count)]
    clock = Clock()
    order = FailoverOrder(listed, clock)
    tried = []
    for number, duration in enumerate(durations):
        endpoint, wait = order.next()
        if number:
            assert 0.1 - 1e-9 <= wait <= 3.0 + 1e-9
        clock.now += wait
        tried.append(endpoint)
        clock.now += duration  # the try (a connect timeout, a refusal)
        order.failed(endpoint)
    assert tried == [listed[i % count] for i in range(len(durations))]
    for i, endpoint in enumerate(listed):
        assert order.failures(endpoint) == len(durations[i::count])


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 2), st.booleans(), st.floats(0, 2)), max_size=40))
def test_the_wait_is_never_negative_nor_past_the_cap(
    steps: list[tuple[int, bool, float]],
) -> None:
    clock = Clock()
    listed = [A, B, C]
    order = FailoverOrder(listed, clock)
    for which, worked, elapsed in steps:
        clock.now += elapsed
        _, wait = order.next()
        assert 0 <= wait <= 3.0 + 1e-9
        if worked:
            order.worked(listed[which])
            assert order.next() == (listed[which], 0.0)
        else:
            order.failed(listed[which])
