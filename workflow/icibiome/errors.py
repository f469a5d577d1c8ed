"""The one base class of every error that describes a user's input, config or environment.

A :class:`UserError` is reported as one line naming what to fix (file, row, column, config key),
never as a traceback: the Snakemake driver turns it into a ``WorkflowError`` before any job, and a
job's script entry point prints it through :func:`icibiome.logging.log_to_file`'s exception hook.
Errors that mean a bug in icibiome stay ordinary exceptions, with their traceback.
"""

from __future__ import annotations


class UserError(ValueError):
    """An input, config or environment problem that the message explains (no traceback)."""

    user_error = True
