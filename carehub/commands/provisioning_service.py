"""``carehub provisioning …`` — hubs' broker identities and configuration:

- ``run``: the long-running config publisher and reported-config consumer (:mod:`provisioning.config_service`);
- ``add-hub``, ``issue-hub`` (prints the new password once), ``revoke-hub``;
- ``password-file``: write the broker's password file from the database (current hubs plus service
  accounts read from a secrets file of ``username:password`` lines, never from the repository);
  reload Mosquitto (SIGHUP) afterwards so a revocation takes effect;
- ``acl``: print the generated ACL, or ``--check FILE`` that a deployed ACL matches it;
- ``config-status``: desired, published and reported configuration version per hub."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

from carehub.operations import add_actor, add_json, emit, handler, session
from carehub.runtime import migrate_if_asked, stop_on_signals
from core.db import connect
from core.errors import CarehubError
from core.logs import configure_logging
from core.settings import DatabaseSettings
from provisioning import hub_config, hub_credentials, registry
from provisioning.broker_acl import render_acl
from provisioning.config_service import ConfigService, ProvisioningSettings

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("provisioning", help="hub credentials, broker ACL and hub configuration")
    actions = parser.add_subparsers(dest="provisioning_action", metavar="ACTION", required=True)

    p = actions.add_parser("run", help="publish desired hub configs and record reported ones (long-running)")
    p.set_defaults(handler=run_service)

    p = actions.add_parser("add-hub", help="register a hub (its id is its MQTT username)")
    add_actor(p)
    p.add_argument("hub_id")
    p.add_argument("--serial", required=True)
    p.set_defaults(handler=handler(run_add_hub))

    p = actions.add_parser("issue-hub", help="issue (or reissue) a hub's MQTT password; printed once")
    add_actor(p)
    p.add_argument("hub_id")
    p.set_defaults(handler=handler(run_issue))

    p = actions.add_parser("revoke-hub", help="revoke a hub's MQTT identity")
    add_actor(p)
    p.add_argument("hub_id")
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=handler(run_revoke))

    p = actions.add_parser("password-file", help="write the broker password file from the database")
    p.add_argument("output", type=Path)
    p.add_argument("--services", type=Path, required=True, help="file of service username:password lines")
    p.set_defaults(handler=handler(run_password_file))

    p = actions.add_parser("acl", help="print the broker ACL, or check a deployed one")
    p.add_argument("--topic-root", default=None)
    p.add_argument("--check", type=Path, metavar="FILE")
    p.set_defaults(handler=run_acl)

    p = actions.add_parser("config-status", help="desired / published / reported config version per hub")
    add_actor(p)
    add_json(p)
    p.set_defaults(handler=handler(run_config_status))


def run_service(args: argparse.Namespace) -> int:
    settings = ProvisioningSettings()
    configure_logging(settings.log_level, settings.log_format)
    stop = stop_on_signals()
    try:
        migrate_if_asked(settings)
        ConfigService(settings).run(stop)
    except CarehubError as exc:
        logger.exception("provisioning cannot run", extra={"error": str(exc)})
        return 1
    return 0


def run_add_hub(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        registry.create_hub(ctx.conn, practice_id=ctx.practice_id, hub_id=args.hub_id, serial=args.serial)
    print(f"hub {args.hub_id} registered")
    return 0


def _own_hub(ctx: Any, hub_id: str) -> None:
    row = ctx.conn.execute("SELECT practice_id FROM hubs WHERE id = %s", (hub_id,)).fetchone()
    if row is None or row[0] != ctx.practice_id:
        raise registry.UnknownRecord(f"no hub {hub_id} in this practice")


def run_issue(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        _own_hub(ctx, args.hub_id)
        password = hub_credentials.issue_hub_credentials(ctx.conn, args.hub_id, at=ctx.now, actor_id=ctx.actor_id)
    print(f"hub {args.hub_id} password (shown once; put it on the hub, then rewrite the broker password file):")
    print(password)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        _own_hub(ctx, args.hub_id)
        revoked = hub_credentials.revoke_hub(ctx.conn, args.hub_id, at=ctx.now, reason=args.reason)
    print(f"{revoked} credential(s) revoked; rewrite the broker password file and reload the broker")
    return 0


def read_service_credentials(path: Path) -> dict[str, str]:
    services: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise CarehubError(f"{path}:{number}: expected username:password")
        services[user.strip()] = password
    return services


def run_password_file(args: argparse.Namespace) -> int:
    services = read_service_credentials(args.services)
    settings = DatabaseSettings()
    with connect(settings.database_url, application_name="carehub-cli", autocommit=True) as conn:
        count = hub_credentials.write_broker_password_file(conn, args.output, services)
    print(f"wrote {count} entries to {args.output}")
    return 0


def run_acl(args: argparse.Namespace) -> int:
    acl = render_acl(args.topic_root) if args.topic_root else render_acl()
    if args.check is None:
        sys.stdout.write(acl)
        return 0
    if args.check.read_text(encoding="utf-8") != acl:
        print(f"{args.check} differs from the generated ACL (carehub provisioning acl > {args.check})", file=sys.stderr)
        return 1
    print(f"{args.check} matches the generated ACL")
    return 0


def run_config_status(args: argparse.Namespace) -> int:
    with session(args) as ctx:
        hubs = {r[0] for r in ctx.conn.execute("SELECT id FROM hubs WHERE practice_id = %s", (ctx.practice_id,))}
        rows = [
            dataclasses.asdict(status) | {"in_sync": status.in_sync}
            for status in hub_config.config_status(ctx.conn)
            if status.hub_id in hubs
        ]
    columns = ("hub_id", "desired_version", "published_version", "reported_version", "reported_at", "in_sync")
    emit(rows, columns, as_json=args.json)
    return 0
