"""How the amplicon steps run their tools (cutadapt, vsearch, Rscript): argument lists, logs, errors."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from icibiome.errors import UserError

logger = logging.getLogger(__name__)


class AmpliconToolError(UserError):
    """A tool (cutadapt, vsearch, Rscript) exited with an error; the message ends with its log."""


def run_tool(cmd: Sequence[str], log: str | os.PathLike | None) -> None:
    """Run ``cmd`` (an argument list, no shell); append its stdout and stderr to ``log``."""
    cmd = [str(c) for c in cmd]
    logger.info("running: %s", " ".join(cmd))
    with contextlib.ExitStack() as stack:
        if log is not None:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            err = stack.enter_context(open(log, "a"))
            err.write("$ " + " ".join(cmd) + "\n")
            err.flush()
        else:
            err = stack.enter_context(tempfile.TemporaryFile("w+"))
        proc = subprocess.run(cmd, stdout=err, stderr=err, check=False)
        if proc.returncode != 0:
            err.flush()
            tail = Path(log).read_text()[-3000:] if log is not None else _tail(err)
            raise AmpliconToolError(f"{cmd[0]} exited with {proc.returncode}:\n{tail}")


def _tail(fh) -> str:
    fh.seek(0)
    return fh.read()[-3000:]


def need_tool(tool: str) -> str:
    """Path of ``tool`` on ``PATH``; :class:`AmpliconToolError` when it is not there."""
    path = shutil.which(tool)
    if path is None:
        raise AmpliconToolError(f"{tool} not found on PATH")
    return path
