"""The connection doctor's use cases, with fakes that fail in every way the doctor names.

Each cause of the fixed list is brought about by a fake raising what the real adapter raises
in that case; the tests assert the cause, the path, ``reachable`` and that the reason names the
person and the one thing to do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from chinwag.adapters.memory.clock import ManualClock
from chinwag.adapters.memory.contacts import InMemoryContactRepository
from chinwag.adapters.memory.events import RecordingEvents
from chinwag.application.doctor import Cause
from chinwag.application.errors import (
    ChatError,
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
from chinwag.application.ports.peer_transport import DeliveryReport, InboundHandler, Probe, Route
from chinwag.application.presence import LastSeen
from chinwag.application.session import Session
from chinwag.application.trust import TrustPolicy
from chinwag.application.use_cases.diagnose import (
    DEADLINE,
    DiagnosePeer,
    DiagnoseSelf,
    PeerReport,
)
from chinwag.domain.contact import Contact
from chinwag.domain.errors import InvalidUsername
from chinwag.domain.message import Message
from chinwag.domain.user import PeerAddress

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

    def status(self) -> RegistryStatus:
        return self.state

    async def reachability(self, *, fresh: bool = False) -> SelfReachability:
        self.fresh.append(fresh)
        if self.hang:
            await asyncio.Event().wait()
        return self.probe


class FakeTransport:
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

    async def probe(self, peer: str, location: PeerLocation) -> Probe:
        self.probed.append((peer, location))
        if self.hang:
            await asyncio.Event().wait()
        if isinstance(self.probe_answer, Exception):
            raise self.probe_answer
        return self.probe_answer

    def route(self, peer: str) -> Route | None:
        return self.open.get(peer)

    async def close(self) -> None:  # pragma: no cover - not used
        pass


class Doctor:
    """alice signed in at ``ME``, with fakes around the doctor's two use cases."""

    def __init__(self, listen: PeerAddress | None = ME) -> None:
        self.directory = FakeDirectory()
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
            self.session, self.directory, self.transport, self.trust, self.last_seen
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


def says(report: PeerReport, *words: str) -> None:
    for word in words:
        assert word in report.reason, f"{word!r} not in {report.reason!r}"


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
        (Reachability.NOT_PROBED, Cause.NOT_CHECKED, "ask again"),
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
    says(report, "bob is reachable directly", "12 ms", "nothing to do")
    assert doctor.transport.probed == [("bob", PeerLocation(BOB, BOB_KEY, True, True))]


def test_a_relayed_path_because_the_port_is_closed_names_the_port_to_forward() -> None:
    doctor = Doctor()
    doctor.bob_at(BOB, reachable=False, relay=True)
    doctor.transport.probe_answer = Probe(Route.RELAYED, 0.04)
    report = doctor.about_bob()
    assert (report.path, report.cause, report.rtt_ms) == ("relayed", Cause.OK, 40.0)
    assert report.reason == (
        "bob's port is not reachable from outside: messages to bob go through the relay "
        "(round trip 40 ms); to connect directly, bob can forward port 7421"
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
    says(report, "nobody called bob", "check the spelling")


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
    says(report, f"bob is offline since {left.astimezone():%H:%M}")


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
    with pytest.raises(ChatError, match="that is you"):
        asyncio.run(doctor.peer.execute("ALICE"))
    with pytest.raises(InvalidUsername):
        asyncio.run(doctor.peer.execute("a b"))


def test_the_deadline_leaves_room_within_ten_seconds() -> None:
    assert DEADLINE < 10
