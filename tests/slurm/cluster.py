"""A throwaway single-node SLURM cluster on this machine, for integration tests.

Uses Debian's packages (``apt-get install -y slurmctld slurmd slurm-client munge``) and needs
root: slurmd starts jobs as their owner and stats the GPU device files. Everything lives in
one temporary folder: munge key and socket, ``slurm.conf``, ``gres.conf``, state, spool, logs
and two fake GPU device nodes. Ports are free ones picked at start, so a system SLURM or a
second test cluster on the same machine is left alone. Client commands find the cluster
through ``SLURM_CONF`` (see :attr:`SlurmCluster.env`).

The configuration has no accounting (``sacct`` has nothing to report), so job states come
from ``squeue``; ``MinJobAge`` keeps finished jobs visible to it for a day.

Snakemake's job step drops every ``SLURM_*`` variable, ``SLURM_CONF`` included, before it
calls ``srun`` inside a job, so that ``srun`` must find the configuration on its own. The
cluster therefore links its folder at ``/run/slurm/conf``, where client commands look when
``SLURM_CONF`` is unset and ``/etc/slurm/slurm.conf`` is absent (the link a configless slurmd
would make); the link is removed on stop. A machine that already has
``/etc/slurm/slurm.conf`` or that link (a real cluster) is left alone: the test cluster is
reported unavailable there.

By hand::

    python tests/slurm/cluster.py up        # prints the folder and the SLURM_CONF line
    python tests/slurm/cluster.py down DIR  # stops the daemons started by 'up'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("munged", "munge", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sinfo")
INSTALL_HINT = "apt-get update && apt-get install -y " + " ".join(PACKAGES)
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
CONF_LINK = Path("/run/slurm/conf")
PARTITION = "gairtest"
GPUS = 2
CPUS = 2


class ClusterUnavailable(RuntimeError):
    """The cluster cannot run here (not root, packages missing, a daemon did not start)."""


def missing_requirements() -> str | None:
    """Why a cluster cannot be started on this machine, or None when it can be tried."""
    if sys.platform != "linux":
        return f"a SLURM test cluster needs Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return "starting slurmctld, slurmd and munged needs root"
    absent = [b for b in BINARIES if shutil.which(b) is None]
    if absent:
        return f"{', '.join(absent)} not found; install them with: {INSTALL_HINT}"
    if SYSTEM_CONF.exists():
        return f"{SYSTEM_CONF} exists: this machine belongs to a real SLURM cluster"
    if CONF_LINK.is_symlink() and CONF_LINK.exists():
        return f"{CONF_LINK} exists: a slurmd is already running on this machine"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise ClusterUnavailable("/proc/meminfo has no MemTotal line")


def _fake_gpu(path: Path, minor: int) -> None:
    """A character device node for gres.conf (slurmd refuses plain files).

    Major 195 is the NVIDIA driver's number; with no such driver the node cannot be opened,
    which is fine: nothing opens it, slurmd only checks that it is a device. Where mknod is
    not allowed, a link to a distinct existing character device does the same job.
    """
    try:
        os.mknod(path, 0o600 | 0o020000, os.makedev(195, minor))
    except OSError:
        stand_ins = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
        path.symlink_to(stand_ins[minor])


class SlurmCluster:
    """munged + slurmctld + slurmd with ``CPUS`` CPUs and ``GPUS`` fake GPUs, in ``root``."""

    def __init__(self, root: Path | None = None, partition: str = PARTITION) -> None:
        self.partition = partition
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="gair-slurm-"))
        # A short root matters: a UNIX socket path is limited to 107 bytes.
        self.host = socket.gethostname().split(".")[0]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.conf = self.root / "slurm.conf"
        self.logs = self.root / "log"
        self.ctld_port = 0
        self._made_run_dir = False

    # ------------------------------------------------------------------ environment
    @property
    def env(self) -> dict[str, str]:
        """The environment for client commands (sbatch, squeue, snakemake) of this cluster."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        env["SLURM_CONF"] = str(self.conf)
        return env

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a client command against this cluster."""
        return subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    # ------------------------------------------------------------------ configuration
    def write_config(self) -> None:
        r = self.root
        for sub in ("state", "spool", "log", "dev"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        key = r / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        for i in range(GPUS):
            _fake_gpu(r / "dev" / f"gpu{i}", i)
        mem = _mem_mb()
        h = self.host
        self.ctld_port = _free_port()
        lines = [
            "ClusterName=gairtest",
            # 127.0.0.1 as the address: the test must not depend on the host name resolving.
            f"SlurmctldHost={h}(127.0.0.1)",
            f"SlurmctldPort={self.ctld_port}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={r / 'munge.sock'}",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.logs / 'slurmctld.log'}",
            f"SlurmdLogFile={self.logs / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            # No cgroups: containers and CI runners rarely let a test manage them.
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SchedulerType=sched/backfill",
            "MpiDefault=none",
            "GresTypes=gpu",
            # No accounting: squeue is the status command, so finished jobs must stay listed.
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "MinJobAge=86400",
            "ReturnToService=2",
            # The node is declared smaller than the machine may be; slurmd must accept that.
            "SlurmdParameters=config_overrides",
            f"NodeName={h} NodeAddr=127.0.0.1 CPUs={CPUS} RealMemory={mem} "
            f"Gres=gpu:{GPUS} State=UNKNOWN",
            f"PartitionName={self.partition} Nodes={h} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        last = GPUS - 1
        (r / "gres.conf").write_text(
            f"AutoDetect=off\nNodeName={h} Name=gpu File={r / 'dev'}/gpu[0-{last}]\n"
        )

    # ------------------------------------------------------------------ daemons
    def _spawn(self, name: str, argv: list[str]) -> None:
        out = open(self.logs / f"{name}.out", "wb")  # noqa: SIM115 - lives as long as the daemon
        self.procs[name] = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the test, not them
        )
        out.close()

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise ClusterUnavailable(
                    f"{name} exited with status {proc.returncode}: {self.log_tail(name)}"
                )

    def log_tail(self, name: str, lines: int = 5) -> str:
        text = ""
        for path in (self.logs / f"{name}.out", self.logs / f"{name}.log"):
            if path.is_file():
                text += path.read_text(errors="replace")
        return " | ".join(text.strip().splitlines()[-lines:])

    def start(self, timeout: float = 60) -> None:
        """Write the configuration, start the three daemons, wait for an idle node."""
        self.write_config()
        r = self.root
        self._spawn(
            "munged",
            [
                "munged", "--foreground", "--force",
                f"--socket={r / 'munge.sock'}", f"--key-file={r / 'munge.key'}",
                f"--pid-file={r / 'munged.pid'}", f"--seed-file={r / 'munged.seed'}",
                f"--log-file={self.logs / 'munged.log'}",
            ],
        )  # fmt: skip
        self._wait(lambda: (r / "munge.sock").exists(), "munged to create its socket", timeout)
        # -c: a clean start, no state from an earlier cluster in the same folder.
        self._spawn("slurmctld", ["slurmctld", "-D", "-c", "-f", str(self.conf)])
        self._wait(lambda: self.run("sinfo", "-h").returncode == 0, "slurmctld", timeout)
        self._link_config()
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        self._wait(self.node_idle, "the node to be idle in sinfo", timeout)

    def _link_config(self) -> None:
        # A link left by an earlier test cluster whose folder is gone is replaced.
        if CONF_LINK.is_symlink() and not CONF_LINK.exists():
            CONF_LINK.unlink()
        if not CONF_LINK.parent.exists():
            CONF_LINK.parent.mkdir(parents=True)
            self._made_run_dir = True
        try:
            CONF_LINK.symlink_to(self.root, target_is_directory=True)
        except OSError as err:
            raise ClusterUnavailable(f"cannot link {CONF_LINK}: {err}") from None

    def node_idle(self) -> bool:
        done = self.run("sinfo", "-h", "-N", "-o", "%T")
        return done.returncode == 0 and done.stdout.strip() == "idle"

    def _wait(self, ready, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(subprocess.TimeoutExpired):
                if ready():
                    return
            time.sleep(0.5)
        logs = "; ".join(f"{n}: {self.log_tail(n)}" for n in self.procs)
        raise ClusterUnavailable(f"timed out after {timeout:g} s waiting for {what} ({logs})")

    def stop(self) -> None:
        """Cancel every job of this cluster, then stop the daemons started here, newest first."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                ids = self.run("squeue", "-h", "-t", "PD,R,CG,S", "-o", "%i", timeout=20)
                jobs = ids.stdout.split()
                if jobs:
                    self.run("scancel", *jobs, timeout=20)
                    deadline = time.monotonic() + 20
                    while (
                        time.monotonic() < deadline
                        and self.run(
                            "squeue", "-h", "-t", "PD,R,CG,S", "-o", "%i", timeout=20
                        ).stdout.strip()
                    ):
                        time.sleep(0.5)
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)
        self.procs.clear()
        # Remove the configuration link only if it is this cluster's.
        if CONF_LINK.is_symlink() and str(self.root) in os.readlink(CONF_LINK):
            CONF_LINK.unlink()
        if self._made_run_dir:
            with contextlib.suppress(OSError):
                CONF_LINK.parent.rmdir()

    # ------------------------------------------------------------------ jobs
    def wait_jobs(self, job_ids: list[str], timeout: float = 120) -> dict[str, str]:
        """Wait until every job has left the queue's active states; return id -> final state."""
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            self._check_alive()
            done = self.run("squeue", "-h", "-t", "all", "-j", ",".join(job_ids), "-o", "%i %T")
            states = dict(line.split() for line in done.stdout.splitlines() if line.strip())
            active = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED"}
            if len(states) == len(job_ids) and not active & set(states.values()):
                return states
            time.sleep(0.5)
        raise TimeoutError(f"jobs {job_ids} still active after {timeout:g} s: {states}")


@contextlib.contextmanager
def running_cluster(root: Path | None = None) -> Iterator[SlurmCluster]:
    """A started cluster, stopped on leaving the block (also when the block fails)."""
    reason = missing_requirements()
    if reason:
        raise ClusterUnavailable(reason)
    cluster = SlurmCluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def _main(argv: list[str]) -> int:
    if argv[:1] == ["up"]:
        reason = missing_requirements()
        if reason:
            print(f"error: {reason}", file=sys.stderr)
            return 2
        cluster = SlurmCluster()
        try:
            cluster.start()
        except ClusterUnavailable as err:
            cluster.stop()
            shutil.rmtree(cluster.root, ignore_errors=True)
            print(f"error: {err}", file=sys.stderr)
            return 2
        pids = " ".join(str(p.pid) for p in cluster.procs.values())
        (cluster.root / "daemons.pid").write_text(pids + "\n")
        print(f"cluster in {cluster.root}\nexport SLURM_CONF={cluster.conf}")
        return 0
    if len(argv) == 2 and argv[0] == "down":
        root = Path(argv[1])
        for pid in reversed((root / "daemons.pid").read_text().split()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGTERM)
        time.sleep(2)
        if CONF_LINK.is_symlink() and str(root) in os.readlink(CONF_LINK):
            CONF_LINK.unlink()
        return 0
    print("usage: python tests/slurm/cluster.py up | down DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
