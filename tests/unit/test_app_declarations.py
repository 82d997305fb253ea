"""Every handler and dependency provider declares how each parameter is given (a named dependency,
a path or query parameter, a body): Litestar infers nothing, so nothing breaks on its 3.0 move."""

from __future__ import annotations

import warnings
from pathlib import Path

from portal.asgi import create_app
from tests.support.env import make_settings


def test_the_app_builds_without_a_deprecation_warning(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        create_app(make_settings(tmp_path))
    deprecations = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert deprecations == []
