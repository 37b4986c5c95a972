"""Database.write: concurrent writers of one process never lose an update (SQLite queues them on an
in-process lock instead of SQLite's sleep-and-retry busy handler; PostgreSQL on its row locks)."""

from __future__ import annotations

import threading

from sqlalchemy import text

from crucible.core.db import Database


def test_concurrent_write_transactions_all_apply(database_url: str) -> None:
    db = Database(database_url)
    try:
        with db.write() as session:
            session.execute(text("CREATE TABLE counter_test (value INTEGER)"))
            session.execute(text("INSERT INTO counter_test VALUES (0)"))
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(25):
                    with db.write() as session:
                        value = session.execute(text("SELECT value FROM counter_test")).scalar_one()
                        if not db.is_sqlite:
                            value = session.execute(
                                text("SELECT value FROM counter_test FOR UPDATE")
                            ).scalar_one()
                        session.execute(text("UPDATE counter_test SET value = :v"), {"v": value + 1})
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with db.read() as session:
            assert session.execute(text("SELECT value FROM counter_test")).scalar_one() == 200
        assert (db._sqlite_writers is not None) == db.is_sqlite
    finally:
        with db.write() as session:
            session.execute(text("DROP TABLE counter_test"))
        db.dispose()
