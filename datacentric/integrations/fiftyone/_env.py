"""Import FiftyOne quietly and offline: environment defaults first, then the import.

FiftyOne reads its configuration from the environment when it is first imported, so the
defaults below must be in place before that import. They only fill in variables the user
has not set: telemetry off, no database-version nag, no progress bars in logs.
"""

from __future__ import annotations

import os
from types import ModuleType

from datacentric._deps import import_optional
from datacentric.exceptions import FiftyOneError

__all__ = ["ENV_DEFAULTS", "FiftyOneError", "configure_env", "import_brain", "import_fiftyone"]

ENV_DEFAULTS: dict[str, str] = {
    "FIFTYONE_DO_NOT_TRACK": "true",
    "FIFTYONE_DATABASE_VALIDATION": "false",
    "FIFTYONE_SHOW_PROGRESS_BARS": "false",
}


def configure_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Fill in the FiftyOne environment defaults that are not set yet; return what was set.

    Parameters
    ----------
    environ : dict, optional
        The environment to update (default: ``os.environ``).

    Examples
    --------
    >>> env = {"FIFTYONE_DO_NOT_TRACK": "false"}
    >>> sorted(configure_env(env))
    ['FIFTYONE_DATABASE_VALIDATION', 'FIFTYONE_SHOW_PROGRESS_BARS']
    >>> env["FIFTYONE_DO_NOT_TRACK"]  # an explicit choice is kept
    'false'
    """
    env: dict[str, str] = os.environ if environ is None else environ  # type: ignore[assignment]
    added = {k: v for k, v in ENV_DEFAULTS.items() if k not in env}
    env.update(added)
    return added


def import_fiftyone() -> ModuleType:
    """``import fiftyone`` after :func:`configure_env`; names the pip extra when missing."""
    configure_env()
    fo = import_optional("fiftyone", extra="fiftyone", purpose="the FiftyOne review")
    # Telemetry stays off even when fiftyone was imported before our defaults were set.
    if os.environ.get("FIFTYONE_DO_NOT_TRACK", "true").lower() != "false":
        fo.config.do_not_track = True
    return fo


def import_brain() -> ModuleType:
    """``import fiftyone.brain`` (same environment as :func:`import_fiftyone`)."""
    import_fiftyone()
    return import_optional("fiftyone.brain", extra="fiftyone", purpose="FiftyOne Brain")
