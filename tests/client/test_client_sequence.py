"""Per-channel sequence bookkeeping: delivery, duplicates, gaps and recovery."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from partyray.gateway._client_sequence import ChannelSequence, Verdict


def acked(seq: int = 0, epoch: str = "e1") -> ChannelSequence:
    state = ChannelSequence()
    assert state.request() is None
    assert state.on_ack(seq, True, epoch)
    return state


def test_frames_before_the_first_ack_are_skipped() -> None:
    """Nothing is delivered until the subscription is acknowledged."""
    assert ChannelSequence().on_data(1) is Verdict.SKIP


def test_in_order_frames_are_delivered() -> None:
    """Consecutive seqs after the acked seq are delivered."""
    state = acked(5)
    assert [state.on_data(s) for s in (6, 7)] == [Verdict.DELIVER] * 2
    assert state.last == 7


def test_old_frames_are_duplicates() -> None:
    """A seq at or below the last delivered one is a duplicate."""
    state = acked(5)
    assert state.on_data(5) is Verdict.DUPLICATE
    assert state.on_data(2) is Verdict.DUPLICATE


def test_a_jump_is_a_gap_then_skipped_while_recovering() -> None:
    """The first frame past a gap asks for recovery; later ones wait for it."""
    state = acked(5)
    assert state.on_data(8) is Verdict.GAP
    assert state.request() == 5
    assert state.on_data(9) is Verdict.SKIP
    assert state.on_data(6) is Verdict.DELIVER


def test_recovered_ack_keeps_the_position() -> None:
    """A recovered answer leaves last alone, so the replay continues it."""
    state = acked(5)
    state.on_data(6)
    assert state.request() == 6
    assert state.on_ack(9, True, "e1")
    assert state.last == 6
    assert state.on_data(7) is Verdict.DELIVER


def test_unrecovered_ack_jumps_to_the_room_seq() -> None:
    """When history is gone the position moves to the room's latest seq."""
    state = acked(5)
    state.request()
    assert not state.on_ack(40, False, "e1")
    assert state.last == 40
    assert state.on_data(41) is Verdict.DELIVER


def test_new_epoch_is_never_continuous() -> None:
    """A room in a new life numbers again; its seqs are not ours."""
    state = acked(5)
    state.request()
    assert not state.on_ack(2, True, "e2")
    assert (state.last, state.epoch) == (2, "e2")


def test_seq_behind_ours_is_not_continuous() -> None:
    """A room whose latest seq is behind what was delivered lost its history."""
    state = acked(5)
    state.request()
    assert not state.on_ack(3, True, None)
    assert state.last == 3


def test_unasked_ack_after_a_room_restart() -> None:
    """An unasked, unrecovered ack resets the numbering."""
    state = acked(5)
    assert not state.on_ack(0, False, "e2")
    assert state.last == 0
    assert state.on_data(1) is Verdict.DELIVER


def test_a_broken_replay_promise_is_a_loss() -> None:
    """A recovered ack followed by a frame past the gap is reported, not re-asked."""
    state = acked(5)
    state.request()
    assert state.on_ack(9, True, "e1")
    assert state.on_data(10) is Verdict.LOST
    assert state.last == 10
    assert state.on_data(12) is Verdict.GAP


def test_a_completed_replay_ends_the_promise() -> None:
    """Once the replay reaches the acked seq, a later jump is an ordinary gap."""
    state = acked(5)
    state.request()
    assert state.on_ack(7, True, "e1")
    assert [state.on_data(s) for s in (6, 7)] == [Verdict.DELIVER] * 2
    assert state.on_data(9) is Verdict.GAP


def test_lost_socket_forgets_the_request() -> None:
    """After a lost socket, frames past a gap count as a new gap."""
    state = acked(5)
    state.request()
    state.socket_lost()
    assert state.on_data(9) is Verdict.GAP


@given(
    st.lists(st.integers(1, 30), max_size=200),
)
def test_delivery_is_ordered_and_unique(arrivals: list[int]) -> None:
    """Whatever arrives, what is delivered is 1, 2, 3, ... without repeats.

    Each gap is recovered the way the link does it: the replay from ``since``
    up to the highest seq seen so far follows the acknowledgement.
    """
    state = acked(0)
    delivered: list[int] = []
    pending = list(arrivals)
    while pending:
        seq = pending.pop(0)
        verdict = state.on_data(seq)
        if verdict is Verdict.DELIVER:
            delivered.append(seq)
        elif verdict is Verdict.GAP:
            since = state.request()
            assert since is not None
            assert state.on_ack(max(arrivals), True, "e1")
            pending[:0] = range(since + 1, max(arrivals) + 1)
    assert delivered == list(range(1, len(delivered) + 1))
