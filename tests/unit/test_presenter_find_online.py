"""The new chat dialog's search of who is online (issue 12): asked of the registry, never of the
presence set; one search on the network at a time; said clearly when nobody matches or the
registry is out of reach."""

from __future__ import annotations

import pytest

from chinwag.adapters.gui.presenter import ChatPresenter, Event
from chinwag.adapters.gui.presenter_new_chat import FOUND_AT_MOST, MORE, OUT_OF_REACH
from chinwag.adapters.gui.view import PersonRow
from chinwag.application.errors import RegistryUnavailable
from tests.unit.test_presenter import FakeSession, ImmediateRunner, RecordingView, signed_in


def test_opening_the_dialog_lists_who_is_online_but_you() -> None:
    presenter, view, session = signed_in(FakeSession(online={"bob", "carol"}))
    presenter.new_chat_search_requested("")
    assert view.last("show_new_chat_results") == (["bob", "carol"], "")
    # Two more than shown: alice herself, and one to know there are more.
    assert session.searched == [("", FOUND_AT_MOST + 2)]


def test_the_search_asks_the_registry_not_the_people_watched() -> None:
    # A big registry pushes only the people alice watches (bob); zoe is online all the same.
    presenter, view, session = signed_in(FakeSession(online={"bob", "zoe"}))
    presenter.handle([Event("presence", online=frozenset({"bob"}))])
    presenter.new_chat_search_requested(" Z ")
    assert session.searched[-1] == ("Z", FOUND_AT_MOST + 2)
    assert view.last("show_new_chat_results") == (["zoe"], "")


def test_nobody_found_says_so_with_what_was_typed() -> None:
    presenter, view, _ = signed_in(FakeSession(online={"bob"}))
    presenter.new_chat_search_requested("zed")
    assert view.last("show_new_chat_results") == ([], "Nobody online starts with “zed”.")
    presenter.new_chat_search_requested("al")  # only alice herself
    assert view.last("show_new_chat_results") == ([], "Nobody online starts with “al”.")
    presenter, view, _ = signed_in(FakeSession(online=set()))
    presenter.new_chat_search_requested("")
    assert view.last("show_new_chat_results") == ([], "Nobody else is online.")


def test_at_most_50_are_shown_and_it_says_there_are_more() -> None:
    many = {f"user{n:03d}" for n in range(120)}
    presenter, view, _ = signed_in(FakeSession(online=many))
    presenter.new_chat_search_requested("user")
    names, note = view.last("show_new_chat_results")
    assert names == sorted(many)[:FOUND_AT_MOST]
    assert note == MORE
    # Exactly 50 online: no "more".
    presenter, view, _ = signed_in(FakeSession(online=set(sorted(many)[:FOUND_AT_MOST])))
    presenter.new_chat_search_requested("user")
    names, note = view.last("show_new_chat_results")
    assert (len(names), note) == (FOUND_AT_MOST, "")


@pytest.mark.parametrize(
    ("problem", "said"),
    [
        (RegistryUnavailable("the registry at 127.0.0.1:7420 is out of reach"), OUT_OF_REACH),
        (ValueError("limit must be 1 to 100"), "Limit must be 1 to 100"),
    ],
)
def test_a_search_that_fails_says_why_in_the_dialog(problem: Exception, said: str) -> None:
    presenter, view, _ = signed_in(FakeSession(refuse_find=problem))
    presenter.new_chat_search_requested("b")
    assert view.last("show_new_chat_results") == ([], said)
    assert view.named("show_error") == []  # in the dialog, not the status bar


def test_an_unexpected_failure_is_logged_and_said(caplog: pytest.LogCaptureFixture) -> None:
    presenter, view, _ = signed_in(FakeSession(refuse_find=RuntimeError("boom")))
    presenter.new_chat_search_requested("b")
    assert view.last("show_new_chat_results") == ([], "Could not search who is online: boom")
    assert "could not search who is online" in caplog.text


def test_one_search_at_a_time_and_only_the_latest_text_is_searched_next() -> None:
    runner = ImmediateRunner()
    presenter, view, session = signed_in(FakeSession(online={"bob", "bea", "carol"}), runner)
    runner.park = True  # the network is slow
    presenter.new_chat_search_requested("b")
    presenter.new_chat_search_requested("be")
    presenter.new_chat_search_requested("bo")
    assert [prefix for prefix, _ in session.searched] == []  # parked: nothing ran yet
    assert len(runner.parked) == 1  # one search on the network
    runner.park = False
    runner.release()
    # "b" came back while "bo" waited: "bo" was searched, "b"'s answer never shown.
    assert [prefix for prefix, _ in session.searched] == ["b", "bo"]
    assert view.named("show_new_chat_results") == [(["bob"], "")]
    presenter.new_chat_search_requested("c")  # and searching goes on
    assert view.last("show_new_chat_results") == (["carol"], "")


def test_nothing_is_searched_while_signing_in_and_nothing_shown_once_closing() -> None:
    runner, session, view = ImmediateRunner(), FakeSession(online={"bob"}), RecordingView()
    presenter = ChatPresenter(runner, lambda name, registry: session, "127.0.0.1:7420")
    presenter.attach(view)
    runner.park = True
    presenter.start("alice")
    presenter.new_chat_search_requested("b")  # still signing in
    runner.park = False
    runner.release()
    assert session.searched == []
    runner.park = True
    presenter.new_chat_search_requested("b")
    presenter.close_requested()
    runner.park = False
    runner.release()
    assert session.searched == [("b", FOUND_AT_MOST + 2)]
    assert view.named("show_new_chat_results") == []


def test_picking_somebody_found_starts_the_chat_and_lists_them() -> None:
    presenter, view, session = signed_in(FakeSession(online={"bob", "carol"}))
    presenter.new_chat_search_requested("ca")
    assert view.last("show_new_chat_results") == (["carol"], "")
    presenter.new_chat_requested("carol")  # the dialog hands over the name picked
    assert session.added == ["carol"]
    assert view.named("close_new_chat") == [()]
    assert view.last("set_people") == ([PersonRow("carol", online=False, unread=0)],)
    presenter.handle([Event("presence", online=frozenset({"carol"}))])  # now watched
    assert view.last("set_people") == ([PersonRow("carol", online=True, unread=0)],)
