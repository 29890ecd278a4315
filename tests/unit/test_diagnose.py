"""The connection doctor's use cases, with fakes that fail in every way the doctor names.

Each cause of the fixed list is brought about by a fake raising what the real adapter raises
in that case; the tests assert the cause, the path, ``reachable`` and that the reason names the
person and the one thing to do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from chinwag.adapters.memory.clock import ManualClock
from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.application.doctor import Cause
from chinwag.application.errors import (
    IdentityChanged,
    NotSignedIn,
    PeerRefused,
    PeerUnreachable,
    RegistryUnavailable,
    UnknownUser,
    UserOffline,
)
from chinwag.application.ports.directory import (
    DirectoryListener,
    PeerLocation,
    Reachability,
    RegistryStatus,
    SelfReachability,
)
from chinwag.application.ports.peer_transport import (
    DeliveryReport,
    GroupHave,
    InboundHandler,
    Probe,
    Route,
)
from chinwag.application.presence import LastSeen
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.use_cases.diagnose import (
    DEADLINE,
    AboutYourself,
    DiagnosePeer,
    DiagnoseSelf,
    PeerReport,
    SelfReport,
)
from chinwag.domain.contact import Contact
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.group import Change
from chinwag.domain.message import Message
from chinwag.domain.user import PeerAddress
from tests.support import NoFileTransfers

ME = PeerAddress(host="10.0.0.1", port=7421)
BOB = PeerAddress(host="203.0.113.5", port=7421)
MY_KEY = bytes([0xA1]) * 32
BOB_KEY = bytes([0xB0]) * 32
OTHER_KEY = bytes([0xEE]) * 32
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FakeDirectory:
    """The registry as the doctor sees it: a status, a probe result, and one answer (or
    failure) per name."""

    def __init__(self) -> None:
        self.state = RegistryStatus.CONNECTED
        self.probe = SelfReachability(True, Reachability.OK, "reached")
        self.answers: dict[str, PeerLocation | Exception] = {}
        self.fresh: list[bool] = []
        self.hang = False

    async def sign_in(
        self, user: str, address: PeerAddress | None, listener: DirectoryListener
    ) -> str:  # pragma: no cover - not used
        return user

    async def sign_out(self) -> None:  # pragma: no cover - not used
        pass

    async def lookup(self, user: str) -> PeerLocation:
        if self.hang:
            await asyncio.Event().wait()
        answer = self.answers[user]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def online(self) -> frozenset[str]:
        return frozenset(n for n, a in self.answers.items() if isinstance(a, PeerLocation))

    async def watch(self, names: Collection[str]) -> None:  # pragma: no cover - not used
        raise AssertionError("the doctor watches nobody")

    async def unwatch(self, names: Collection[str]) -> None:  # pragma: no cover - not used
        raise AssertionError("the doctor watches nobody")

    def watched(self) -> frozenset[str]:  # pragma: no cover - not used
        return frozenset()

    async def find_online(self, prefix: str, limit: int) -> list[str]:  # pragma: no cover
        raise AssertionError("the doctor searches nobody")

    def status(self) -> RegistryStatus:
        return self.state

    async def reachability(self, *, fresh: bool = False) -> SelfReachability:
        self.fresh.append(fresh)
        if self.hang:
            await asyncio.Event().wait()
        return self.probe


class FakeTransport(NoFileTransfers):
    """Answers a probe with ``probe_answer`` (a Probe, or an error to raise), or never."""

    def __init__(self) -> None:
        self.probe_answer: Probe | Exception = Probe(Route.DIRECT, 0.0123)
        self.open: dict[str, Route] = {}
        self.probed: list[tuple[str, PeerLocation]] = []
        self.hang = False

    async def listen(
        self, me: str, address: PeerAddress | None, handler: InboundHandler
    ) -> PeerAddress | None:  # pragma: no cover - not used
        return address

    async def deliver(
        self, peer: str, location: PeerLocation, messages: Sequence[Message]
    ) -> DeliveryReport:  # pragma: no cover - the doctor never delivers
        raise AssertionError("the doctor must not deliver anything")

    async def send_have(self, peer: str, location: PeerLocation, have: GroupHave) -> None:
        raise AssertionError("the doctor must not send anything")

    async def send_changes(
        self, peer: str, location: PeerLocation, changes: Sequence[Change]
    ) -> None:
        raise AssertionError("the doctor must not send anything")

    async def probe(self, peer: str, location: PeerLocation) -> Probe:
        self.probed.append((peer, location))
        answer = self.probe_answer
        if self.hang:
            await asyncio.Event().wait()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def route(self, peer: str) -> Route | None:
        return self.open.get(peer)

    async def close(self) -> None:  # pragma: no cover - not used
        pass


class FakeLastKnown:
    """Where the courier last found people (with the pinned key), or an error to raise."""

    def __init__(self) -> None:
        self.locations: dict[str, PeerLocation | Exception] = {}

    async def last_location(self, name: str) -> PeerLocation | None:
        answer = self.locations.get(name)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Doctor:
    """alice signed in at ``listen`` (registered there, on a registry that relays unless
    ``relay`` is False), with fakes around the doctor's two use cases."""

    def __init__(self, listen: PeerAddress | None = ME, *, relay: bool = True) -> None:
        self.directory = FakeDirectory()
        self.directory.answers["alice"] = PeerLocation(listen, MY_KEY, None, relay)
        self.last_known = FakeLastKnown()
        self.transport = FakeTransport()
        self.contacts = InMemoryContactRepository()
        self.events = RecordingEvents()
        self.clock = ManualClock(T0, timedelta(0))
        self.trust = TrustPolicy(self.contacts, self.directory, self.events, self.clock, MY_KEY)
        self.trust.signed_in_as("alice")
        self.session = Session()
        self.session.start("alice", listen)
        self.last_seen = LastSeen(self.clock)
        self.me = DiagnoseSelf(self.session, self.directory)
        self.peer = DiagnosePeer(
            self.session,
            self.directory,
            self.transport,
            self.trust,
            self.last_seen,
            self.last_known,
        )

    def bob_at(
        self, address: PeerAddress | None, *, reachable: bool | None = None, relay: bool = False
    ) -> None:
        self.directory.answers["bob"] = PeerLocation(address, BOB_KEY, reachable, relay)

    async def pin_bob(self, key: bytes = BOB_KEY, pending: bytes | None = None) -> None:
        await self.contacts.save(
            Contact(name="bob", key=key, first_seen=T0, pending_key=pending, accepted=True)
        )

    def about_bob(self) -> PeerReport:
        return asyncio.run(self.peer.execute("Bob"))

    def about_me(self) -> SelfReport:
        return asyncio.run(self.me.execute())


def says(report: PeerReport | SelfReport, *words: str) -> None:
    for word in words:
        assert word in report.reason, f"{word!r} not in {report.reason!r}"


def never_says(report: PeerReport | SelfReport, *words: str) -> None:
    for word in words:
        assert word not in report.reason, f"{word!r} in {report.reason!r}"


# -- yourself ----------------------------------------------------------------------------------


def test_yourself_reachable() -> None:
    doctor = Doctor()
    report = asyncio.run(doctor.me.execute())
    assert (report.registry, report.listen, report.reachable, report.cause) == (
        RegistryStatus.CONNECTED,
        ME,
        True,
        Cause.OK,
    )
    assert doctor.directory.fresh == [True]  # the registry is asked to probe again now
    assert "10.0.0.1:7421" in report.reason and "nothing to do" in report.reason


@pytest.mark.parametrize(
    ("probe", "cause", "action"),
    [
        (Reachability.REFUSED, Cause.REFUSED, "forward port 7421"),
        (Reachability.TIMEOUT, Cause.TIMEOUT, "forward port 7421"),
        (Reachability.UNREACHABLE, Cause.UNREACHABLE, "forward port 7421"),
        (Reachability.WRONG_KEY, Cause.KEY_MISMATCH, "no other program uses port 7421"),
        (Reachability.HANDSHAKE_FAILED, Cause.KEY_MISMATCH, "no other program uses port 7421"),
        (Reachability.NOT_PROBED, Cause.NOT_PROBED, "listen on 0.0.0.0 or your network address"),
        (Reachability.UNKNOWN, Cause.NOT_CHECKED, "ask again"),
    ],
)
def test_yourself_not_reachable_says_why_and_what_to_do(
    probe: Reachability, cause: Cause, action: str
) -> None:
    doctor = Doctor()
    doctor.directory.probe = SelfReachability(False, probe, "detail")
    report = asyncio.run(doctor.me.execute())
    assert (report.reachable, report.cause) == (False, cause)
    assert action in report.reason


def test_yourself_listening_nowhere_is_not_reachable_and_says_so() -> None:
    doctor = Doctor(listen=None)
    report = asyncio.run(doctor.me.execute())
    assert (report.listen, report.reachable, report.cause) == (None, False, Cause.NOT_LISTENING)
    assert "--listen none" in report.reason and "relay" in report.reason
    assert doctor.directory.fresh == []  # nothing to probe


@pytest.mark.parametrize("status", [RegistryStatus.RECONNECTING, RegistryStatus.DISCONNECTED])
def test_yourself_without_the_registry(status: RegistryStatus) -> None:
    doctor = Doctor()
    doctor.directory.state = status
    report = asyncio.run(doctor.me.execute())
    assert (report.registry, report.reachable, report.cause) == (
        status,
        False,
        Cause.REGISTRY_UNREACHABLE,
    )
    assert status.value in report.reason and "check your network" in report.reason
    says(report, "whether people can connect to you directly is unknown")
    assert report.relay is None  # not asked: the registry is out of reach


def test_yourself_answers_in_time_when_the_registry_never_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("chinwag.application.use_cases.diagnose.DEADLINE", 0.05)
    doctor = Doctor()
    doctor.directory.hang = True
    report = asyncio.run(asyncio.wait_for(doctor.me.execute(), 5))
    assert (report.reachable, report.cause) == (False, Cause.NOT_CHECKED)


def test_the_doctor_needs_a_signed_in_user() -> None:
    doctor = Doctor()
    doctor.session.end()
    with pytest.raises(NotSignedIn):
        asyncio.run(doctor.me.execute())
    with pytest.raises(NotSignedIn):
        asyncio.run(doctor.peer.execute("bob"))


# -- somebody else: working paths ----------------------------------------------------------------


def test_a_direct_path_with_its_round_trip() -> None:
    doctor = Doctor()
    doctor.bob_at(BOB, reachable=True, relay=True)
    report = doctor.about_bob()
    assert (report.name, report.path, report.cause, report.rtt_ms) == (
        "bob",
        "direct",
        Cause.OK,
        12.3,
    )
    assert report.reason == "bob is reachable directly; nothing to do"  # the round trip: once,
    # next to the path, not in the reason as well
    assert doctor.transport.probed == [("bob", PeerLocation(BOB, BOB_KEY, True, True))]


def test_a_relayed_path_because_the_port_is_closed_names_the_port_to_forward() -> None:
    doctor = Doctor()
    doctor.bob_at(BOB, reachable=False, relay=True)
    doctor.transport.probe_answer = Probe(Route.RELAYED, 0.04)
    report = doctor.about_bob()
    assert (report.path, report.cause, report.rtt_ms) == ("relayed", Cause.OK, 40.0)
    assert report.reason == (
        "bob's port is not reachable from outside: messages to bob go through the relay; "
        "to connect directly, bob can forward port 7421"
    )


def test_a_relayed_path_to_somebody_listening_nowhere() -> None:
    doctor = Doctor()
    doctor.bob_at(None, relay=True)
    doctor.transport.probe_answer = Probe(Route.RELAYED, 0.02)
    report = doctor.about_bob()
    assert (report.path, report.cause) == ("relayed", Cause.OK)
    says(report, "bob accepts no direct connections", "--listen")


def test_a_relayed_path_after_a_direct_attempt_failed() -> None:
    doctor = Doctor()
    doctor.bob_at(BOB, reachable=True, relay=True)
    doctor.transport.probe_answer = Probe(Route.RELAYED, 0.02)
    report = doctor.about_bob()
    assert (report.path, report.cause) == ("relayed", Cause.OK)
    says(report, "did not work from here", "port 7421")


def test_a_newcomer_is_checked_without_being_pinned() -> None:
    doctor = Doctor()
    doctor.bob_at(BOB, reachable=True, relay=True)
    assert doctor.about_bob().cause is Cause.OK
    assert asyncio.run(doctor.contacts.get("bob")) is None  # the doctor only reads pins


# -- somebody else: every cause ------------------------------------------------------------------


def test_registry_unreachable_with_no_session_open() -> None:
    doctor = Doctor()
    doctor.directory.answers["bob"] = RegistryUnavailable("cannot reach the registry")
    report = doctor.about_bob()
    assert (report.path, report.cause, report.rtt_ms) == ("none", Cause.REGISTRY_UNREACHABLE, None)
    says(report, "bob cannot be looked up", "check your network")
    assert doctor.transport.probed == []


def test_registry_unreachable_but_a_session_still_open() -> None:
    doctor = Doctor()
    doctor.directory.answers["bob"] = RegistryUnavailable("cannot reach the registry")
    doctor.transport.open["bob"] = Route.DIRECT
    report = doctor.about_bob()
    assert (report.path, report.cause) == ("direct", Cause.REGISTRY_UNREACHABLE)
    says(report, "connection to bob", "still works")


def test_not_registered() -> None:
    doctor = Doctor()
    doctor.directory.answers["bob"] = UnknownUser("nobody called bob")
    report = doctor.about_bob()
    assert (report.path, report.cause) == ("none", Cause.NOT_REGISTERED)
    says(report, "nobody called 'bob' has ever signed in", "check the spelling")


def test_offline_since_when_they_were_seen_leaving() -> None:
    doctor = Doctor()
    doctor.directory.answers["bob"] = UserOffline("bob is offline")
    report = doctor.about_bob()
    assert (report.path, report.cause, report.since) == ("none", Cause.OFFLINE, None)
    says(report, "bob is offline:", "ask bob to start chinwag")

    doctor.last_seen.presence(frozenset({"bob", "carol"}))
    doctor.clock.advance(timedelta(minutes=5))
    doctor.last_seen.presence(frozenset({"carol"}))
    report = doctor.about_bob()
    left = T0 + timedelta(minutes=5)
    assert (report.cause, report.since) == (Cause.OFFLINE, left)
    says(report, f"bob has been offline since {left.astimezone():%H:%M}:")


@pytest.mark.parametrize(
    ("word", "cause", "action"),
    [
        ("refused", Cause.REFUSED, "ask bob to check that chinwag is running"),
        ("timeout", Cause.TIMEOUT, "ask bob to check their network connection"),
        ("key_mismatch", Cause.KEY_MISMATCH, "compare safety numbers"),
        ("relay_full", Cause.RELAY_FULL, "try again later"),
        ("relay_limit", Cause.RELAY_LIMIT, "wait for another relayed conversation to end"),
        ("relay_off", Cause.RELAY_OFF, "bob can forward port 7421"),
        ("registry_unreachable", Cause.REGISTRY_UNREACHABLE, "check your network"),
        ("unreachable", Cause.UNREACHABLE, "ask bob to check their network"),
        ("lost", Cause.UNREACHABLE, "ask again in a minute"),
        ("something new", Cause.UNREACHABLE, "ask bob to check their network"),
    ],
)
def test_each_transport_failure_is_one_cause_with_one_action(
    word: str, cause: Cause, action: str
) -> None:
    doctor = Doctor()
    doctor.bob_at(BOB, reachable=True, relay=True)
    doctor.transport.probe_answer = PeerUnreachable("no", word)
    report = doctor.about_bob()
    assert (report.path, report.cause, report.rtt_ms) == ("none", cause, None)
    says(report, "bob", action)


def test_no_route_and_no_relay_is_named_relay_off() -> None:
    doctor = Doctor()
    doctor.bob_at(None, relay=False)
    doctor.transport.probe_answer = PeerUnreachable("no route", "unreachable")
    report = doctor.about_bob()
    assert (report.path, report.cause) == ("none", Cause.RELAY_OFF)
    says(report, "accepts no direct connections and this registry does not relay")


def test_refused_without_a_relay_says_there_is_none() -> None:
    doctor = Doctor()
    doctor.bob_at(BOB, reachable=False, relay=False)
    doctor.transport.probe_answer = PeerUnreachable("refused", "refused")
    report = doctor.about_bob()
    assert report.cause is Cause.REFUSED
    says(report, "203.0.113.5:7421", "this registry does not relay")


def test_a_key_other_than_the_pinned_one_is_a_mismatch_and_nothing_is_tried() -> None:
    doctor = Doctor()
    asyncio.run(doctor.pin_bob(OTHER_KEY))
    doctor.bob_at(BOB, reachable=True, relay=True)
    report = doctor.about_bob()
    assert (report.path, report.cause) == ("none", Cause.KEY_MISMATCH)
    says(report, "not the one you pinned", "compare safety numbers with bob")
    assert doctor.transport.probed == []
    assert doctor.events.identities == []  # the doctor tells; it does not raise a key change


def test_a_key_change_waiting_for_the_user_is_a_mismatch() -> None:
    doctor = Doctor()
    asyncio.run(doctor.pin_bob(OTHER_KEY, pending=BOB_KEY))
    doctor.bob_at(BOB, reachable=True, relay=True)
    assert doctor.about_bob().cause is Cause.KEY_MISMATCH


def test_the_pinned_key_is_the_one_probed() -> None:
    doctor = Doctor()
    asyncio.run(doctor.pin_bob(BOB_KEY))
    doctor.bob_at(BOB, reachable=True, relay=True)
    assert doctor.about_bob().cause is Cause.OK
    assert doctor.transport.probed[0][1].key == BOB_KEY


@pytest.mark.parametrize(
    ("reason", "cause", "words"),
    [
        ("identity_changed", Cause.KEY_MISMATCH, ("does not accept your key", "ask bob")),
        ("wrong_key", Cause.KEY_MISMATCH, ("does not accept your key", "ask bob")),
        ("over_quota", Cause.REFUSED, ("away for now (you sent more than it takes", "wait")),
        ("unverified", Cause.REFUSED, ("cannot check your key with the registry", "wait")),
    ],
)
def test_a_peer_that_turns_us_away(reason: str, cause: Cause, words: tuple[str, ...]) -> None:
    doctor = Doctor()
    doctor.bob_at(BOB, reachable=True, relay=True)
    doctor.transport.probe_answer = PeerRefused(reason, "no")
    report = doctor.about_bob()
    assert (report.path, report.cause) == ("none", cause)
    says(report, *words)


def test_a_peer_that_never_answers_is_a_timeout_within_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("chinwag.application.use_cases.diagnose.DEADLINE", 0.05)
    doctor = Doctor()
    doctor.bob_at(BOB, reachable=True, relay=True)
    doctor.transport.hang = True
    report = asyncio.run(asyncio.wait_for(doctor.peer.execute("bob"), 5))
    assert (report.path, report.cause) == ("none", Cause.TIMEOUT)
    doctor.transport.hang, doctor.directory.hang = False, True  # nor does the registry
    report = asyncio.run(asyncio.wait_for(doctor.peer.execute("bob"), 5))
    assert report.cause is Cause.TIMEOUT


def test_yourself_or_no_name_at_all_is_refused() -> None:
    doctor = Doctor()
    with pytest.raises(AboutYourself, match="that is you") as refused:
        asyncio.run(doctor.peer.execute("ALICE"))
    assert refused.value.code == "bad_command"  # a documented code, not the generic "error"
    with pytest.raises(InvalidUsername):
        asyncio.run(doctor.peer.execute("a b"))


def test_the_deadline_leaves_room_within_ten_seconds() -> None:
    assert DEADLINE < 10


# -- what a newcomer ran into (issue 9's review) -------------------------------------------------

LOOPBACK = PeerAddress(host="127.0.0.1", port=7421)
WILDCARD = PeerAddress(host="0.0.0.0", port=45625)


def test_listening_nowhere_on_a_registry_that_does_not_relay_says_nobody_can_reach_you() -> None:
    doctor = Doctor(listen=None, relay=False)
    report = doctor.about_me()
    assert (report.cause, report.reachable, report.relay) == (Cause.NOT_LISTENING, False, False)
    assert report.reason.startswith("nobody can reach you: you accept no connections")
    says(report, "this registry does not relay", "start chinwag with --listen")
    never_says(report, "through the registry's relay")


@pytest.mark.parametrize("probe", [Reachability.REFUSED, Reachability.TIMEOUT])
def test_a_closed_port_on_a_registry_that_does_not_relay_says_there_is_no_relay(
    probe: Reachability,
) -> None:
    doctor = Doctor(relay=False)
    doctor.directory.probe = SelfReachability(False, probe, "detail")
    report = doctor.about_me()
    says(report, "this registry does not relay, so nobody can reach you from outside")
    never_says(report, "through the registry's relay")


def test_when_the_registry_does_not_say_whether_it_relays_the_words_assume_it_does() -> None:
    doctor = Doctor(listen=None)
    doctor.directory.answers["alice"] = UserOffline("alice is offline")  # registering still
    report = doctor.about_me()
    assert (report.cause, report.relay) == (Cause.NOT_LISTENING, None)
    says(report, "through the registry's relay")


def test_an_address_the_registry_did_not_probe_is_not_ask_again_forever() -> None:
    doctor = Doctor()
    doctor.directory.probe = SelfReachability(False, Reachability.NOT_PROBED, "not probed")
    report = doctor.about_me()
    assert (report.cause, report.reachable) == (Cause.NOT_PROBED, False)
    says(
        report,
        "did not check whether it can connect to you at 10.0.0.1:7421",
        "checks only the address you connect to it from",
        "people try your address directly and fall back to the relay",
        "--listen 0.0.0.0:7421",
    )
    never_says(report, "ask again")


def test_not_probed_while_listening_everywhere_is_the_registrys_limit() -> None:
    doctor = Doctor(listen=WILDCARD)
    doctor.directory.probe = SelfReachability(False, Reachability.NOT_PROBED, "rate limited")
    report = doctor.about_me()
    assert report.cause is Cause.NOT_PROBED
    says(report, "on port 45625", "ask again in a minute")
    never_says(report, "0.0.0.0")


@pytest.mark.parametrize(
    "probe", [Reachability.REFUSED, Reachability.TIMEOUT, Reachability.UNREACHABLE]
)
def test_listening_on_loopback_advises_a_network_address_not_a_port_to_forward(
    probe: Reachability,
) -> None:
    doctor = Doctor(listen=LOOPBACK)
    doctor.directory.probe = SelfReachability(False, probe, "detail")
    report = doctor.about_me()
    says(report, "--listen 0.0.0.0:7421")
    never_says(report, "forward port")


def test_a_wildcard_address_is_said_as_the_address_the_registry_reached() -> None:
    doctor = Doctor(listen=WILDCARD)
    doctor.directory.answers["alice"] = PeerLocation(
        PeerAddress(host="198.51.100.7", port=45625), MY_KEY, True, True
    )
    report = doctor.about_me()
    assert report.cause is Cause.OK
    says(report, "the registry reached you at 198.51.100.7:45625")
    never_says(report, "0.0.0.0")


@pytest.mark.parametrize("probe", [Reachability.OK, Reachability.REFUSED])
def test_a_wildcard_address_the_registry_did_not_record_is_said_as_its_port(
    probe: Reachability,
) -> None:
    doctor = Doctor(listen=WILDCARD)
    doctor.directory.probe = SelfReachability(probe is Reachability.OK, probe, "")
    report = doctor.about_me()
    says(report, "port 45625")
    never_says(report, "0.0.0.0")


def test_a_peer_listening_on_loopback_is_advised_a_network_address() -> None:
    doctor = Doctor()
    doctor.bob_at(LOOPBACK, reachable=False, relay=True)
    doctor.transport.probe_answer = Probe(Route.RELAYED, 0.02)
    report = doctor.about_bob()
    says(report, "ask bob to listen on a network address (--listen 0.0.0.0:7421)")
    never_says(report, "forward port")


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        ("refused", "(refused at 203.0.113.5:7421)"),
        ("timeout", "(no answer from 203.0.113.5:7421 in time)"),
    ],
)
def test_a_failed_direct_attempt_says_why(cause: str, words: str) -> None:
    """The transport says why it went through the relay; the doctor asks nothing more."""
    doctor = Doctor()
    doctor.bob_at(BOB, reachable=True, relay=True)
    doctor.transport.probe_answer = Probe(Route.RELAYED, 0.02, direct_failure=cause)
    report = doctor.about_bob()
    assert (report.path, report.cause) == ("relayed", Cause.OK)
    says(report, "a direct connection to bob did not work from here " + words)
    assert len(doctor.transport.probed) == 1  # no second connection just to find out


def test_a_relayed_session_without_a_known_direct_failure_says_no_why() -> None:
    doctor = Doctor()
    doctor.bob_at(BOB, reachable=True, relay=True)
    doctor.transport.probe_answer = Probe(Route.RELAYED, 0.02)
    report = doctor.about_bob()
    says(report, "a direct connection to bob did not work from here:")


def test_with_the_registry_down_the_last_known_address_is_probed_as_a_delivery_would() -> None:
    doctor = Doctor()
    doctor.directory.answers["bob"] = RegistryUnavailable("cannot reach the registry")
    last = PeerLocation(BOB, BOB_KEY, True, True)
    doctor.last_known.locations["bob"] = last
    report = doctor.about_bob()
    assert (report.path, report.cause, report.rtt_ms) == ("direct", Cause.OK, 12.3)
    says(report, "the registry is out of reach, but bob still answers at the last known address")
    never_says(report, "wait")
    assert doctor.transport.probed == [("bob", last)]


def test_with_the_registry_down_a_last_known_address_that_fails_is_the_registrys_fault() -> None:
    doctor = Doctor()
    doctor.directory.answers["bob"] = RegistryUnavailable("cannot reach the registry")
    doctor.last_known.locations["bob"] = PeerLocation(BOB, BOB_KEY, True, True)
    doctor.transport.probe_answer = PeerUnreachable("refused", "refused")
    report = doctor.about_bob()
    assert (report.path, report.cause) == ("none", Cause.REGISTRY_UNREACHABLE)
    says(report, "did not answer at the last known address (refused at 203.0.113.5:7421)")


def test_with_the_registry_down_a_key_change_waiting_is_the_answer() -> None:
    doctor = Doctor()
    doctor.directory.answers["bob"] = RegistryUnavailable("cannot reach the registry")
    doctor.last_known.locations["bob"] = IdentityChanged("bob's key changed")
    report = doctor.about_bob()
    assert (report.path, report.cause) == ("none", Cause.KEY_MISMATCH)
    assert doctor.transport.probed == []


@pytest.mark.parametrize("open_route", [None, Route.DIRECT])
def test_a_registry_out_of_reach_is_one_short_line_per_person(open_route: Route | None) -> None:
    doctor = Doctor()
    doctor.directory.answers["bob"] = RegistryUnavailable("cannot reach the registry")
    if open_route is not None:
        doctor.transport.open["bob"] = open_route
    report = doctor.about_bob()
    assert report.cause is Cause.REGISTRY_UNREACHABLE
    assert len(report.reason) <= 110, report.reason
    never_says(report, "tell whoever runs it")  # said once, in your own report


def test_yourself_without_the_registry_says_reachability_is_unknown() -> None:
    doctor = Doctor()
    doctor.directory.state = RegistryStatus.RECONNECTING
    report = doctor.about_me()
    assert report.reachable is False  # the JSON contract is a bool
    says(report, "unknown")
    never_says(report, "not reachable")
