"""Room: numbering, membership, history, recovery, de-duplication and checks."""

from __future__ import annotations

import orjson
import pytest

from partyray.actors import Room, RoomConfig, SubscriberId, allow_all
from partyray.partitioning.address import RoomName
from partyray.partitioning.errors import SubscriptionRefused

GW1 = SubscriberId("gw-1")
GW2 = SubscriberId("gw-2")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_room(clock: Clock | None = None, **config: object) -> Room:
    return Room(RoomName("room:r1"), RoomConfig(**config), clock=clock or Clock())  # type: ignore[arg-type]


def test_sequence_numbers_grow_by_one_per_channel() -> None:
    """Each channel numbers its own messages from 1."""
    room = make_room()
    seqs = [room.publish("a", i).seq for i in range(3)]
    assert seqs == [1, 2, 3]
    assert room.publish("b", "x").seq == 1
    assert room.latest("a") == 3
    assert room.latest("missing") == 0


def test_data_that_is_not_json_raises_and_takes_no_seq() -> None:
    """A failed publish leaves no hole in the numbering and nothing in history."""
    room = make_room()
    room.publish("a", 1)
    with pytest.raises(TypeError):
        room.publish("a", b"bytes")
    assert room.publish("a", 2).seq == 2
    complete, kept = room.history("a", 0)
    assert complete
    assert [m.seq for m in kept] == [1, 2]


def test_frame_is_encoded_once_in_wire_form() -> None:
    """The message frame is the protocol's data frame."""
    room = make_room()
    outcome = room.publish("chat", {"text": "hi"})
    assert outcome.message is not None
    assert orjson.loads(outcome.message.frame) == {
        "type": "data",
        "channel": "chat",
        "data": {"text": "hi"},
        "seq": 1,
    }


def test_publish_names_each_subscribing_gateway_once() -> None:
    """Fan-out is per gateway: two connections of one gateway count once."""
    room = make_room()
    room.subscribe("chat", GW1, None)
    room.subscribe("chat", GW1, None)
    room.subscribe("chat", GW2, None)
    room.subscribe("other", GW2, None)
    outcome = room.publish("chat", 1)
    assert sorted(outcome.subscribers) == [GW1, GW2]
    stats = room.statistics()
    assert stats.connections == 4
    assert stats.subscribers == 2


def test_unsubscribe_counts_connections() -> None:
    """A gateway leaves a channel when its last connection does."""
    room = make_room()
    room.subscribe("chat", GW1, None)
    room.subscribe("chat", GW1, None)
    room.unsubscribe("chat", GW1)
    assert room.subscribers("chat") == {GW1}
    room.unsubscribe("chat", GW1)
    assert room.subscribers("chat") == set()
    room.unsubscribe("chat", GW1)  # idempotent
    room.unsubscribe("never", GW2)


def test_drop_subscriber_removes_it_everywhere() -> None:
    """A gone gateway is removed from every channel."""
    room = make_room()
    room.subscribe("a", GW1, None)
    room.subscribe("b", GW1, None)
    room.subscribe("b", GW2, None)
    assert room.drop_subscriber(GW1) == 2
    assert room.subscribers() == {GW2}


def test_since_recovers_every_missed_message_in_order() -> None:
    """A subscriber that saw seq N gets N+1 onwards."""
    room = make_room()
    for i in range(5):
        room.publish("chat", i)
    result = room.subscribe("chat", GW1, None, since=2)
    assert result.recovered
    assert result.seq == 5
    assert [m.seq for m in result.missed] == [3, 4, 5]


def test_since_at_latest_is_recovered_with_nothing_missed() -> None:
    """Nothing missed is a full recovery."""
    room = make_room()
    room.publish("chat", 1)
    result = room.subscribe("chat", GW1, None, since=1)
    assert result.recovered
    assert result.missed == ()


def test_since_beyond_history_count_is_not_recovered() -> None:
    """A history trimmed by count says plainly it no longer reaches back."""
    room = make_room(history_size=3)
    for i in range(10):
        room.publish("chat", i)
    result = room.subscribe("chat", GW1, None, since=5)
    assert not result.recovered
    assert result.missed == ()
    assert result.seq == 10
    recovered = room.subscribe("chat", GW1, None, since=7)
    assert recovered.recovered
    assert [m.seq for m in recovered.missed] == [8, 9, 10]


def test_history_trimmed_by_age() -> None:
    """Messages older than history_age leave the history."""
    clock = Clock()
    room = make_room(clock, history_age=10.0)
    room.publish("chat", "old")
    clock.now += 11
    room.publish("chat", "new")
    assert not room.subscribe("chat", GW1, None, since=0).recovered
    result = room.subscribe("chat", GW1, None, since=1)
    assert result.recovered
    assert [m.seq for m in result.missed] == [2]


def test_since_ahead_of_room_is_not_recovered() -> None:
    """A since the room never reached (it restarted) cannot be recovered."""
    room = make_room()
    room.publish("chat", 1)
    assert not room.subscribe("chat", GW1, None, since=50).recovered


def test_other_epoch_is_not_recovered() -> None:
    """Numbers of another life of the channel never count as this one's."""
    room = make_room()
    room.publish("chat", 1)
    epoch = room.subscribe("chat", GW1, None).epoch
    assert room.subscribe("chat", GW1, None, since=0, epoch=epoch).recovered
    assert not room.subscribe("chat", GW1, None, since=0, epoch="elsewhere").recovered


def test_forgotten_channel_starts_a_new_epoch() -> None:
    """A channel dropped when idle and empty comes back under a new epoch."""
    clock = Clock()
    room = make_room(clock, history_age=5.0)
    first = room.subscribe("chat", GW1, None)
    room.publish("chat", 1)
    room.unsubscribe("chat", GW1)
    clock.now += 6
    room.sweep()
    again = room.subscribe("chat", GW2, None)
    assert again.epoch != first.epoch
    assert again.seq == 0
    late = room.subscribe("chat", GW1, None, since=1, epoch=first.epoch)
    assert not late.recovered


def test_duplicate_message_id_is_delivered_once() -> None:
    """A retried publish keeps its first seq and goes to nobody again."""
    room = make_room()
    room.subscribe("chat", GW1, None)
    first = room.publish("chat", "x", "m-1")
    again = room.publish("chat", "x", "m-1")
    assert (first.seq, first.duplicate) == (1, False)
    assert again.seq == 1
    assert again.duplicate
    assert again.subscribers == ()
    assert again.message is None
    assert room.latest("chat") == 1
    assert room.statistics().duplicates == 1


def test_dedup_window_is_bounded_by_count_and_age() -> None:
    """Ids fall out of the window past its size or its age."""
    clock = Clock()
    room = make_room(clock, dedup_size=2, dedup_age=60.0)
    room.publish("c", 1, "a")
    room.publish("c", 2, "b")
    room.publish("c", 3, "c")
    assert not room.publish("c", 4, "a").duplicate
    clock.now += 61
    assert not room.publish("c", 5, "c").duplicate


def test_check_receives_channel_room_and_principal() -> None:
    """The subscription check sees who subscribes, and can refuse."""
    seen = []

    def check(channel: str, room: str, principal: str | None) -> bool:
        seen.append((channel, room, principal))
        return principal == "alice"

    room = make_room(check=check)
    room.subscribe("chat", GW1, "alice")
    with pytest.raises(SubscriptionRefused) as refused:
        room.subscribe("chat", GW1, "bob")
    assert refused.value.code == "forbidden"
    assert str(refused.value) == "subscription to 'chat' refused"
    assert seen == [("chat", "room:r1", "alice"), ("chat", "room:r1", "bob")]
    assert room.subscribers("chat") == {GW1}
    assert room.statistics().refused == 1


def test_builtin_check_keeps_user_channels_to_their_user() -> None:
    """users:<id>:... is for principal <id> alone; anonymous queries are open."""
    room = make_room()
    room.subscribe("users:alice:queries:q1", GW1, "alice")
    for principal in (None, "bob"):
        with pytest.raises(SubscriptionRefused):
            room.subscribe("users:alice:queries:q1", GW1, principal)
        with pytest.raises(SubscriptionRefused):
            room.subscribe("notes?userId=alice", GW1, principal)
    room.subscribe("users:undefined:queries:q2", GW1, None)
    room.subscribe("chat?roomId=r1", GW1, None)


def test_client_publish_needs_the_room_to_allow_it() -> None:
    """A client publish is refused unless the room allows it."""
    with pytest.raises(SubscriptionRefused, match="client publish is not allowed"):
        make_room().publish("chat", 1, from_client=True)
    assert (
        make_room(allow_client_publish=True).publish("c", 1, from_client=True).seq == 1
    )


def test_idle_room() -> None:
    """A room is idle after idle_timeout with no subscribers and no publishes."""
    clock = Clock()
    room = make_room(clock, idle_timeout=30.0, check=allow_all)
    room.subscribe("c", GW1, None)
    clock.now += 31
    assert not room.is_idle()
    room.unsubscribe("c", GW1)
    assert not room.is_idle()
    clock.now += 31
    assert room.is_idle()


def test_config_rejects_nonsense_bounds() -> None:
    """Bounds are checked when the configuration is made."""
    with pytest.raises(ValueError, match="history_size is negative"):
        RoomConfig(history_size=-1)
    with pytest.raises(ValueError, match="idle_timeout must be positive"):
        RoomConfig(idle_timeout=0)
