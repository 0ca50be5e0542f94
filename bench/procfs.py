"""What the benchmarks read from /proc: CPU time and memory of the server's processes and of
PostgreSQL, the machine, and where everything runs (placement: which cores the server, the
load generator and PostgreSQL may use)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# -- processes ------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def allowed_cpus(pid: int) -> str:
    """The cores a process may run on (`Cpus_allowed_list`), e.g. "0-1"; "" if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_times(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds used so far, by process."""
    tick = os.sysconf("SC_CLK_TCK")
    times = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    return times


def cpu_seconds(pids: Iterable[int]) -> float:
    return sum(cpu_times(pids).values())


def postgres_pids(database: str | None = None) -> list[int]:
    """PostgreSQL's processes; with `database`, only the backends connected to it (their
    title is "postgres: 15/main: USER DATABASE HOST STATE"). The machine's cluster is shared
    with other jobs: counting every backend would bill their queries to the benchmark."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() not in ("postgres", "postmaster"):
                    continue
                if database is not None:
                    title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    if f" {database} " not in title:
                        continue
            except OSError:
                continue
            found.append(int(entry.name))
    return sorted(found)


def reaped_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid`'s children that exited and were waited for
    (`cutime` + `cstime`)."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / tick


def postmaster_pid() -> int | None:
    """PostgreSQL's postmaster: the postgres process whose parent is not one."""
    pids = set(postgres_pids())
    for pid in sorted(pids):
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if parent not in pids:
            return pid
    return None


class CpuMeter:
    """CPU seconds used by the server's processes and by PostgreSQL between start and stop:
    the backends of `database` (every PostgreSQL process when None) that live at the stop,
    from zero for those that started meanwhile, plus the backends that exited meanwhile,
    from the postmaster's reaped children. Connections a pool opens and closes under load
    (its overflow) live and die inside a run; their backends' CPU (the fork, the login, the
    queries) is the server's load too, and /proc keeps it only in the postmaster's
    `cutime`. That part counts the exited backends of every database (and autovacuum
    workers): on a machine where other jobs use the cluster it is an upper bound. Not
    counted: the cluster's long-lived background processes (WAL writer, checkpointer)."""

    def __init__(self, server_pids: Callable[[], list[int]], database: str | None) -> None:
        self.server_pids = server_pids
        self.database = database
        self.postmaster = postmaster_pid()
        self.before_server = cpu_seconds(server_pids())
        self.before_pg = cpu_times(postgres_pids(database))
        self.before_reaped = self._reaped()

    def _reaped(self) -> float:
        return reaped_cpu_seconds(self.postmaster) if self.postmaster is not None else 0.0

    def stop(self) -> tuple[float, float]:
        server = cpu_seconds(self.server_pids()) - self.before_server
        after_pg = cpu_times(postgres_pids(self.database))
        pg = sum(t - self.before_pg.get(pid, 0.0) for pid, t in after_pg.items())
        # A backend alive at the start that exited meanwhile is in the reaped total whole:
        # take off what it had used before the start.
        exited_before = sum(t for pid, t in self.before_pg.items() if pid not in after_pg)
        pg += self._reaped() - self.before_reaped - exited_before
        return server, max(0.0, pg)


# -- placement ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Which cores the benchmark servers (`taskset -c`) and the load generator (this process,
    wrk and the WebSocket clients it starts) run on; None: not pinned. PostgreSQL and Redis
    are the machine's shared services and are never pinned: their allowed cores are read."""

    server: str | None
    loadgen: str | None
    note: str = ""

    def apply(self) -> None:
        """Pin this process (the load generator and everything it starts) to its cores."""
        if self.loadgen is not None:
            os.sched_setaffinity(0, _cpu_set(self.loadgen))

    def describe(self) -> str:
        """Short enough for the table: "srv 0 | lg 1 | pg 0-1"."""
        cpus = _all_cpus()
        return f"srv {self.server or cpus} | lg {self.loadgen or cpus} | pg {postgres_cpus()}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "server_cpus": self.server or _all_cpus(),
            "load_generator_cpus": self.loadgen or _all_cpus(),
            "postgres_cpus": postgres_cpus() + " (not pinned: the shared cluster)",
            "note": self.note,
        }


def postgres_cpus() -> str:
    """The cores PostgreSQL may use (its first process that answers)."""
    for pid in postgres_pids():
        cpus = allowed_cpus(pid)
        if cpus:
            return cpus
    return "?"


def choose_placement(workers: int, *, pin: bool) -> Placement:
    """One worker: the server on the first core, the load generator on the others. More
    workers: the server may use every core (the load generator then shares one, said so)."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin:
        return Placement(None, None, "not pinned (--no-pin)")
    if len(cpus) < 2:
        return Placement(None, None, "one core: nothing to pin apart")
    if workers == 1:
        return Placement(str(cpus[0]), ",".join(map(str, cpus[1:])))
    return Placement(
        ",".join(map(str, cpus)),
        str(cpus[-1]),
        f"{workers} workers on every core: the load generator shares core {cpus[-1]}",
    )


def _cpu_set(spec: str) -> set[int]:
    found: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.partition("-")
        found.update(range(int(low), int(high or low) + 1))
    return found


def _all_cpus() -> str:
    return f"0-{(os.cpu_count() or 1) - 1}"


# -- the machine ----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": mem_gib,
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def busy_warning() -> str | None:
    """Benchmarks on a shared 2-core machine: say so when something else is using it."""
    load = os.getloadavg()[0]
    if load > 1.5:
        return f"1-minute load average is {load:.2f} before this scenario: figures may be low"
    return None
