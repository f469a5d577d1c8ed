"""Logging set-up for script entry points (called once per job by the thin ``scripts/*.py`` shims)."""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to_file(path: str, level: int = logging.INFO) -> None:
    """Send logging, warnings and uncaught exceptions of this process to ``path``.

    Library modules only ever call ``logging.getLogger(__name__)``; this is the one place where
    handlers are configured, so a job's log file holds everything that happened in it.
    """
    logging.basicConfig(filename=path, level=level, format=_FORMAT, force=True)
    logging.captureWarnings(True)

    def _excepthook(exc_type, exc, tb):
        if getattr(exc_type, "user_error", False):
            # an input problem the message explains: one line for the user, no traceback
            logging.getLogger("icibiome").error("%s", exc)
            sys.stderr.write(f"icibiome: error: {exc}\n")
            return
        logging.getLogger("icibiome").critical("uncaught exception", exc_info=(exc_type, exc, tb))
        sys.__excepthook__(exc_type, exc, tb)

    sys.excepthook = _excepthook
