"""`crucible serve | worker | user | accesskey | db`: the server's command line.

Every command takes --data-dir and honours CRUCIBLE_DATA_DIR, CRUCIBLE_DATABASE_URL, CRUCIBLE_HOST and
CRUCIBLE_PORT (flags win over the environment).
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import sys
from pathlib import Path
from typing import Any

from crucible.core import accounts
from crucible.core.db import Database
from crucible.core.log_setup import configure_logging
from crucible.migrations import upgrade
from crucible.settings import Settings

log = logging.getLogger("crucible")

FIRST_ADMIN_FILE = "first-admin.json"


def load_settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("data_dir", "database_url", "host", "port"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def open_database(settings: Settings) -> Database:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url, settings.sqlite_synchronous)
    upgrade(db.url, db.engine)
    return db


def ensure_first_admin(settings: Settings, db: Database) -> tuple[str, str] | None:
    """On an empty install create `admin` with a random password, kept in the data directory so
    `make run` can show it again; returns the credentials while that password still works."""
    path = settings.data_dir / FIRST_ADMIN_FILE
    with db.write() as session:
        if accounts.count_users(session) == 0:
            password = secrets.token_urlsafe(12)
            accounts.create_user(session, "admin", password, "admin@localhost", is_superuser=True)
            path.write_text(json.dumps({"username": "admin", "password": password}))
            path.chmod(0o600)
    if not path.exists():
        return None
    stored = json.loads(path.read_text())
    with db.read() as session:
        user = accounts.authenticate_password(session, stored["username"], stored["password"])
    return (stored["username"], stored["password"]) if user else None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from crucible.app import create_app
    from crucible.core.services import build_services

    settings = load_settings(args)
    configure_logging(settings.log_level, settings.log_format)
    db = open_database(settings)
    admin = ensure_first_admin(settings, db)
    app = create_app(settings, build_services(settings, db))
    url = f"http://{settings.host}:{settings.port}"
    print(f"Crucible serving on {url}  (data directory: {settings.data_dir.resolve()})", flush=True)
    if admin:
        print(f"First admin: username '{admin[0]}', password '{admin[1]}' (change it)", flush=True)
    # No server-initiated websocket pings: a Bonsai simulator may spend minutes inside simulate() without
    # servicing them, and must never be closed for a missing pong (spec bonsai §4.5).
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        ws_ping_interval=None,
        ws_ping_timeout=None,
    )
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    open_database(settings)
    print("database is up to date")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    db = open_database(load_settings(args))
    try:
        with db.write() as session:
            user = accounts.create_user(
                session,
                args.username,
                args.password,
                args.email,
                is_superuser=args.admin,
                email_verified=True,
            )
            print(json.dumps({"id": user.id, "username": user.username, "email": user.email}))
    except accounts.AccountError as error:
        print(f"error: {error.field}: {error.message}", file=sys.stderr)
        return 1
    return 0


def _require_user(session: Any, username: str) -> accounts.User:
    user = accounts.find_user_by_username(session, username)
    if user is None:
        raise SystemExit(f"error: no user named {username!r}")
    return user


def cmd_user_token(args: argparse.Namespace) -> int:
    db = open_database(load_settings(args))
    with db.write() as session:
        user = _require_user(session, args.username)
        api_token = accounts.issue_api_token(session, user)
        access_key = accounts.create_access_key(session, user, name="cli")
    print(json.dumps({"api_token": api_token, "access_key": access_key}))
    return 0


def cmd_accesskey_create(args: argparse.Namespace) -> int:
    db = open_database(load_settings(args))
    with db.write() as session:
        user = _require_user(session, args.username)
        key = accounts.create_access_key(session, user, name=args.name)
    print(key)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """A Morpheo worker: flags win over CRUCIBLE_MORPHEO_* variables (spec/morpheo.md §4.7)."""
    import signal

    from crucible.dialects.morpheo.worker import Worker, WorkerConfig, default_work_dir, default_worker_id

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the task log
    user = args.user or settings.morpheo_user
    password = args.password or settings.morpheo_password
    if not user or not password:
        print(
            "error: --user and --password (or CRUCIBLE_MORPHEO_USER/_PASSWORD) are required", file=sys.stderr
        )
        return 2
    kinds = frozenset(kind.strip() for kind in args.kinds.split(",") if kind.strip())
    if not kinds or not kinds <= {"learn", "predict"}:
        print("error: --kinds takes learn, predict or learn,predict", file=sys.stderr)
        return 2
    config = WorkerConfig(
        url=args.url or settings.morpheo_url,
        user=user,
        password=password,
        worker_id=args.worker_id or settings.morpheo_worker_id or default_worker_id(),
        work_dir=(args.work_dir or settings.morpheo_work_dir or default_work_dir()).resolve(),
        poll_interval=args.poll_interval,
        learn_timeout=args.learn_timeout,
        predict_timeout=args.predict_timeout,
        kinds=kinds,
        once=args.once,
        keep_task_dirs=args.keep_task_dirs,
        max_extract_bytes=settings.morpheo_max_extract_bytes,
    )
    config.work_dir.mkdir(parents=True, exist_ok=True)
    worker = Worker(config)

    def stop(_signum: int, _frame: Any) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return worker.run()
    except KeyboardInterrupt:
        return 130
    finally:
        worker.close()  # stops a running entrypoint (SIGTERM, then SIGKILL after 10 s)
        signal.signal(signal.SIGTERM, previous)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, help="data directory (env CRUCIBLE_DATA_DIR)")
    common.add_argument("--database-url", help="SQLAlchemy URL (env CRUCIBLE_DATABASE_URL)")

    parser = argparse.ArgumentParser(prog="crucible", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", parents=[common], help="migrate the database and serve HTTP")
    serve.add_argument("--host", help="bind address (env CRUCIBLE_HOST)")
    serve.add_argument("--port", type=int, help="port (env CRUCIBLE_PORT)")
    serve.set_defaults(handler=cmd_serve)

    worker = commands.add_parser("worker", help="run Morpheo tasks pulled from a server")
    worker.add_argument("--url", help="server base URL (env CRUCIBLE_MORPHEO_URL)")
    worker.add_argument("--user", help="account name (env CRUCIBLE_MORPHEO_USER)")
    worker.add_argument("--password", help="password or access key (env CRUCIBLE_MORPHEO_PASSWORD)")
    worker.add_argument("--worker-id", help="worker id (env CRUCIBLE_MORPHEO_WORKER_ID; default a uuid4)")
    worker.add_argument("--work-dir", type=Path, help="task directories (env CRUCIBLE_MORPHEO_WORK_DIR)")
    worker.add_argument("--poll-interval", type=float, default=5.0, help="seconds between empty polls")
    worker.add_argument("--learn-timeout", type=float, default=1200.0, help="seconds per learn task")
    worker.add_argument("--predict-timeout", type=float, default=1200.0, help="seconds per predict task")
    worker.add_argument("--kinds", default="learn,predict", help="learn, predict or learn,predict")
    worker.add_argument("--once", action="store_true", help="exit when a poll finds nothing claimable")
    worker.add_argument("--keep-task-dirs", action="store_true", help="keep task directories afterwards")
    worker.set_defaults(handler=cmd_worker)

    db = commands.add_parser("db", help="database maintenance").add_subparsers(
        dest="db_command", required=True
    )
    db_upgrade = db.add_parser("upgrade", parents=[common], help="apply every pending migration")
    db_upgrade.set_defaults(handler=cmd_db_upgrade)

    user = commands.add_parser("user", help="manage accounts").add_subparsers(
        dest="user_command", required=True
    )
    create = user.add_parser("create", parents=[common], help="create an account")
    create.add_argument("--username", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--admin", action="store_true", help="make the account a superuser")
    create.set_defaults(handler=cmd_user_create)
    token = user.add_parser("token", parents=[common], help="issue a new API token and access key")
    token.add_argument("--username", required=True)
    token.set_defaults(handler=cmd_user_token)

    accesskey = commands.add_parser("accesskey", help="manage access keys").add_subparsers(
        dest="accesskey_command", required=True
    )
    key_create = accesskey.add_parser("create", parents=[common], help="create an access key for USER")
    key_create.add_argument("username", metavar="USER")
    key_create.add_argument("--name", default="cli")
    key_create.set_defaults(handler=cmd_accesskey_create)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
