"""A throw-away one-node SLURM cluster for tests: munged + slurmctld + slurmd under a temp dir.

Everything lives under one folder (keys, state, spool, logs, slurm.conf) and uses free private
ports, so it cannot collide with a site's /etc/slurm or with another test's cluster. The daemons
run in the foreground as children of this process and are stopped by their own process ids.
Follows /work/shared/docs/tool-notes.md §5 (one-node cluster) and §F6-F8.

Use::

    reason = ensure_slurm_installed()        # None, or why SLURM cannot be used here
    with SlurmCluster(tmp_dir) as cluster:   # started; stopped on exit, whatever happens
        subprocess.run([...], env=cluster.env())
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

logger = logging.getLogger(__name__)

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "srun")
SBIN = ("/usr/sbin", "/sbin")


def _which(name: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    return shutil.which(name, path=path)


def _installed_packages() -> set[str]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}


def may_install() -> bool:
    """Installing is allowed only as root, in CI or with ``ICIBIOME_SLURM_INSTALL=1``."""
    return os.geteuid() == 0 and bool(
        os.environ.get("CI") or os.environ.get("ICIBIOME_SLURM_INSTALL") == "1"
    )


def ensure_slurm_installed() -> tuple[str | None, set[str]]:
    """Make sure munge and SLURM are installed; install them with apt-get when allowed.

    Returns
    -------
    (reason, new_packages)
        ``reason`` is None when SLURM can be used, else a sentence saying why not (for
        ``pytest.skip``). ``new_packages`` are the Debian packages this call installed (empty
        when all was there), so the caller can remove them again (see :func:`uninstall`).
    """
    missing = [d for d in DAEMONS if _which(d) is None]
    if not missing:
        if os.geteuid() != 0:
            return "the test cluster runs its daemons as root (SlurmUser=root); not root", set()
        return None, set()
    if os.geteuid() != 0:
        return f"SLURM/munge not installed ({', '.join(missing)} missing) and not root", set()
    if not may_install():
        return (
            f"SLURM/munge not installed ({', '.join(missing)} missing); set "
            "ICIBIOME_SLURM_INSTALL=1 (or CI=1) to let the test apt-get install "
            f"{' '.join(PACKAGES)}",
            set(),
        )
    if shutil.which("apt-get") is None:
        return "SLURM/munge not installed and apt-get is not available", set()
    before = _installed_packages()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # no service may start during the install (containers without systemd; we run our own)
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    if made_policy:
        policy.write_text("#!/bin/sh\n# icibiome SLURM test: no service starts\nexit 101\n")
        policy.chmod(0o755)
    try:
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    finally:
        if made_policy:
            policy.unlink(missing_ok=True)
    new = _installed_packages() - before
    if proc.returncode != 0:
        return f"apt-get install {' '.join(PACKAGES)} failed: {proc.stderr[-500:]}", new
    missing = [d for d in DAEMONS if _which(d) is None]
    if missing:
        return f"after apt-get install, still missing: {', '.join(missing)}", new
    return None, new


def uninstall(packages: set[str]) -> None:
    """Remove packages installed by :func:`ensure_slurm_installed` (keeps the machine as it was).

    With SLURM's client tools on PATH and no controller running, every later ``snakemake`` call
    (even ``-n``) waits ~10 s for ``scontrol show config`` (tool-notes §F6); removing them keeps
    the rest of the test suite at its normal speed. ``ICIBIOME_SLURM_KEEP=1`` keeps them.
    """
    if not packages or os.environ.get("ICIBIOME_SLURM_KEEP") == "1":
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(
        ["apt-get", "remove", "-y", "-q", *sorted(packages)],
        env=env,
        capture_output=True,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4000


class SlurmCluster:
    """munged + slurmctld + slurmd for one node (this machine) under ``root``.

    Parameters
    ----------
    root : path-like
        Folder for everything (created). Keep it short: munge's socket path must fit in 108 bytes.
    cpus : int, optional
        CPUs of the node (default: all of this machine's).
    mem_fraction : float
        Share of this machine's memory the node offers to jobs.
    """

    def __init__(self, root: str | os.PathLike, cpus: int | None = None, mem_fraction=0.5):
        self.root = Path(root)
        self.cpus = cpus or os.cpu_count() or 1
        self.mem_mb = int(_mem_mb() * mem_fraction)
        self.node = socket.gethostname().split(".")[0]
        self.procs: dict[str, subprocess.Popen] = {}
        self.conf = self.root / "slurm.conf"
        self.partition = "debug"

    # -- environment for clients (sbatch, squeue, srun) and snakemake ------------------------

    def env(self, base: dict | None = None) -> dict:
        """Environment that points SLURM's clients at this cluster (SLURM_CONF + srun wrapper)."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = os.pathsep.join([str(self.root / "bin"), env.get("PATH", ""), *SBIN])
        return env

    # -- start / stop ------------------------------------------------------------------------

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.out", "wb")  # noqa: SIM115 (closed with the proc)
        self.procs[name] = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env(), start_new_session=True
        )
        log.close()

    def start(self, timeout: float = 60) -> SlurmCluster:
        """Write the keys and slurm.conf, start the three daemons, wait until the node is idle."""
        r = self.root
        for d in ("munge", "state", "spool", "log", "run", "bin"):
            (r / d).mkdir(parents=True, exist_ok=True)
        (r / "munge").chmod(0o700)
        key = r / "munge" / "munge.key"
        subprocess.run(
            [_which("mungekey"), "--create", f"--keyfile={key}", "--bits=1024", "--force"],
            check=True,
            capture_output=True,
        )
        key.chmod(0o600)
        sock = r / "munge" / "munge.socket"
        self._spawn(
            "munged",
            [
                _which("munged"),
                "--foreground",
                "--force",
                f"--socket={sock}",
                f"--key-file={key}",
                f"--pid-file={r / 'run' / 'munged.pid'}",
                f"--log-file={r / 'log' / 'munged.log'}",
                f"--seed-file={r / 'munge' / 'munged.seed'}",
            ],
        )
        self._wait(lambda: sock.exists(), 20, "munged socket")
        ctld_port, d_port = _free_port(), _free_port()
        self.conf.write_text(
            f"""# one-node test cluster (tests/e2e/slurm_cluster.py)
ClusterName=icibiometest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={r / "state"}
SlurmdSpoolDir={r / "spool"}
SlurmctldPidFile={r / "run" / "slurmctld.pid"}
SlurmdPidFile={r / "run" / "slurmd.pid"}
SlurmctldLogFile={r / "log" / "slurmctld.log"}
SlurmdLogFile={r / "log" / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
MinJobAge=300
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb} State=UNKNOWN
PartitionName={self.partition} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
"""
        )
        # tool-notes §F8: the slurm jobstep plugin drops SLURM_CONF from the env of its nested
        # srun; this wrapper, first on PATH, puts it back
        srun = r / "bin" / "srun"
        srun.write_text(f'#!/bin/sh\nexport SLURM_CONF="{self.conf}"\nexec {_which("srun")} "$@"\n')
        srun.chmod(0o755)
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(self.conf)])
        self._wait(self._controller_up, 30, "slurmctld")
        self._spawn("slurmd", [_which("slurmd"), "-D", "-f", str(self.conf), "-N", self.node])
        self._wait(self._node_idle, timeout, "node idle")
        return self

    def _check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited ({p.returncode}):\n{self.logs()}")

    def _wait(self, cond, timeout: float, what: str) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            self._check_alive()
            if cond():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {timeout} s waiting for {what}:\n{self.logs()}")

    def _client(self, *args: str, timeout: float = 15) -> subprocess.CompletedProcess:
        return subprocess.run(
            [_which(args[0]), *args[1:]],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _controller_up(self) -> bool:
        try:
            return self._client("sinfo", "-h", timeout=5).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _node_idle(self) -> bool:
        try:
            out = self._client("sinfo", "-h", "-o", "%T", timeout=5).stdout
        except subprocess.TimeoutExpired:
            return False
        return "idle" in out or "mixed" in out

    def logs(self, tail: int = 2000) -> str:
        """The tails of the daemons' log files (for failure messages)."""
        parts = []
        for f in sorted((self.root / "log").glob("*")):
            parts.append(f"--- {f.name}\n{f.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel any job, then stop slurmd, slurmctld and munged (each by its own pid)."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            with contextlib.suppress(Exception):
                self._client("scancel", "--user", "root", timeout=10)
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.procs.clear()

    def __enter__(self) -> SlurmCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
