"""The list+watch helper's handling of expired watches (pure logic; no API server)."""

from __future__ import annotations

import asyncio

import pytest

from dask_k8s_common import watching


def test_a_newer_list_watches_at_once() -> None:
    backoff = watching.ExpiryBackoff(limit=60)
    assert backoff.pause("100") == 0  # the first list: nothing expired
    backoff.expired_at("100")
    assert backoff.pause("105") == 0


def test_a_list_at_the_expired_version_backs_off_doubling_up_to_the_limit() -> None:
    backoff = watching.ExpiryBackoff(limit=5)
    pauses = []
    for _ in range(6):
        backoff.expired_at("100")
        pauses.append(backoff.pause("100"))
    assert pauses == [1, 2, 4, 5, 5, 5]


def test_the_back_off_starts_over_once_the_version_moves() -> None:
    backoff = watching.ExpiryBackoff(limit=60)
    for _ in range(3):
        backoff.expired_at("100")
        backoff.pause("100")
    backoff.expired_at("100")
    assert backoff.pause("101") == 0
    backoff.expired_at("101")
    assert backoff.pause("101") == 1


def test_no_wait_without_an_expiry_in_between() -> None:
    backoff = watching.ExpiryBackoff(limit=60)
    backoff.expired_at("100")
    assert backoff.pause("100") == 1
    assert backoff.pause("100") == 0  # a list after a watch that ended normally, not a 410


def test_the_first_wait_is_never_longer_than_the_limit() -> None:
    backoff = watching.ExpiryBackoff(limit=0.5)
    backoff.expired_at("7")
    assert backoff.pause("7") == 0.5


async def test_follow_relists_after_an_expiry_and_waits_only_when_the_version_did_not_move(monkeypatch) -> None:
    """follow's loop around ExpiryBackoff: lists at 7, 7, 7, 9; every watch is refused at the
    listed version. It waits 1 s and 2 s before watching at the repeated 7, not before 9."""
    versions = iter(["7", "7", "7", "9"])
    lists: list[str] = []
    sleeps: list[float] = []

    async def list_objects(*_):
        lists.append(next(versions))
        return [], lists[-1]

    async def watch(api, kind, namespace, selector, since, on_event, timeouts):
        if len(lists) == 4:
            raise asyncio.CancelledError  # the end of the story
        raise watching.WatchExpired("too old resource version", since)

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    monkeypatch.setattr(watching, "list_objects", list_objects)
    monkeypatch.setattr(watching, "watch", watch)
    monkeypatch.setattr(watching.asyncio, "sleep", sleep)
    with pytest.raises(asyncio.CancelledError):
        await watching.follow(None, "DaskCluster", "ns", None, lambda _: None, lambda *_: None,
                              watching.Timeouts(request=1, watch=30))
    assert lists == ["7", "7", "7", "9"]
    assert sleeps == [1, 2]
