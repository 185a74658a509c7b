"""A real single-node SLURM on localhost, for tests/workflow/test_slurm.py.

    with SlurmCluster(tmp_path) as cluster:   # munged, slurmctld, slurmd: this process's children
        subprocess.run(["sbatch", ...], env=cluster.env)

The distribution's slurm-wlm and munge (Debian: `apt-get install slurm-wlm munge`; `make
test` installs them where it can) run with a configuration written here: its own munge key
and socket, its own ports, state and spool folders, no cgroups (containers), no accounting
database (the Snakemake plugin reads job states from `squeue`, which keeps finished jobs for
MinJobAge), and two partitions `cpu` and `gpu` as profiles/slurm/partitions.yaml names them.
Client commands find this configuration through SLURM_CONF; the Snakemake plugin's job step
drops SLURM_* variables before its inner `srun`, which would then look for
/etc/slurm/slurm.conf (a real cluster's, or configless), so `env["PATH"]` starts with a
folder whose `srun` puts SLURM_CONF back.
Anything that keeps the daemons from starting raises `SlurmUnavailable` with the reason.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "slurmstepd", "sbatch", "srun", "squeue", "scontrol", "scancel", "sinfo")


class SlurmUnavailable(RuntimeError):
    """Why this machine cannot run the test's SLURM (one line, with the log's tail)."""


def _which(name: str) -> str | None:
    """A program on PATH, or in the sbin folders a non-root PATH leaves out."""
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise SlurmUnavailable("/proc/meminfo: no MemTotal line")


def _tail(path: Path, n: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else f"({path.name}: none)"


class SlurmCluster:
    """munged + slurmctld + slurmd on localhost under `root`, stopped by `stop()` (or `with`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "slurm.conf"
        self.bin = root / "bin"
        outer = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SRUN_"))}  # run inside a SLURM job
        self.env = {**outer, "SLURM_CONF": str(self.conf), "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}"}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.progs: dict[str, str] = {}

    def __enter__(self) -> SlurmCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        self.progs = {d: p for d in DAEMONS if (p := _which(d))}
        missing = [d for d in DAEMONS if d not in self.progs]
        if missing:
            raise SlurmUnavailable(f"not installed: {', '.join(missing)} (Debian: apt-get install slurm-wlm munge)")
        if os.geteuid() != 0:
            raise SlurmUnavailable(f"slurmd must run as root to start jobs (it switches to the job's user); uid is {os.geteuid()}")
        for sub in ("munge", "state", "spool", "log", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        srun = self.bin / "srun"
        real_srun = self.progs["srun"]
        srun.write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{real_srun}" "$@"\n')
        srun.chmod(0o755)
        (self.root / "munge").chmod(0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self._write_conf()
        log = self.root / "log"
        self._spawn("munged", [self.progs["munged"], "--foreground", "--force", f"--key-file={key}",
                               f"--socket={self.root / 'munge' / 'socket'}", f"--pid-file={self.root / 'munge' / 'pid'}",
                               f"--log-file={log / 'munged.log'}", f"--seed-file={self.root / 'munge' / 'seed'}"])
        self._wait(lambda: (self.root / "munge" / "socket").exists(), timeout, "munged", log / "munged.log")
        self._spawn("slurmctld", [self.progs["slurmctld"], "-D", "-i", "-f", str(self.conf)])
        self._wait(lambda: self._ok("scontrol", "ping") and "UP" in self._out("scontrol", "ping"),
                   timeout, "slurmctld", log / "slurmctld.log")
        self._spawn("slurmd", [self.progs["slurmd"], "-D", "-N", "localhost", "-f", str(self.conf)])
        self._wait(lambda: set(self._out("sinfo", "-h", "-o", "%t").split()) == {"idle"},
                   timeout, "slurmd (node not idle)", log / "slurmd.log")

    def _write_conf(self) -> None:
        r = self.root
        self.conf.write_text("\n".join([
            "ClusterName=emlabtest",
            "SlurmctldHost=localhost",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            f"AuthInfo=socket={r / 'munge' / 'socket'}",
            "SlurmUser=root",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",  # no cgroups in a container
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",  # no slurmdbd: jobs are read with squeue
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={r / 'log' / 'jobcomp.txt'}",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SlurmdParameters=config_overrides",  # the node is what this file says, whatever the machine
            "SchedulerType=sched/builtin",
            "MpiDefault=none",
            "ReturnToService=2",
            "MinJobAge=3600",  # finished jobs stay in squeue, where the plugin and the test read them
            "KillWait=2",
            "InactiveLimit=0",
            f"NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory={_mem_mb()} State=UNKNOWN",
            "PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
            "PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP",
            "",
        ]))

    def _spawn(self, name: str, cmd: list[str]) -> None:
        with open(self.root / "log" / f"{name}.out", "wb") as out:  # the daemon keeps its own copy
            self.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                                start_new_session=True)

    def _wait(self, ready, timeout: float, what: str, log: Path) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise SlurmUnavailable(f"{name} exited {proc.returncode} at start:\n"
                                           f"{_tail(self.root / 'log' / f'{name}.out')}\n{_tail(log)}")
            time.sleep(0.2)
        raise SlurmUnavailable(f"{what} not ready after {timeout:.0f} s:\n{_tail(log)}")

    def _ok(self, *cmd: str) -> bool:
        return subprocess.run(cmd, env=self.env, capture_output=True).returncode == 0

    def _out(self, *cmd: str) -> str:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True).stdout

    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld knows (finished ones too): id, state, partition, name, comment."""
        keys = ("id", "state", "partition", "name", "comment")
        out = self._out("squeue", "--states=all", "--noheader", "--format=%i|%T|%P|%j|%k")
        return [dict(zip(keys, line.split("|", 4), strict=True)) for line in out.splitlines() if line.count("|") >= 4]

    def scancel(self, job_id: str) -> None:
        subprocess.run(["scancel", job_id], env=self.env, check=True, capture_output=True)

    def stop(self) -> None:
        """Cancel what still runs, then stop slurmd, slurmctld and munged (in that order)."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--user", pwd.getpwuid(os.geteuid()).pw_name], env=self.env, capture_output=True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self._out("squeue", "-h", "-t", "RUNNING,COMPLETING", "-o", "%i").strip():
                time.sleep(0.2)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
