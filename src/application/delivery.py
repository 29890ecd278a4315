"""The courier: takes committed outgoing messages to their recipients, in order, pipelined.

It carries deliveries: a message to one recipient. A one-to-one message has one, to its
recipient; a group message one per member it goes to, each in that member's queue (the same
message in each), each with its own state, recorded and told by :mod:`delivery_records`.

Each recipient has a queue and, while it holds deliveries, one worker. The worker looks the
recipient up, hands batches to the transport with several batches in flight (a window), and
records every answer in the order the batches were sent. If the connection fails, everything not
yet acknowledged goes back to the front of the queue, in order, and is tried again after a pause;
the recipient stores by id, so a message that arrived but whose acknowledgement was lost is
stored once and acknowledged again. What happens to one recipient's deliveries (a wait, a
refusal) never holds another's: a group message reaches the members who are there while it
waits for the others.

When the recipient is offline, its key changed and the user has not accepted the new one, it
refuses us for now (our key, a quota, a group it must sync first), no route reaches it (no
direct path and no relay: :data:`UNREACHABLE`), the relay refuses (off, full, or our limit:
:data:`RELAY_REFUSED`), or ``max_attempts`` tries in a row make no progress, the messages are
marked ``queued`` with the reason and the worker waits, at the latest for a backoff delay
(doubling up to :data:`MAX_RETRY_DELAY`), or until news that may help that kind of wait: the
recipient came online, the registry connection came back, the user accepted a key, the
recipient reached us, a group sync with it completed (:mod:`delivery_waits` says which news
ends which wait, and why news from the peer's own traffic is paced). Nothing is given up on:
only the recipient's refusal of a message itself fails it. At sign-in the courier resumes
every delivery not yet acknowledged, in order.

Every ``delivered`` state is announced with the route its batch travelled (direct or relayed),
and a ``sent`` one with the route of the session open to the recipient as it goes out, if one is
(never the route of a session gone since: after a registry restart the next one may take
another).

While the registry is out of reach, a recipient is sent to where it was last found, with the
pinned key (:meth:`Courier.last_location`): the connection doctor checks that same location.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from chinwag.application.delivery_records import DeliveryRecords
from chinwag.application.delivery_waits import Pause, Signal, wait_of
from chinwag.application.errors import (
    ChatError,
    IdentityChanged,
    NotSignedIn,
    OutboxFull,
    PeerRefused,
    PeerUnreachable,
    RegistryUnavailable,
    UnknownUser,
    UserOffline,
)
from chinwag.application.ports.directory import Directory, PeerLocation, RegistryStatus
from chinwag.application.ports.events import ChatEvents
from chinwag.application.ports.message_repository import MessageRepository, OutboxEntry
from chinwag.application.ports.peer_transport import DeliveryReport, PeerTransport
from chinwag.application.trust import TrustPolicy
from chinwag.domain.message import Message, MessageState

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = 30.0

UNREACHABLE = "unreachable"
"""The reason of messages queued because no route reaches the recipient: no direct path, and
no relay."""
RELAY_REFUSED = "relay_refused"
"""The reason of messages queued because the relay refused them (off, full, or our limit)."""
QUEUED_CAUSES = {
    "unreachable": UNREACHABLE,
    "relay_off": RELAY_REFUSED,
    "relay_full": RELAY_REFUSED,
    "relay_limit": RELAY_REFUSED,
}
"""``PeerUnreachable.cause`` words that queue the messages at once, with their reason: trying
again soon cannot help (the registry's answer or the recipient's set-up must change first)."""


@dataclass(frozen=True)
class CourierSettings:
    batch_size: int = 256
    window: int = 8
    max_attempts: int = 3
    retry_delay: float = 0.5
    max_outbox: int = 100_000
    """Deliveries waiting, all recipients together, before sending is refused (a group
    message waits once per member)."""
    wake_gap: float = 1.0
    """Seconds from one try to the next at least, when news from the peer's own traffic ends
    a wait (it reached us, a group sync with it completed): see :mod:`delivery_waits`."""


@dataclass
class _Progress:
    recorded: int = 0


@dataclass
class _Recipient:
    queue: deque[Message] = field(default_factory=deque)
    """This recipient's deliveries, oldest first: each message carries its delivery's state."""
    worker: asyncio.Task[None] | None = None
    location: PeerLocation | None = None
    pause: Pause = field(default_factory=Pause)
    """The wait between tries, and the news that may end it."""


class Courier:
    """Delivers outgoing messages; the only writer of their deliveries' states after they are
    stored."""

    def __init__(
        self,
        directory: Directory,
        transport: PeerTransport,
        messages: MessageRepository,
        events: ChatEvents,
        trust: TrustPolicy,
        settings: CourierSettings | None = None,
    ) -> None:
        self._directory = directory
        self._trust = trust
        trust.on_trusted(self.wake)
        self._transport = transport
        self._records = DeliveryRecords(messages, events)
        self._settings = settings or CourierSettings()
        self._recipients: dict[str, _Recipient] = {}
        self._online: frozenset[str] = frozenset()
        self._registry: RegistryStatus | None = None
        self._closed = False
        self._held: list[OutboxEntry] | None = None
        """Deliveries enqueued during sign-in (see :meth:`hold`); None when not signing in."""

    def check_room(self, deliveries: int = 1) -> None:
        """Raise ``OutboxFull`` unless ``deliveries`` more may wait (a group message needs one
        per member it goes to)."""
        if self.backlog() + deliveries > self._settings.max_outbox:
            raise OutboxFull(
                f"{self.backlog()} messages are already waiting to be delivered; wait until "
                "some of their recipients come online"
            )

    def room(self) -> int:
        """How many more deliveries may wait before sending is refused (a group message
        needs one per member it goes to)."""
        return max(self._settings.max_outbox - self.backlog(), 0)

    def hold(self) -> None:
        """Sign-in has begun: keep what is enqueued from now on until :meth:`resume`, which
        sends the older deliveries of the outbox first. (Without this, a message sent while
        sign-in read the outbox went out ahead of older ones, or twice.)"""
        self._closed = False
        self._held = []

    def enqueue(self, message: Message, recipients: Sequence[str] | None = None) -> None:
        """Queue a committed ``pending`` or ``queued`` message for each of ``recipients``
        (None: its own recipient, for a one-to-one message; a group message names the members
        it goes to), behind every delivery queued before it for each (messages are enqueued in
        the order they were committed). The message carries the state of its deliveries."""
        if self._closed:
            raise NotSignedIn(
                "signing out: the message is kept and goes out when you sign in again"
            )
        names = _recipients_of(message, recipients)
        if self._held is not None:
            self._held.extend(OutboxEntry(message, name) for name in names)
            return
        if message.state is MessageState.SENT:  # stored before a crash: not acknowledged
            message = message.with_state(MessageState.PENDING)
        for name in names:
            recipient = self._recipients.setdefault(name, _Recipient())
            recipient.queue.append(message)
            if recipient.worker is None or recipient.worker.done():
                recipient.worker = asyncio.create_task(
                    self._run(name, recipient), name=f"courier:{name}"
                )

    def resume(self, entries: Iterable[OutboxEntry]) -> None:
        """At sign-in: deliver again, and take up deliveries stored but not acknowledged
        (after a restart, or a sign-out; ``MessageRepository.pending_deliveries``), oldest
        first; then what was sent during sign-in (held since :meth:`hold`), unless the outbox
        already had that delivery. Each entry's message carries that delivery's state."""
        self._closed = False
        held, self._held = self._held or [], None
        resumed: set[tuple[UUID, str]] = set()
        for message, name in entries:
            resumed.add((message.id, name))
            self.enqueue(message, [name])
        for message, name in held:
            if (message.id, name) not in resumed:
                self.enqueue(message, [name])

    def online(self, names: frozenset[str]) -> None:
        """Presence: whoever has just come online and has messages waiting is tried at once,
        unless what they wait for is not their being online (a group sync).
        (Only newcomers: churn elsewhere must not cut short the backoff of the others.)"""
        joined, self._online = names - self._online, names
        for name in joined:
            self._tell(name, Signal.ONLINE)

    def registry_status(self, status: RegistryStatus) -> None:
        """The registry connection changed: once it is back, everyone waiting to be reached is
        tried at once (a relayed session needs the registry; lookups failed while it was away)."""
        back = status is RegistryStatus.CONNECTED and self._registry not in (
            None,
            RegistryStatus.CONNECTED,
        )
        self._registry = status
        if back:
            for name in list(self._recipients):
                self._tell(name, Signal.REGISTRY)

    def wake(self, name: str) -> None:
        """The user let ``name`` through (accepted their key): try them again at once, whatever
        their deliveries wait for."""
        self._tell(name, Signal.TRUSTED)

    def reached(self, name: str) -> None:
        """``name`` reached us (their client was let in): if their deliveries wait to reach
        them, or for them to let us in, try again, no sooner than ``wake_gap`` after the last
        try (their traffic must not drive ours). Deliveries waiting for a group sync stay put."""
        self._tell(name, Signal.REACHED)

    def retry_group(self, name: str) -> None:
        """A group sync with ``name`` completed: deliveries they deferred until they had synced
        (``unknown_group``, ``group_behind``, ``group_gap``) are tried again, no sooner than
        ``wake_gap`` after the last try."""
        self._tell(name, Signal.SYNCED)

    def _tell(self, name: str, signal: Signal) -> None:
        recipient = self._recipients.get(name)
        if recipient is not None:
            recipient.pause.tell(signal)

    async def last_location(self, name: str) -> PeerLocation | None:
        """Where ``name`` was last found, with the key pinned for them: what a delivery uses
        while the registry is out of reach. An old answer says nothing about keys now (it may
        hold a key released since), so only the pinned key will do: None when nobody was found
        this run or no key is pinned; ``IdentityChanged`` while a key change waits."""
        recipient = self._recipients.get(name)
        last = None if recipient is None else recipient.location
        if last is None:
            return None
        key = await self._trust.pinned_key(name)
        if key is None:
            return None
        # The routes it had: the relay may still carry.
        return PeerLocation(
            address=last.address, key=key, reachable=last.reachable, relay=last.relay
        )

    def backlog(self) -> int:
        """Deliveries waiting for a first or a further try."""
        held = len(self._held) if self._held is not None else 0
        return held + sum(len(r.queue) for r in self._recipients.values())

    async def close(self, grace: float = 0.0) -> None:
        """Stop delivering, after up to ``grace`` seconds for deliveries under way to finish
        (not for recipients who are offline); what is not acknowledged stays in the outbox."""
        self._closed = True
        self._held = None  # committed: the outbox has them at the next sign-in
        workers = [r.worker for r in self._recipients.values() if r.worker is not None]
        busy = [r.worker for r in self._recipients.values() if r.worker and not r.pause.waiting]
        if busy and grace > 0:
            await asyncio.wait(busy, timeout=grace)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._recipients.clear()

    async def _run(self, name: str, recipient: _Recipient) -> None:
        failures = 0
        while recipient.queue:
            progress = _Progress()
            recipient.pause.tried()  # news from now on may end the wait after this try
            try:
                location = await self._location_of(name, recipient)
                await self._deliver_queue(name, location, recipient, progress)
                recipient.pause.after_try(progress=True)
                failures = 0
                continue
            except Exception as exc:
                offline, reason = _outcome(name, exc)
                why = wait_of(exc)
                recipient.pause.after_try(progress=progress.recorded > 0)
                failures = 1 if progress.recorded else failures + 1
            try:
                if offline or failures >= self._settings.max_attempts:
                    await self._records.queue_all(name, recipient.queue, reason)
            except Exception:
                log.exception("could not record that messages to %s wait; retrying", name)
            if self._closed:
                return  # signing out: what is left stays in the outbox for next time
            log.info("delivery to %s waits (%s); try %d", name, reason, failures)
            delay = min(self._settings.retry_delay * 2 ** min(failures - 1, 16), MAX_RETRY_DELAY)
            jittered = delay / 2 + random.uniform(0, delay / 2)
            await recipient.pause.wait(why, jittered, self._settings.wake_gap)

    async def _location_of(self, name: str, recipient: _Recipient) -> PeerLocation:
        """Where to deliver, and the key the other end must prove.

        The registry's answer, checked against the pin (a new contact is pinned, a changed key
        held). While the registry is unreachable, :meth:`last_location` will do: it uses the
        pinned key only, so it never starts a key change.
        """
        try:
            location = await self._directory.lookup(name)
        except RegistryUnavailable:
            last = await self.last_location(name)
            if last is None:
                raise
            return last
        await self._trust.outgoing(name, location.key)
        recipient.location = location
        return location

    async def _deliver_queue(
        self, name: str, location: PeerLocation, recipient: _Recipient, progress: _Progress
    ) -> None:
        """Send everything queued and record the answers, in order, until the queue is empty.

        On failure every message whose answer is not recorded is back at the front of the
        queue, in order (sending one again is safe: the recipient stores by id).
        """
        queue = recipient.queue
        inflight: deque[tuple[list[Message], asyncio.Task[DeliveryReport]]] = deque()
        try:
            while queue or inflight:
                while queue and len(inflight) < self._settings.window:
                    batch = [
                        queue.popleft() for _ in range(min(len(queue), self._settings.batch_size))
                    ]
                    task = asyncio.create_task(self._transport.deliver(name, location, batch))
                    # The session open now, if any (the task has not run yet): not the route of
                    # an earlier batch, whose session may be gone.
                    self._records.announce(
                        name, batch, MessageState.SENT, self._transport.route(name)
                    )
                    inflight.append((batch, task))
                batch, task = inflight[0]
                report = await task
                await self._records.record(name, batch, report)
                inflight.popleft()
                progress.recorded += len(batch)
        except BaseException:
            # Put back what was not recorded, oldest first, ahead of anything queued since.
            unrecorded: list[Message] = []
            for batch, task in inflight:
                task.cancel()
                unrecorded.extend(batch)
            await asyncio.gather(*(t for _, t in inflight), return_exceptions=True)
            queue.extendleft(reversed(unrecorded))
            for message in unrecorded:  # the queue holds them as they were: pending
                self._records.tell(name, message)
            raise


def _outcome(name: str, error: Exception) -> tuple[bool, str]:
    """Whether a failed try queues the deliveries at once (trying again soon cannot help),
    and the reason they wait."""
    if isinstance(error, (UserOffline, UnknownUser)):
        # Unknown now but accepted before: the registry may have been reset or replaced.
        # Keep the messages queued rather than give up on them.
        return True, str(error)
    if isinstance(error, IdentityChanged):
        return True, IdentityChanged.code  # held until the user accepts the new key
    if isinstance(error, PeerRefused):
        # The recipient will not take them yet (our key, a quota, a group to sync): they
        # wait, saying why.
        return True, error.reason
    if isinstance(error, PeerUnreachable):
        # No route at all, or the relay refused: no use trying again soon; say why.
        waiting = QUEUED_CAUSES.get(error.cause)
        return waiting is not None, waiting or str(error)
    if isinstance(error, ChatError):
        return False, str(error)
    log.error("delivery to %s failed unexpectedly", name, exc_info=error)
    return False, f"internal error: {error!r}"


def _recipients_of(message: Message, recipients: Sequence[str] | None) -> Sequence[str]:
    """Whom ``message`` is enqueued for: a one-to-one message goes to its recipient only."""
    if message.recipient is not None:
        if recipients is not None and list(recipients) != [message.recipient]:
            raise ValueError(f"a message to {message.recipient} goes to nobody else")
        return [message.recipient]
    if recipients is None:
        raise ValueError("a group message is enqueued for the members it goes to")
    return recipients
