"""The in-process caches never serve what is older than what the process knows was committed."""

from __future__ import annotations

from crucible.dialects.streamingbandit.theta_store import Snapshot, ThetaCache


def test_a_snapshot_read_before_a_commit_is_not_served_after_it() -> None:
    cache = ThetaCache()
    cache.put(Snapshot("e", 3, {"exp:e:_theta": {"n": "1"}}, 10))
    cache.advance("e", 3, [("exp:e:_theta", False, {"n": "2"})])
    newest = cache.get("e", None)
    assert newest is not None and newest.version == 4 and newest.hashes == {"exp:e:_theta": {"n": "2"}}
    cache.put(Snapshot("e", 3, {"exp:e:_theta": {"n": "1"}}, 10))  # a slow reader arriving late
    assert cache.get("e", None) == newest


def test_a_commit_without_an_entry_still_moves_the_known_version() -> None:
    cache = ThetaCache()
    cache.advance("e", 0, [("exp:e:_theta:k", False, {"a": "1"})])
    assert cache.known_version("e") == 1 and cache.get("e", None) is None
    cache.put(Snapshot("e", 0, {}, 0))  # read before that commit: refused
    assert cache.get("e", None) is None
    cache.put(Snapshot("e", 1, {"exp:e:_theta:k": {"a": "1"}}, 20))
    assert cache.get("e", None) is not None


def test_replaced_and_emptied_hashes_leave_the_entry() -> None:
    cache = ThetaCache()
    cache.put(Snapshot("e", 0, {"exp:e:_theta:a": {"x": "1", "y": "2"}, "exp:e:_theta:b": {"z": "3"}}, 0))
    cache.advance("e", 0, [("exp:e:_theta:a", True, {"x": "9"}), ("exp:e:_theta:b", True, {})])
    assert cache.get("e", 1).hashes == {"exp:e:_theta:a": {"x": "9"}}  # type: ignore[union-attr]


def test_a_large_theta_is_not_kept() -> None:
    cache = ThetaCache()
    cache.put(Snapshot("e", 0, {}, 0))
    cache.advance("e", 0, [(f"exp:e:_theta:{i}", False, {"v": "x"}) for i in range(600)])
    assert cache.get("e", None) is None and cache.known_version("e") == 1
