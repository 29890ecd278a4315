"""In-memory twins of the message and conversation repositories.

They behave like the SQLite adapters: messages are ordered by when they were stored here, ids are
deduplicated, pages are keyset pages, and search follows the same word rules. Nothing is durable,
so "committed" means "in this object"; a write is never batched with another.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Final
from uuid import UUID

from chinwag.adapters.memory.transfers import InMemoryTransferRepository
from chinwag.adapters.sqlite.summary import summary
from chinwag.application.errors import MessageNotFound
from chinwag.application.ports.conversation_repository import Unread
from chinwag.application.ports.message_repository import Delivery, OutboxEntry, StateChange
from chinwag.domain.conversation import Conversation
from chinwag.domain.message import UNACKNOWLEDGED, Message, MessageState, incoming_transfer, utc

MAX_LIMIT: Final = 500
"""The most messages one :meth:`page` or :meth:`search` returns, as in SQLite."""

_Phrase = tuple[str, ...]


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")


@lru_cache(maxsize=4096)
def _fold(char: str) -> str | None:
    """``char`` as it is indexed: case-folded, Latin accents removed; ``None`` for a separator.

    This mirrors SQLite's ``unicode61 remove_diacritics 2 categories 'L* N* Co So'`` tokenizer:
    letters, digits, private-use characters and symbols (emoji) make words, Latin combining
    accents vanish, everything else separates words. SQLite's Unicode tables are older than
    Python's, so rare text differs: characters newer than its tables, which SQLite keeps in
    words (emoji skin tones, the bidi isolates U+2066..U+2069) and this treats by their
    category, and some Latin letters with two accents, which SQLite keeps accented.
    """
    if "\u0300" <= char <= "\u036f":
        return ""
    category = unicodedata.category(char)
    if category[0] not in "LN" and category not in ("Co", "So", "Cn"):
        return None
    folded = char.casefold()
    if len(folded) > 1:  # SQLite folds one character to one: "ß" stays "ß"
        folded = char.lower()
    if not unicodedata.name(char, "").startswith("LATIN"):
        return folded
    return "".join(c for c in unicodedata.normalize("NFD", folded) if not "\u0300" <= c <= "\u036f")


def _words(text: str) -> _Phrase:
    """The words of ``text``, folded as the search index folds them."""
    words: list[str] = []
    word: list[str] = []
    for char in text:
        folded = _fold(char)
        if folded is None:
            if word:
                words.append("".join(word))
                word.clear()
        else:
            word.append(folded)
    if word:
        words.append("".join(word))
    return tuple(word for word in words if word)


def _contains(words: _Phrase, phrase: _Phrase) -> bool:
    """Whether ``phrase`` is in ``words``, its last word as a prefix (like FTS5's ``"..."*``)."""
    size = len(phrase)
    *whole, prefix = phrase
    return any(
        words[i : i + size - 1] == tuple(whole) and words[i + size - 1].startswith(prefix)
        for i in range(len(words) - size + 1)
    )


class InMemoryMessageRepository:
    """The :class:`~chinwag.application.ports.MessageRepository` port, kept in a dict.

    Like SQLite, ``sent_at`` is returned in UTC, ``update_states`` ignores unknown ids and
    deliveries, an outgoing one-to-one message has one delivery, to its recipient, that moves
    with its state, and an outgoing group message one per member it is sent to, its state the
    summary of theirs (:func:`~chinwag.adapters.sqlite.summary.summary`, the rule SQLite
    applies). Search splits words as SQLite's tokenizer does, except in rare text (see
    ``_fold``). A received file offer makes its incoming record in ``transfers`` (the twin
    given, or one of its own) in the same step, and a discarded one takes it away, as in SQLite.
    """

    def __init__(self, transfers: InMemoryTransferRepository | None = None) -> None:
        self.transfers = InMemoryTransferRepository() if transfers is None else transfers
        self._next_seq = 0
        self._seq_of: dict[UUID, int] = {}
        self._by_seq: dict[int, Message] = {}
        self._words: dict[int, _Phrase] = {}
        self._conversation_seqs: dict[UUID, list[int]] = {}
        self._deliveries: dict[UUID, dict[str, Delivery]] = {}
        self._authors: dict[tuple[UUID, str], dict[int, Message]] = {}
        """Per (group, author): the author's stored messages by their sequence number."""

    async def add(
        self, messages: Sequence[Message], members: Mapping[UUID, Sequence[str]] | None = None
    ) -> list[Message]:
        added: list[Message] = []
        for message in messages:
            if message.id in self._seq_of or self._stamp_taken(message):
                continue
            stored = message.model_copy(update={"sent_at": utc(message.sent_at)})
            outgoing = message.state is not MessageState.RECEIVED
            recipients: list[str] = []
            if message.recipient is not None:
                recipients = [message.recipient]
            elif outgoing:
                recipients = list(dict.fromkeys((members or {}).get(message.id, ())))
                if not recipients:  # nothing left to deliver
                    stored = stored.model_copy(
                        update={"state": MessageState.DELIVERED, "reason": None}
                    )
            self._next_seq += 1
            seq = self._next_seq
            self._seq_of[message.id] = seq
            self._by_seq[seq] = stored
            self._words[seq] = _words(message.body)
            self._conversation_seqs.setdefault(message.conversation_id, []).append(seq)
            if message.group_id is not None and message.stamp is not None:
                author = self._authors.setdefault((message.group_id, message.sender), {})
                author[message.stamp.seq] = stored
            if (offer := incoming_transfer(message)) is not None:
                self.transfers.insert(offer)
            if outgoing:
                self._deliveries[message.id] = {
                    name: Delivery(message.id, name, message.state, message.reason)
                    for name in recipients
                }
            added.append(message)
        return added

    def _stamp_taken(self, message: Message) -> bool:
        """Whether ``message``'s author has a message with its sequence number stored."""
        if message.group_id is None or message.stamp is None:
            return False
        return message.stamp.seq in self._authors.get((message.group_id, message.sender), {})

    async def update_states(self, changes: Sequence[StateChange]) -> list[StateChange]:
        touched: dict[UUID, StateChange] = {}  # group messages, by first change
        for change in changes:
            seq = self._seq_of.get(change.id)
            if seq is None:
                continue
            stored = self._by_seq[seq]
            deliveries = self._deliveries.get(change.id, {})
            if stored.group_id is None:
                if change.recipient not in (None, stored.recipient):
                    continue
                self._replace(seq, change.state, change.reason)
                if stored.recipient in deliveries:
                    deliveries[stored.recipient] = Delivery(
                        change.id, stored.recipient, change.state, change.reason
                    )
            elif change.recipient in deliveries:
                deliveries[change.recipient] = Delivery(
                    change.id, change.recipient, change.state, change.reason
                )
                touched.setdefault(change.id, StateChange(change.id, stored.state, stored.reason))
        changed: list[StateChange] = []
        for message_id, before in touched.items():
            in_order = sorted(self._deliveries[message_id].items())
            state, reason = summary((d.state, d.reason) for _, d in in_order)
            if (state, reason) != (before.state, before.reason):
                self._replace(self._seq_of[message_id], state, reason)
                changed.append(StateChange(message_id, state, reason))
        return changed

    def _replace(self, seq: int, state: MessageState, reason: str | None) -> None:
        """Put the stored message at ``seq`` in ``state``, everywhere it is kept."""
        stored = self._by_seq[seq].model_copy(update={"state": state, "reason": reason})
        self._by_seq[seq] = stored
        if stored.group_id is not None and stored.stamp is not None:
            self._authors[(stored.group_id, stored.sender)][stored.stamp.seq] = stored

    async def discard(self, ids: Sequence[UUID]) -> list[Message]:
        """Forget up to 500 messages by id with their deliveries (``ValueError`` beyond, as in
        SQLite); those that were stored, in the order given. Their places (``seq``) are not
        given to later messages: ``_next_seq`` only grows."""
        if len(ids) > MAX_LIMIT:
            raise ValueError(
                f"at most {MAX_LIMIT} messages can be discarded at once, not {len(ids)}"
            )
        removed: list[Message] = []
        for message_id in dict.fromkeys(ids):
            seq = self._seq_of.pop(message_id, None)
            if seq is None:
                continue
            stored = self._by_seq.pop(seq)
            del self._words[seq]
            seqs = self._conversation_seqs[stored.conversation_id]
            del seqs[bisect_left(seqs, seq)]
            self._deliveries.pop(message_id, None)
            if stored.group_id is not None and stored.stamp is not None:
                key = (stored.group_id, stored.sender)
                del self._authors[key][stored.stamp.seq]
                if not self._authors[key]:
                    del self._authors[key]
            removed.append(stored)
        self.transfers.forget_incoming([m.id for m in removed if m.file is not None])
        return removed

    async def deliveries(self, message_id: UUID) -> list[Delivery]:
        return sorted(self._deliveries.get(message_id, {}).values(), key=lambda d: d.recipient)

    async def get(self, message_id: UUID) -> Message | None:
        seq = self._seq_of.get(message_id)
        return None if seq is None else self._by_seq[seq]

    async def unacknowledged(self, sender: str) -> list[Message]:
        return [
            m
            for _, m in sorted(self._by_seq.items())
            if m.sender == sender and m.state in UNACKNOWLEDGED
        ]

    async def pending_deliveries(self, sender: str) -> list[OutboxEntry]:
        entries: list[OutboxEntry] = []
        for _, message in sorted(self._by_seq.items()):
            if message.sender != sender:
                continue
            for name, delivery in sorted(self._deliveries.get(message.id, {}).items()):
                if delivery.state in UNACKNOWLEDGED:
                    update = {"state": delivery.state, "reason": delivery.reason}
                    entries.append(OutboxEntry(message.model_copy(update=update), name))
        return entries

    async def group_progress(self, group: UUID) -> dict[str, int]:
        return {
            author: max(stored)
            for (group_id, author), stored in self._authors.items()
            if group_id == group and stored
        }

    async def group_messages(
        self, group: UUID, author: str, after: int, limit: int
    ) -> list[Message]:
        _check_limit(limit)
        stored = self._authors.get((group, author), {})
        return [stored[seq] for seq in sorted(seq for seq in stored if seq > after)][:limit]

    async def page(
        self, conversation_id: UUID, limit: int, before: UUID | None = None
    ) -> list[Message]:
        _check_limit(limit)
        seqs = self._conversation_seqs.get(conversation_id, [])
        end = len(seqs)
        if before is not None:
            if before not in self._seq_of:
                raise MessageNotFound(f"no message {before} in the history")
            end = bisect_left(seqs, self._seq_of[before])
        return [self._by_seq[seq] for seq in reversed(seqs[max(0, end - limit) : end])]

    async def search(self, text: str, limit: int) -> list[Message]:
        """Messages containing every term of ``text``, newest first.

        A term is split into words like a body is, and those words must appear in a row, the
        last one as a prefix (``lore`` finds ``lorem``), as in SQLite.
        """
        _check_limit(limit)
        phrases = [phrase for phrase in map(_words, text.split()) if phrase]
        if not phrases:
            return []
        found: list[Message] = []
        for seq in reversed(self._by_seq):
            if all(_contains(self._words[seq], phrase) for phrase in phrases):
                found.append(self._by_seq[seq])
                if len(found) == limit:
                    break
        return found

    def latest_seq(self, conversation_id: UUID) -> int | None:
        """Where the latest message of a conversation was stored, or ``None`` if it has none."""
        seqs = self._conversation_seqs.get(conversation_id)
        return seqs[-1] if seqs else None

    def seq_of(self, message_id: UUID, conversation_id: UUID) -> int | None:
        """Where a message of that conversation was stored, or ``None`` if it is not one."""
        seq = self._seq_of.get(message_id)
        if seq is None or self._by_seq[seq].conversation_id != conversation_id:
            return None
        return seq

    def last_seq(self) -> int:
        """Where the last message was stored (0 for none): later ones get a larger number."""
        return self._next_seq

    def received_after(
        self, conversation_id: UUID, seq: int, upto: int | None = None
    ) -> list[Message]:
        """The received messages of a conversation stored after ``seq`` (and up to ``upto``,
        if given), in storage order."""
        seqs = self._conversation_seqs.get(conversation_id, [])
        end = len(seqs) if upto is None else bisect_left(seqs, upto + 1)
        later = (self._by_seq[s] for s in seqs[bisect_left(seqs, seq + 1) : end])
        return [m for m in later if m.state is MessageState.RECEIVED]


class InMemoryConversationRepository:
    """The :class:`~chinwag.application.ports.ConversationRepository` port, kept in a dict.

    It orders conversations by the messages of the twin it is given.
    """

    def __init__(self, messages: InMemoryMessageRepository) -> None:
        self._messages = messages
        self._conversations: dict[UUID, Conversation] = {}
        self._read_upto: dict[UUID, int] = {}

    async def save(self, conversations: Sequence[Conversation]) -> None:
        for conversation in conversations:
            self._conversations.setdefault(conversation.id, conversation)

    async def get(self, conversation_id: UUID) -> Conversation | None:
        return self._conversations.get(conversation_id)

    async def list_all(self) -> list[Conversation]:
        """Every conversation, latest message first; those without messages last, oldest first."""

        def newest_first(conversation: Conversation) -> tuple[bool, int]:
            seq = self._messages.latest_seq(conversation.id)
            return (seq is None, -(seq or 0))

        return sorted(self._conversations.values(), key=newest_first)

    async def mark_read(self, conversation_id: UUID, upto: UUID) -> None:
        if conversation_id not in self._conversations:
            return
        seq = self._messages.seq_of(upto, conversation_id) or 0
        self._read_upto[conversation_id] = max(self._read_upto.get(conversation_id, 0), seq)

    async def history_end(self) -> int:
        return self._messages.last_seq()

    async def unread(self, stored_upto: int | None = None) -> dict[UUID, Unread]:
        found: dict[UUID, Unread] = {}
        for conversation_id in self._conversations:
            later = self._messages.received_after(
                conversation_id, self._read_upto.get(conversation_id, 0), stored_upto
            )
            if later:
                found[conversation_id] = Unread(len(later), later[0].id)
        return found
