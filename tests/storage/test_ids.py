"""Row ids: UUID version 7, in the order they were made, unguessable and distinct."""

from __future__ import annotations

import time
import uuid

from storage.types import new_id, short_reference


def test_an_id_is_a_version_7_uuid_in_32_hex_digits_carrying_its_time() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    assert len(made) == 32 and int(made, 16) >= 0
    parsed = uuid.UUID(made)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert before <= int(made[:12], 16) <= after


def test_ids_made_later_sort_after_and_none_repeats() -> None:
    earlier = [new_id() for _ in range(2000)]
    # Until the clock is past the millisecond the last of them carries (a bounded wait).
    last_made = int(earlier[-1][:12], 16)
    deadline = time.monotonic() + 1.0
    while time.time_ns() // 1_000_000 <= last_made and time.monotonic() < deadline:
        pass
    later = [new_id() for _ in range(2000)]
    assert max(earlier) < min(later)
    assert len(set(earlier + later)) == 4000
    # Made within the same milliseconds, they still differ where a person reads them.
    assert len({short_reference(i) for i in earlier[:200]}) == 200


def test_node_names_made_in_the_same_moment_on_one_host_differ() -> None:
    """A node's name (`host:pid:random`) fences its claims: two gateways started together
    with the same host name and pid (containers) must still differ in it."""
    from api.app import node_name

    names = {node_name() for _ in range(20)}
    assert len(names) == 20
    assert all(len(name.rsplit(":", 1)[1]) == 6 for name in names)
