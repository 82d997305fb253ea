"""Everything the tests share, one module per kind:

- env:        settings (make_settings), CI's rules, the local services, unique names, CANARY
- databases:  PostgreSQL databases of their own; CleanSlate, the state every test starts from
- apps:       apps started in the tests' loop (start_app, running_app), in-process clients
- servers:    the portal under uvicorn in a thread (served_in_thread), odd servers for failures
- signin:     signing in through the forms, or sessions written as a real sign-in leaves them
- api:        the JSON API's paths, tenants and issued keys made through it, service calls
- factories:  rows made through the services with sensible defaults (Factory, the `make` fixture)
- rows:       reading what was stored
- sso:        tenants wired to the demo OpenID Provider, a sign-in driven like a browser
- clock:      the app's clock under the test's control
- processes:  the `portal` command as a real process (one runner, bytecode cached)
- browser:    Chromium, a loopback-only context, screenshots

The names below stay importable from `tests.support` itself.
"""

from tests.support.api import api_headers
from tests.support.databases import create_pg_database, drop_pg_database
from tests.support.env import (
    API_KEY,
    CANARY,
    IN_CI,
    PG_ADMIN_DSN,
    REDIS_URL,
    make_settings,
    need_service,
    port_open,
    unique_email,
    unique_slug,
)
from tests.support.servers import served_in_thread, wait_for_health
from tests.support.signin import csrf_from

_wait_for_health = wait_for_health  # the name other branches may still import

__all__ = [
    "API_KEY",
    "CANARY",
    "IN_CI",
    "PG_ADMIN_DSN",
    "REDIS_URL",
    "api_headers",
    "create_pg_database",
    "csrf_from",
    "drop_pg_database",
    "make_settings",
    "need_service",
    "port_open",
    "served_in_thread",
    "unique_email",
    "unique_slug",
    "wait_for_health",
]
