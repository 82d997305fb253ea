"""The `portal` command: what operators script.

One module per command group; each command opens its one transaction through
portal.cli.common (portal.db.session). No feature imports this package.
"""

from __future__ import annotations

import click

from portal.cli import admin, audit, keys, server, tenants


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Self-hosted admin portal for LLM credentials."""


for command in (
    server.generate_encryption_key,
    server.db,
    admin.create_admin,
    admin.rotate_master_key,
    server.serve,
    server.demo,
    audit.audit,
    tenants.import_tenants,
    tenants.tenants,
    keys.keys,
):
    main.add_command(command)

if __name__ == "__main__":
    main()
