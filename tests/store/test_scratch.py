"""A sync's working set on disk (store.scratch): the rules the Google sync relies on."""
from __future__ import annotations

import os

from scimsvc.store.scratch import Scratch, Stored


def _user(scim_id: str, *, removed: bool = False, name: str = "ann@example.com") -> Stored:
    return Stored(scim_id, b"\x01" * 16, not removed, removed, name)


def test_a_live_account_wins_over_a_removed_one_with_the_same_external_id():
    known = Scratch()
    try:
        known.keep([("g1", _user("live")), ("g1", _user("older-removed", removed=True))])
        assert known.stored("g1").scim_id == "live"
        known.keep([("g2", _user("removed", removed=True)), ("g2", _user("returned"))])
        assert known.stored("g2") == _user("returned")
        assert known.stored("nobody") is None
    finally:
        known.close()


def test_what_was_not_seen_is_what_a_run_removes():
    known = Scratch()
    try:
        known.keep([("g1", _user("a")), ("g2", _user("b")), ("g3", _user("c", removed=True))])
        assert known.see("g1") is True
        assert known.see("g1") is False  # listed twice: the second is skipped
        assert known.unseen() == 1
        assert list(known.not_seen()) == ["b"]  # never the removed one
    finally:
        known.close()


def test_names_and_creates_follow_renames_and_creations():
    known = Scratch()
    try:
        known.name("ann@example.com", "a")
        known.name("ann@example.com", "a2")
        assert known.holder("ann@example.com") == "a2" and known.live() == 1
        known.forget_name("ann@example.com")
        assert known.holder("ann@example.com") is None
        known.will_create("bob@example.com")
        assert known.creates("bob@example.com")
        known.created("bob@example.com")
        assert not known.creates("bob@example.com")
        known.will_create("carol@example.com")
        known.forget_creates()
        assert not known.creates("carol@example.com")
    finally:
        known.close()


def test_the_file_is_private_and_gone_when_the_run_ends():
    known = Scratch()
    path = known.path
    assert os.stat(path).st_mode & 0o077 == 0  # directory data: never readable by others
    known.close()
    assert not os.path.exists(path)
