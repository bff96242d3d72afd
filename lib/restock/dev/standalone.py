"""A Spark standalone cluster on this machine, and the spark-submit command for it.

`make cluster-up` starts one master and N workers (each its own JVM) with the installed
pyspark's `spark-class`; their pids, logs and work folders live in one state folder
(`.cluster/`). `make cluster-down` stops exactly the processes whose pids that folder
holds. `make submit` runs `jobs/<job>_job.py` there with the packed Python environment
and the project's Delta jars. The cluster test drives the same functions.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click

from restock.errors import RestockError
from restock.paths import project_root

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
HOST = "127.0.0.1"


class ClusterError(RestockError):
    """The local standalone cluster could not be started, reached or stopped."""


@dataclass(frozen=True)
class Cluster:
    """Where a local standalone cluster keeps its state, and the ports it listens on."""

    state_dir: Path
    master_port: int = 7077
    master_ui_port: int = 8090
    worker_ui_ports: tuple[int, ...] = (8091, 8092)
    worker_cores: int = 1
    worker_memory: str = "2g"
    spark_home: Path = field(default_factory=lambda: spark_home())

    @property
    def master_url(self) -> str:
        """spark://host:port of the master."""
        return f"spark://{HOST}:{self.master_port}"

    @property
    def json_url(self) -> str:
        """The master web UI's JSON status page."""
        return f"http://{HOST}:{self.master_ui_port}/json/"

    def pid_file(self, name: str) -> Path:
        """The pid file of `master` or `worker-<i>`."""
        return self.state_dir / f"{name}.pid"


def spark_home() -> Path:
    """The Spark distribution inside the installed pyspark package."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def up(cluster: Cluster, timeout_s: float = 120.0) -> dict:
    """Start the master and workers that are not already running; wait for registration.

    Idempotent: a process whose pid file points at a live JVM of the right class is kept.
    A port some other process holds stops the start with the port's name.

    Returns:
        The master's JSON status once every worker is ALIVE.
    """
    cluster.state_dir.mkdir(parents=True, exist_ok=True)
    if not _alive(cluster.pid_file("master"), MASTER_CLASS):
        _check_free({"master": cluster.master_port, "master UI": cluster.master_ui_port})
        _start(cluster, "master", [MASTER_CLASS, "--host", HOST, "--port",
                                   str(cluster.master_port), "--webui-port",
                                   str(cluster.master_ui_port)])
    for i, ui_port in enumerate(cluster.worker_ui_ports, start=1):
        name = f"worker-{i}"
        if _alive(cluster.pid_file(name), WORKER_CLASS):
            continue
        _check_free({f"{name} UI": ui_port})
        work_dir = cluster.state_dir / f"work-{i}"
        work_dir.mkdir(exist_ok=True)
        _start(cluster, name, [WORKER_CLASS, "--host", HOST, "--cores",
                               str(cluster.worker_cores), "--memory", cluster.worker_memory,
                               "--webui-port", str(ui_port), "--work-dir", str(work_dir),
                               cluster.master_url])
    return wait_for_workers(cluster, len(cluster.worker_ui_ports), timeout_s)


def down(cluster: Cluster, timeout_s: float = 30.0) -> list[str]:
    """Stop the workers, then the master, by the pids in the state folder; nothing else.

    A pid whose process is gone, or is no longer a Spark JVM of the expected class (the
    pid was reused), is only forgotten. Returns the names of the processes stopped.
    """
    stopped = []
    names = [f"worker-{i}" for i in range(1, len(cluster.worker_ui_ports) + 1)] + ["master"]
    for name in names:
        pid_file = cluster.pid_file(name)
        klass = MASTER_CLASS if name == "master" else WORKER_CLASS
        pid = _alive(pid_file, klass)
        if pid:
            _terminate(pid, timeout_s)
            stopped.append(name)
        pid_file.unlink(missing_ok=True)
    return stopped


def status(cluster: Cluster) -> dict:
    """The master's JSON status (workers, cores, running and completed apps)."""
    try:
        with urllib.request.urlopen(cluster.json_url, timeout=5) as response:
            return json.load(response)
    except OSError as exc:
        raise ClusterError(f"no Spark master UI at {cluster.json_url}: {exc}") from None


def wait_for_workers(cluster: Cluster, count: int, timeout_s: float) -> dict:
    """Poll the master's JSON until `count` workers are ALIVE."""
    deadline = time.monotonic() + timeout_s
    last = "master not answering"
    while time.monotonic() < deadline:
        for name in ["master"] + [f"worker-{i}" for i in range(1, count + 1)]:
            if not _running(cluster.pid_file(name)):
                raise ClusterError(f"{name} exited during start-up: {_tail(cluster, name)}")
        try:
            state = status(cluster)
        except ClusterError as exc:
            last = str(exc)
        else:
            alive = [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]
            if len(alive) >= count:
                return state
            last = f"{len(alive)} of {count} workers registered"
        time.sleep(0.5)
    raise ClusterError(f"cluster not ready after {timeout_s:.0f} s: {last}")


def submit_command(
    master_url: str,
    job: str,
    job_args: Sequence[str] = (),
    env_archive: Path | None = None,
    jars_dir: Path | None = None,
    executor_memory: str = "1g",
    spark_conf: Sequence[str] = (),
) -> list[str]:
    """The spark-submit argv that runs `jobs/<job>_job.py` with `--env cluster`.

    Executors run `./environment/bin/python` from the packed environment shipped with
    `--archives <env>#environment`; the Delta jars travel with `--jars`; the driver (client
    mode, this machine) runs the project's own Python.
    """
    root = project_root()
    env_archive = env_archive or root / "dist" / "restock-env.tar.gz"
    jars_dir = jars_dir or root / ".jars"
    jars = sorted(jars_dir.glob("*.jar"))
    script = root / "jobs" / f"{job}_job.py"
    for path, hint in [(env_archive, "make package"), (script, "a job name from jobs/*_job.py")]:
        if not path.is_file():
            raise ClusterError(f"{path} not found ({hint})")
    if not jars:
        raise ClusterError(f"no Delta jars in {jars_dir} (make install)")
    log4j = root / "conf" / "log4j2.properties"
    argv = [
        str(spark_home() / "bin" / "spark-submit"), "--master", master_url,
        "--deploy-mode", "client", "--name", f"restock-{job}",
        "--archives", f"{env_archive}#environment",
        "--conf", "spark.pyspark.python=./environment/bin/python",
        "--conf", f"spark.pyspark.driver.python={sys.executable}",
        "--jars", ",".join(str(j) for j in jars),
        "--executor-memory", executor_memory,
        "--driver-java-options", f"-Dlog4j.configurationFile=file:{log4j}",
    ]
    for item in spark_conf:
        argv += ["--conf", item]
    return [*argv, str(script), "--env", "cluster", *job_args]


def submit_env() -> dict[str, str]:
    """spark-submit's environment: pyspark's Spark, and a driver bound to the loopback."""
    return {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": HOST}


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _start(cluster: Cluster, name: str, args: list[str]) -> None:
    """Launch one spark-class JVM in its own session; record its pid."""
    log = (cluster.state_dir / f"{name}.log").open("ab")
    env = {**os.environ, "SPARK_HOME": str(cluster.spark_home), "SPARK_LOCAL_IP": HOST}
    process = subprocess.Popen(
        [str(cluster.spark_home / "bin" / "spark-class"), *args],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=env, start_new_session=True,
    )
    cluster.pid_file(name).write_text(f"{process.pid}\n")


def _alive(pid_file: Path, klass: str) -> int | None:
    """The pid in pid_file when it is a live JVM running klass, else None."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if klass.encode() in cmdline else None


def _running(pid_file: Path) -> bool:
    """True while the pid in pid_file is a live process (spark-class before or after exec)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    return Path(f"/proc/{pid}").exists() and not _zombie(pid)


def _terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM the pid, wait for it to exit, SIGKILL it after timeout_s."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        if _zombie(pid):
            return
        time.sleep(0.2)
    if Path(f"/proc/{pid}").exists() and not _zombie(pid):
        os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    """True when pid has exited but its parent has not reaped it yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _check_free(ports: dict[str, int]) -> None:
    """Fail naming the first port something already listens on."""
    for what, port in ports.items():
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((HOST, port)) == 0:
                raise ClusterError(f"{what} port {port} on {HOST} is already in use")


def _tail(cluster: Cluster, name: str, lines: int = 5) -> str:
    """The last lines of a process's log, on one line."""
    log = cluster.state_dir / f"{name}.log"
    text = log.read_text(errors="replace").splitlines()[-lines:] if log.is_file() else []
    return " | ".join(text) or f"(no log at {log})"


def _cluster_options(fn):
    """Options naming the cluster's state folder and ports (each also an env variable)."""
    options = [
        click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=".cluster", show_default=True, envvar="CLUSTER_DIR",
                     help="Folder of the pids, logs and work folders."),
        click.option("--master-port", type=int, default=7077, show_default=True,
                     envvar="MASTER_PORT"),
        click.option("--master-ui-port", type=int, default=8090, show_default=True,
                     envvar="MASTER_UI_PORT"),
        click.option("--worker-ui-ports", default="8091,8092", show_default=True,
                     envvar="WORKER_UI_PORTS", help="One web UI port per worker."),
        click.option("--worker-cores", type=click.IntRange(1), default=1, show_default=True,
                     envvar="WORKER_CORES"),
        click.option("--worker-memory", default="2g", show_default=True,
                     envvar="WORKER_MEMORY"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _cluster(state_dir, master_port, master_ui_port, worker_ui_ports, worker_cores,
             worker_memory) -> Cluster:
    """A Cluster from the command-line options."""
    ports = tuple(int(p) for p in str(worker_ui_ports).split(",") if p.strip())
    return Cluster(Path(state_dir).resolve(), master_port, master_ui_port, ports,
                   worker_cores, worker_memory)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """A local Spark standalone cluster (master + workers) and spark-submit to it."""


@cli.command("up")
@_cluster_options
def up_cmd(**options) -> None:
    """Start the master and the workers that are not running; wait until all are ALIVE."""
    cluster = _cluster(**options)
    state = up(cluster)
    workers = ", ".join(f"{w['host']}:{w['port']} ({w['cores']} core, {w['memory']} MiB)"
                        for w in state["workers"] if w["state"] == "ALIVE")
    click.echo(f"master {cluster.master_url}  UI http://{HOST}:{cluster.master_ui_port}")
    click.echo(f"workers {workers}")
    click.echo(f"pids and logs in {cluster.state_dir}")


@cli.command("down")
@_cluster_options
def down_cmd(**options) -> None:
    """Stop the processes whose pids the state folder holds (workers first)."""
    stopped = down(_cluster(**options))
    click.echo(f"stopped {', '.join(stopped)}" if stopped else "no cluster process running")


@cli.command("submit", context_settings={"ignore_unknown_options": True,
                                       "allow_interspersed_args": False})
@click.option("--master-url", envvar="MASTER_URL", default=f"spark://{HOST}:7077",
              show_default=True)
@click.option("--executor-memory", envvar="EXECUTOR_MEMORY", default="1g", show_default=True)
@click.option("--conf", "spark_conf", multiple=True, metavar="KEY=VALUE",
              help="Extra Spark setting for spark-submit.")
@click.argument("job")
@click.argument("job_args", nargs=-1, type=click.UNPROCESSED)
def submit_cmd(master_url, executor_memory, spark_conf, job, job_args) -> None:
    """spark-submit jobs/JOB_job.py to the cluster; JOB_ARGS go to the job (the CLI's flags)."""
    argv = submit_command(master_url, job, job_args, executor_memory=executor_memory,
                          spark_conf=spark_conf)
    click.echo(shlex.join(argv), err=True)
    raise SystemExit(subprocess.call(argv, env=submit_env()))


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors for cluster problems, exit code 2."""
    try:
        cli.main(args=argv, prog_name="python -m restock.dev.standalone", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except RestockError as exc:
        click.echo(f"restock.dev.standalone: error: {exc}", err=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
