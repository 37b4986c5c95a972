"""Where theta hashes live: the shared SQL database (default) or Redis, behind one interface (spec §4.3,
§4.6, §4.10).

Every experiment has a theta *version*, +1 per commit. Readers remember the version they saw; a commit
re-checks it under the experiment's lock, so a call that read stale theta is re-run instead of losing an
update. `set_reward` and `simulate` hold the experiment's lock for their whole run (`primary`); other
writers take the locks they need at commit, in exp_id order, with a bounded wait.

Locks: an in-process lock per experiment always (SQLite is single-process), plus, across processes, a
PostgreSQL row lock (`SELECT ... FOR UPDATE` on the experiment, held by the transaction that commits) or
a Redis token lock (`SET NX PX`).

Small thetas are cached per process with their version: a cached copy is used only while the stored
version is the same, so the cache never serves stale theta, also with several server processes.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from crucible.core.db import Database
from crucible.dialects.streamingbandit import theta_text
from crucible.dialects.streamingbandit.models import SbExperiment, SbTheta

Hash = dict[str, str]
Change = tuple[str, bool, Hash]
"""(theta key, whether the stored hash is dropped first, fields to merge in)."""

COMMIT_LOCK_SECONDS = 2.0
"""Bounded wait for the locks a commit needs beyond the one the call holds (spec §4.6)."""
EXPERIMENTS = SbExperiment.__table__
THETA = SbTheta.__table__
# Statements on the request path are built once: building one costs more than running it on SQLite.
VERSION = select(EXPERIMENTS.c.theta_version).where(EXPERIMENTS.c.id == bindparam("exp_id"))
LOCK_VERSION = (
    select(func.set_config("lock_timeout", bindparam("timeout"), True), EXPERIMENTS.c.theta_version)
    .where(EXPERIMENTS.c.id == bindparam("exp_id"))
    .with_for_update()
)
"""PostgreSQL: bound the wait for the row lock and take it in one round trip (`set_config` runs before
the lock is requested)."""
BUMP = (
    update(EXPERIMENTS)
    .where(EXPERIMENTS.c.id == bindparam("exp_id"), EXPERIMENTS.c.theta_version == bindparam("seen"))
    .values(theta_version=bindparam("next_version"))
)
THETA_ROWS = select(THETA.c.key, THETA.c.fields).where(THETA.c.exp_id == bindparam("exp_id"))
THETA_SIZE = select(func.sum(func.length(THETA.c.key) + func.length(THETA.c.fields))).where(
    THETA.c.exp_id == bindparam("exp_id")
)
THETA_EXACT = THETA_ROWS.where(THETA.c.key == bindparam("prefix"))
THETA_SCOPE = THETA_ROWS.where(
    or_(
        THETA.c.key == bindparam("prefix"),
        (THETA.c.key >= bindparam("low")) & (THETA.c.key < bindparam("high")),
    )
).order_by(THETA.c.key)
THETA_KEYS = THETA_ROWS.where(THETA.c.key.in_(bindparam("keys", expanding=True)))
THETA_DELETE = delete(THETA).where(
    THETA.c.exp_id == bindparam("exp_id"), THETA.c.key.in_(bindparam("keys", expanding=True))
)
SHIP_MAX_HASHES = 512
SHIP_MAX_BYTES = 1 << 20
"""A theta up to this size travels with the call (and is cached); a larger one is read on demand."""
CACHE_ENTRIES = 4096


class ThetaConflict(Exception):
    """The theta a call read changed before it could commit, or a commit lock was not free in time:
    the call is discarded and run again."""


class LockTimeout(Exception):
    """The experiment's lock stayed taken for longer than the call may wait."""


@dataclass(frozen=True)
class Snapshot:
    """An experiment's committed theta at `version`; `hashes` is None when too large to ship."""

    exp_id: str
    version: int
    hashes: dict[str, Hash] | None
    size: int


@dataclass
class HeldLock:
    """The lock of one experiment, held for a whole call; `connection` (PostgreSQL) is in the transaction
    holding the row lock, through which the call commits."""

    exp_id: str
    version: int
    connection: Connection | None = None
    after_commit: list[Callable[[], None]] = field(default_factory=list)


def hash_size(key: str, fields: Mapping[str, str]) -> int:
    return len(key) + sum(len(k) + len(v) for k, v in fields.items())


class LocalLocks:
    """One in-process lock per experiment."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock_of(self, exp_id: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(exp_id)
            if lock is None:
                lock = self._locks[exp_id] = threading.Lock()
            return lock

    @contextmanager
    def hold(self, exp_id: str, timeout: float) -> Iterator[None]:
        lock = self.lock_of(exp_id)
        if not lock.acquire(timeout=max(0.0, timeout)):
            raise LockTimeout(exp_id)
        try:
            yield
        finally:
            lock.release()


class ThetaCache:
    """Small thetas by experiment, each with the version it belongs to (LRU), and the newest version this
    process knows was committed or read for each experiment.

    An entry older than the newest known version is never served, so a snapshot that was being read
    while another thread committed cannot linger in the cache."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self._entries: OrderedDict[str, Snapshot] = OrderedDict()
        self._known: dict[str, int] = {}
        self._size = entries
        self._lock = threading.Lock()

    def get(self, exp_id: str, version: int | None) -> Snapshot | None:
        """The entry at `version`; with None, the entry at the newest version this process knows."""
        with self._lock:
            snapshot = self._entries.get(exp_id)
            wanted = self._known.get(exp_id) if version is None else version
            if snapshot is None or snapshot.version != wanted:
                return None
            self._entries.move_to_end(exp_id)
            return snapshot

    def known_version(self, exp_id: str) -> int | None:
        with self._lock:
            return self._known.get(exp_id)

    def put(self, snapshot: Snapshot) -> None:
        with self._lock:
            known = self._known.get(snapshot.exp_id, -1)
            if snapshot.version < known:
                return
            self._known[snapshot.exp_id] = snapshot.version
            if snapshot.hashes is None:
                self._entries.pop(snapshot.exp_id, None)
                return
            self._entries[snapshot.exp_id] = snapshot
            self._entries.move_to_end(snapshot.exp_id)
            while len(self._entries) > self._size:
                evicted, _ = self._entries.popitem(last=False)
                self._known.pop(evicted, None)

    def advance(self, exp_id: str, version: int, changes: list[Change]) -> None:
        """After a commit from `version` to `version + 1`: derive the new entry from the old one (or
        only remember the new version when there is no entry at `version`)."""
        with self._lock:
            current = self._entries.get(exp_id)
            if current is None or current.version != version or current.hashes is None:
                if self._known.get(exp_id, -1) <= version:
                    self._known[exp_id] = version + 1
                    self._entries.pop(exp_id, None)
                return
        hashes = dict(current.hashes)
        for key, replaced, fields in changes:
            merged = {**({} if replaced else hashes.get(key, {})), **fields}
            if merged:
                hashes[key] = merged
            else:
                hashes.pop(key, None)
        size = sum(hash_size(k, v) for k, v in hashes.items())
        small = len(hashes) <= SHIP_MAX_HASHES and size <= SHIP_MAX_BYTES
        self.put(Snapshot(exp_id, version + 1, hashes if small else None, size))


def select_from(hashes: Mapping[str, Hash], prefix: str, exact: bool) -> dict[str, Hash]:
    if exact:
        return {prefix: dict(hashes[prefix])} if prefix in hashes else {}
    return {k: dict(v) for k, v in hashes.items() if theta_text.in_scope(k, prefix)}


class ThetaStore(ABC):
    """The interface the rest of the dialect uses; see the module docstring for the rules."""

    single_process = False
    """True when every theta commit goes through this process (SQL theta on SQLite, spec §4.6), so the
    newest version it knows is the stored one and reads need not ask the database for it."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.locks = LocalLocks()
        self.cache = ThetaCache()

    @abstractmethod
    def version(self, exp_id: str) -> int:
        """The committed version now."""

    @abstractmethod
    def load(self, exp_id: str) -> Snapshot:
        """Read the committed theta (or, when large, only its version and size) consistently."""

    @abstractmethod
    def read(self, exp_id: str, prefix: str, exact: bool) -> tuple[dict[str, Hash], int]:
        """The committed hashes a read at `prefix` addresses, with the version they belong to."""

    @abstractmethod
    def primary(self, exp_id: str, wait: float, lease: float) -> Iterator[HeldLock]:
        """Hold the experiment's lock for a whole call (a context manager)."""

    @abstractmethod
    def commit(
        self,
        changes: Mapping[str, list[Change]],
        seen: Mapping[str, int],
        held: HeldLock | None,
        write_rows: Callable[[Connection], None],
        bases: Mapping[str, Mapping[str, Hash] | None] | None = None,
    ) -> None:
        """Apply theta changes (checked against the versions `seen`) and `write_rows` (logs, advices)
        atomically; raises `ThetaConflict` and applies nothing when a version moved or a lock timed out.
        `bases` holds, per experiment, the whole theta the call read at its seen version, when it had it."""

    def snapshot(self, exp_id: str, version: int | None = None) -> Snapshot:
        """The committed theta, from the cache when it holds `version` (else the current version)."""
        if version is None and self.single_process:
            cached = self.cache.get(exp_id, None)
            if cached is not None:
                return cached
        if version is None:
            version = self.version(exp_id)
        cached = self.cache.get(exp_id, version)
        if cached is not None:
            return cached
        snapshot = self.load(exp_id)
        self.cache.put(snapshot)
        return snapshot

    def locked_version(self, exp_id: str) -> int:
        """The version under the experiment's lock: known in-process when single-process."""
        known = self.cache.known_version(exp_id) if self.single_process else None
        return known if known is not None else self.version(exp_id)

    def read_shaped(self, exp_id: str, key: Any = None, value: Any = None) -> dict[str, Any]:
        """`get_theta(key, value)` of the committed theta (stats routes, hourly snapshots)."""
        prefix = theta_text.theta_key(exp_id, key, value)
        exact = theta_text.is_exact(value)
        hashes, _ = self.read(exp_id, prefix, exact)
        return theta_text.shape_theta(prefix, hashes, exact)

    def _advance_after_commit(
        self,
        stack: ExitStack,
        held: HeldLock | None,
        changes: Mapping[str, list[Change]],
        seen: Mapping[str, int],
    ) -> None:
        """Update the cache once the commit is durable and before the commit's locks are released: when
        the held transaction ends, or when the transaction entered next on `stack` has committed."""

        def advance() -> None:
            for exp_id, ops in changes.items():
                self.cache.advance(exp_id, seen[exp_id], ops)

        if held is not None and held.connection is not None:
            held.after_commit.append(advance)
            return

        def after(exc_type: type[BaseException] | None, *_: object) -> None:
            if exc_type is None:
                advance()

        stack.push(after)


# --- SQL --------------------------------------------------------------------------------------------------


class SqlThetaStore(ThetaStore):
    """Theta in `sb_theta`; versions in `sb_experiments.theta_version`.

    A commit bumps each written experiment's version with `UPDATE ... WHERE theta_version = <seen>`:
    one statement checks the version, takes the row lock (PostgreSQL, bounded by `lock_timeout`) and
    moves it. When the call had the whole theta of an experiment, the merged hashes are computed from it
    (the version check proves it is still what is stored) and upserted without reading them back.
    """

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.postgres = db.engine.dialect.name == "postgresql"
        self.single_process = db.is_sqlite
        insert = (postgresql_insert if self.postgres else sqlite_insert)(THETA)
        self.upsert = insert.on_conflict_do_update(
            index_elements=[THETA.c.exp_id, THETA.c.key], set_={"fields": insert.excluded.fields}
        )

    def version(self, exp_id: str) -> int:
        with self.db.connect() as connection:
            return self._version(connection, exp_id)

    @staticmethod
    def _version(connection: Connection, exp_id: str) -> int:
        found = connection.scalar(VERSION, {"exp_id": exp_id})
        return int(found or 0)

    def load(self, exp_id: str) -> Snapshot:
        for _ in range(10):
            with self.db.connect() as connection:
                before = self._version(connection, exp_id)
                rows = connection.execute(THETA_ROWS.limit(SHIP_MAX_HASHES + 1), {"exp_id": exp_id}).all()
                hashes = {key: json.loads(text) for key, text in rows}
                size = sum(hash_size(k, v) for k, v in hashes.items())
                large = len(rows) > SHIP_MAX_HASHES or size > SHIP_MAX_BYTES
                if large:
                    size = int(connection.scalar(THETA_SIZE, {"exp_id": exp_id}) or 0)
                after = self._version(connection, exp_id)
            if before == after:  # no commit in between (each commit moves the version)
                return Snapshot(exp_id, before, None if large else hashes, size)
        raise ThetaConflict(exp_id)

    def read(self, exp_id: str, prefix: str, exact: bool) -> tuple[dict[str, Hash], int]:
        low, high = theta_text.child_range(prefix)
        query = THETA_EXACT if exact else THETA_SCOPE
        parameters = {"exp_id": exp_id, "prefix": prefix, "low": low, "high": high}
        for _ in range(10):
            with self.db.connect() as connection:
                before = self._version(connection, exp_id)
                rows = connection.execute(query, parameters).all()
                after = self._version(connection, exp_id)
            if before == after:
                return {key: json.loads(text) for key, text in rows}, before
        raise ThetaConflict(exp_id)

    @contextmanager
    def primary(self, exp_id: str, wait: float, lease: float) -> Iterator[HeldLock]:
        with self.locks.hold(exp_id, wait):
            if not self.postgres:  # single process: the in-process lock is the lock
                yield HeldLock(exp_id, self.locked_version(exp_id))
                return
            held: HeldLock | None = None
            with self.db.transaction() as connection:
                try:
                    row = connection.execute(
                        LOCK_VERSION, {"exp_id": exp_id, "timeout": f"{int(wait * 1000)}ms"}
                    ).first()
                    version = row[1] if row is not None else 0
                except OperationalError as error:
                    raise LockTimeout(exp_id) from error
                held = HeldLock(exp_id, int(version or 0), connection)
                yield held
            for callback in held.after_commit:
                callback()

    def commit(
        self,
        changes: Mapping[str, list[Change]],
        seen: Mapping[str, int],
        held: HeldLock | None,
        write_rows: Callable[[Connection], None],
        bases: Mapping[str, Mapping[str, Hash] | None] | None = None,
    ) -> None:
        written = sorted(changes)
        with ExitStack() as stack:
            try:
                for exp_id in written:
                    if held is None or exp_id != held.exp_id:
                        stack.enter_context(self.locks.hold(exp_id, COMMIT_LOCK_SECONDS))
            except LockTimeout as error:
                raise ThetaConflict(str(error)) from None
            self._advance_after_commit(stack, held, {e: changes[e] for e in written}, seen)
            if held is not None and held.connection is not None:
                connection = held.connection
            else:
                connection = stack.enter_context(self.db.transaction())
            if self.postgres and any(held is None or e != held.exp_id for e in written):
                connection.execute(_lock_timeout(COMMIT_LOCK_SECONDS))  # row locks beyond the held one
            for exp_id in written:  # in exp_id order: locks are taken in that order
                self._bump(connection, exp_id, seen[exp_id])
                self._apply(connection, exp_id, changes[exp_id], (bases or {}).get(exp_id))
            write_rows(connection)

    @staticmethod
    @staticmethod
    def _bump(connection: Connection, exp_id: str, seen: int) -> None:
        try:
            moved = connection.execute(
                BUMP, {"exp_id": exp_id, "seen": seen, "next_version": seen + 1}
            ).rowcount
        except OperationalError as error:
            raise ThetaConflict("commit lock timed out") from error
        if moved != 1:
            raise ThetaConflict("theta changed since it was read")

    def _apply(
        self, connection: Connection, exp_id: str, ops: list[Change], base: Mapping[str, Hash] | None
    ) -> None:
        if base is None:  # the call read on demand: merge with what is stored
            keys = [key for key, replaced, _ in ops if not replaced]
            found = connection.execute(THETA_KEYS, {"exp_id": exp_id, "keys": keys}) if keys else []
            base = {key: json.loads(text) for key, text in found}
        doomed: list[str] = []
        kept: list[dict[str, str]] = []
        for key, replaced, fields in ops:
            merged = {**({} if replaced else base.get(key, {})), **fields}
            if merged:
                kept.append({"exp_id": exp_id, "key": key, "fields": json.dumps(merged)})
            else:
                doomed.append(key)
        if doomed:
            connection.execute(THETA_DELETE, {"exp_id": exp_id, "keys": doomed})
        if kept:
            connection.execute(self.upsert, kept)


def _lock_timeout(seconds: float) -> Any:
    from sqlalchemy import text

    return text(f"SET LOCAL lock_timeout = '{int(seconds * 1000)}ms'")


# --- Redis ------------------------------------------------------------------------------------------------

_LOAD = """
local v = redis.call('GET', KEYS[2]) or '0'
local n = redis.call('ZCARD', KEYS[1])
local out = {v, n}
if n > tonumber(ARGV[1]) then return out end
for _, k in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  out[#out + 1] = k
  out[#out + 1] = redis.call('HGETALL', k)
end
return out
"""
_SIZE = """
local total = 0
for _, k in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  total = total + string.len(k)
  for _, t in ipairs(redis.call('HGETALL', k)) do total = total + string.len(t) end
end
return total
"""
_READ = """
local v = redis.call('GET', KEYS[2]) or '0'
local keys
if ARGV[2] == '1' then
  keys = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[1], '[' .. ARGV[1])
else
  keys = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[1], '[' .. ARGV[1])
  for _, k in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], '[' .. ARGV[3], '(' .. ARGV[4])) do
    keys[#keys + 1] = k
  end
end
local out = {v}
for _, k in ipairs(keys) do
  out[#out + 1] = k
  out[#out + 1] = redis.call('HGETALL', k)
end
return out
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisThetaStore(ThetaStore):
    """Theta hashes under the original key names, an index ZSET `sb:idx:<id>` for prefix reads, the
    version `sb:ver:<id>` and the lock `sb:lock:<id>`; commits in MULTI/EXEC. The server writes only
    text (no `DataError` from redis-py)."""

    def __init__(self, db: Database, redis_url: str) -> None:
        import redis

        super().__init__(db)
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self._load = self.redis.register_script(_LOAD)
        self._size = self.redis.register_script(_SIZE)
        self._read = self.redis.register_script(_READ)
        self._release = self.redis.register_script(_RELEASE)

    @staticmethod
    def index_key(exp_id: str) -> str:
        return f"sb:idx:{exp_id}"

    @staticmethod
    def version_key(exp_id: str) -> str:
        return f"sb:ver:{exp_id}"

    @staticmethod
    def lock_key(exp_id: str) -> str:
        return f"sb:lock:{exp_id}"

    def version(self, exp_id: str) -> int:
        return int(self.redis.get(self.version_key(exp_id)) or 0)

    def load(self, exp_id: str) -> Snapshot:
        keys = [self.index_key(exp_id), self.version_key(exp_id)]
        answer = self._load(keys=keys, args=[SHIP_MAX_HASHES])
        version, count = int(answer[0]), int(answer[1])
        if count > SHIP_MAX_HASHES:
            return Snapshot(exp_id, version, None, int(self._size(keys=keys[:1])))
        hashes = _pairs_to_hashes(answer[2:])
        size = sum(hash_size(k, v) for k, v in hashes.items())
        if size > SHIP_MAX_BYTES:
            return Snapshot(exp_id, version, None, size)
        return Snapshot(exp_id, version, hashes, size)

    def read(self, exp_id: str, prefix: str, exact: bool) -> tuple[dict[str, Hash], int]:
        low, high = theta_text.child_range(prefix)
        keys = [self.index_key(exp_id), self.version_key(exp_id)]
        answer = self._read(keys=keys, args=[prefix, "1" if exact else "0", low, high])
        return _pairs_to_hashes(answer[1:]), int(answer[0])

    @contextmanager
    def _redis_lock(self, exp_id: str, wait: float, lease: float) -> Iterator[None]:
        token = secrets.token_hex(8)
        deadline = time.monotonic() + wait
        pause = 0.001
        while not self.redis.set(self.lock_key(exp_id), token, nx=True, px=int(lease * 1000)):
            if time.monotonic() >= deadline:
                raise LockTimeout(exp_id)
            time.sleep(pause)
            pause = min(pause * 2, 0.02)
        try:
            yield
        finally:
            self._release(keys=[self.lock_key(exp_id)], args=[token])

    @contextmanager
    def primary(self, exp_id: str, wait: float, lease: float) -> Iterator[HeldLock]:
        started = time.monotonic()
        with (
            self.locks.hold(exp_id, wait),
            self._redis_lock(exp_id, max(0.0, wait - (time.monotonic() - started)), lease),
        ):
            yield HeldLock(exp_id, self.version(exp_id))

    def commit(
        self,
        changes: Mapping[str, list[Change]],
        seen: Mapping[str, int],
        held: HeldLock | None,
        write_rows: Callable[[Connection], None],
        bases: Mapping[str, Mapping[str, Hash] | None] | None = None,
    ) -> None:
        import redis

        written = sorted(changes)
        with ExitStack() as stack:
            try:
                for exp_id in written:
                    if held is None or exp_id != held.exp_id:
                        stack.enter_context(self.locks.hold(exp_id, COMMIT_LOCK_SECONDS))
                        stack.enter_context(self._redis_lock(exp_id, COMMIT_LOCK_SECONDS, 10.0))
            except LockTimeout as error:
                raise ThetaConflict(str(error)) from None
            self._advance_after_commit(stack, None, {e: changes[e] for e in written}, seen)
            with self.db.transaction() as connection:
                write_rows(connection)
                if written:
                    try:
                        self._commit_theta(changes, seen, written)
                    except redis.WatchError as error:
                        raise ThetaConflict("theta changed since it was read") from error

    def _commit_theta(self, changes: Mapping[str, list[Change]], seen: Mapping[str, int], written: list[str]):
        version_keys = [self.version_key(exp_id) for exp_id in written]
        with self.redis.pipeline() as pipe:
            pipe.watch(*version_keys)
            current = [int(v or 0) for v in pipe.mget(version_keys)]
            if current != [seen.get(exp_id) for exp_id in written]:
                raise ThetaConflict("theta changed since it was read")
            pipe.multi()
            for exp_id in written:
                index = self.index_key(exp_id)
                for key, replaced, fields in changes[exp_id]:
                    if replaced:
                        pipe.delete(key)
                        if not fields:
                            pipe.zrem(index, key)
                    if fields:
                        pipe.hset(key, mapping=fields)
                        pipe.zadd(index, {key: 0})
                pipe.incr(self.version_key(exp_id))
            pipe.execute()


def _pairs_to_hashes(items: list[Any]) -> dict[str, Hash]:
    hashes: dict[str, Hash] = {}
    for i in range(0, len(items), 2):
        flat = items[i + 1]
        if flat:
            hashes[items[i]] = {flat[j]: flat[j + 1] for j in range(0, len(flat), 2)}
    return hashes
