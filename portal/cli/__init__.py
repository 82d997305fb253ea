"""The `portal` command: what operators script.

One module per command group; each command opens its one transaction through
portal.cli.common (portal.db.session). No feature imports this package.
"""

from __future__ import annotations

import click

from portal.cli.admin import create_admin, rotate_master_key
from portal.cli.audit import audit
from portal.cli.keys import keys
from portal.cli.server import db, demo, generate_encryption_key, serve
from portal.cli.tenants import import_tenants


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Self-hosted admin portal for LLM credentials."""


for command in (
    generate_encryption_key,
    db,
    create_admin,
    rotate_master_key,
    serve,
    demo,
    audit,
    import_tenants,
    keys,
):
    main.add_command(command)

if __name__ == "__main__":
    main()
