"""A bubblewrap sandbox for code the course did not write: a student's submission, run by the grader.

``command(argv, work)`` wraps a command line so that it runs

* with **no network** (its own network namespace: only its own loopback), **its own process
  tree** (a PID namespace; every process in it is killed when the sandbox's first process ends or
  the grader kills it, detached or not) and its own session (no terminal to push keystrokes into);
* on a filesystem made of the system (``/usr``, ``/etc``), Python, the installed packages and the
  ``course`` package, all **read-only**; the datasets read-only; an empty private home and ``/tmp``
  (size-limited tmpfs); and one writable folder, ``work``, the submission's own. The instructor's
  home, the course's ``solutions/``, the other submissions and the grades are simply not there;
* under **resource limits** set inside the sandbox before the command starts: address space,
  processes, CPU seconds, file size (:class:`Limits`); when the grader runs as root, as user
  ``nobody``, so that the process limit holds and root-only files stay closed.

The same file is the launcher that sets those limits inside the sandbox
(``python sandbox.py --limits ... -- COMMAND``), so it uses the standard library only and imports
nothing from the course. Taught in the README's "Grading a class" section.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

#: The user a root grader runs submissions as.
NOBODY = 65534
PACKAGE = Path(__file__).resolve().parent
MISSING = ("grading runs each submission in a bubblewrap sandbox and none can be made here ({why}): install "
           "Debian's `bubblewrap` package (apt-get install bubblewrap), or pass --no-sandbox to run the "
           "students' code with your own rights")


@dataclass(frozen=True)
class Limits:
    """What one submission may use. CPU seconds are per process: a limit on how long a runaway
    process may live, not a fair share (the wall-clock limit is the grader's)."""

    memory_bytes: int = 6 << 30  # address space of each process
    processes: int = 512  # threads count: TensorFlow starts a few dozen
    cpu_seconds: int = 3600
    file_bytes: int = 256 << 20  # largest file it may write
    home_bytes: int = 512 << 20  # the private home (tmpfs)
    tmp_bytes: int = 256 << 20  # the private /tmp (tmpfs)
    shm_bytes: int = 64 << 20  # the private /dev/shm (tmpfs)

    def argv(self) -> list[str]:
        return ["--limits", str(self.memory_bytes), str(self.processes), str(self.cpu_seconds), str(self.file_bytes)]


def _as_root() -> bool:
    return os.geteuid() == 0


def _namespaces() -> list[str]:
    if _as_root():  # no user namespace: then the launcher may drop to nobody, and the kernel counts its processes
        return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return ["--unshare-all"]


def _system() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    cpu = Path("/sys/devices/system/cpu")  # how many cores: TensorFlow and NumPy size their thread pools by it
    if cpu.is_dir():
        args += ["--ro-bind", str(cpu), str(cpu)]
    return args


def python_paths(project: Path | None = None) -> list[Path]:
    """The folders Python needs to run the course, none of them holding ``solutions/``: the interpreter,
    the virtual environment, the ``sys.path`` entries inside them, and the ``course`` package alone (never
    the checkout it sits in, nor the working directory, which ``python -m`` puts on ``sys.path``)."""
    project = (project or PACKAGE.parent).resolve()
    prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    prefixes.add(Path(sys.executable).resolve().parent.parent)
    found = list(prefixes) + [Path(p).resolve() for p in sys.path if p and Path(p).is_dir()]
    keep = [PACKAGE]
    for path in found:
        inside = any(path == p or p in path.parents for p in prefixes) or path.name in ("site-packages", "dist-packages")
        if not inside or path == Path("/") or path == project or path in project.parents:
            continue  # the working directory, the checkout or above it: the package alone is bound
        if (path / "solutions").exists() or path == Path("/usr") or Path("/usr") in path.parents:
            continue
        if any(path == k or k in path.parents for k in keep):
            continue
        keep = [k for k in keep if path not in k.parents] + [path]
    return sorted(keep)


def command(argv: list[str], work: Path, env: dict[str, str], limits: Limits = Limits(),
            readonly: list[Path] = (), home: str = "/home/student") -> list[str]:
    """``argv`` wrapped in bubblewrap and in the launcher that sets ``limits``; ``work`` is the only
    writable folder from outside, ``readonly`` folders are added read-only (datasets)."""
    args = ["bwrap", "--die-with-parent", "--new-session", *_namespaces(), *_system(),
            "--dev", "/dev", "--proc", "/proc",
            "--perms", "1777", "--size", str(limits.shm_bytes), "--tmpfs", "/dev/shm",  # joblib's semaphores
            "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
            "--perms", "0777", "--size", str(limits.home_bytes), "--tmpfs", home]
    made = {Path("/"), Path("/tmp"), Path("/usr"), Path("/etc"), Path(home)}

    def parents(path: Path) -> list[str]:  # bwrap would make them 0700, closed to nobody
        out = []
        for parent in reversed(path.parents):
            if parent not in made:
                made.add(parent)
                out += ["--perms", "0755", "--dir", str(parent)]
        return out

    for path in python_paths() + [Path(p).resolve() for p in readonly]:
        if path.exists():
            args += [*parents(path), "--ro-bind", str(path), str(path)]
    work = Path(work).resolve()
    args += [*parents(work), "--bind", str(work), str(work), "--chdir", home, "--clearenv"]
    base = {"HOME": home, "TMPDIR": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"}
    for key, value in {**base, **env}.items():
        args += ["--setenv", key, value]
    launcher = [sys.executable, "-I", str(PACKAGE / "sandbox.py"), *limits.argv()]
    if _as_root():
        launcher += ["--user", str(NOBODY)]
    return args + ["--", *launcher, "--", *argv]


def plain(argv: list[str], env: dict[str, str], limits: Limits = Limits()) -> tuple[list[str], dict[str, str]]:
    """``argv`` under the same limits without a sandbox (``--no-sandbox``): it runs with the grader's rights."""
    return [sys.executable, "-I", str(PACKAGE / "sandbox.py"), *limits.argv(), "--", *argv], {**os.environ, **env}


def prepare(work: Path) -> None:
    """Make ``work`` (and what is in it) the sandbox's: writable by the user it runs as."""
    if _as_root():
        for path in [work, *Path(work).rglob("*")]:
            os.chown(path, NOBODY, NOBODY, follow_symlinks=False)


@lru_cache(maxsize=1)
def unavailable() -> str | None:
    """Why no sandbox can be made here, or None when one can (tried once, with a trivial command)."""
    if shutil.which("bwrap") is None:
        return "`bwrap` is not installed"
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sandbox-try-") as work:
        prepare(Path(work))
        try:
            done = subprocess.run(command(["/bin/true"], Path(work), {}), capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"bwrap did not start: {err}"
    if done.returncode != 0:
        return f"bwrap failed: {(done.stderr.strip().splitlines() or ['exit status %d' % done.returncode])[-1]}"
    return None


def _launch(args: list[str]) -> None:
    """Inside the sandbox: set the limits, drop to ``--user`` when root, then become the command."""
    import resource

    split = args.index("--")
    options, argv = args[:split], args[split + 1:]
    memory, processes, cpu, size = (int(v) for v in options[options.index("--limits") + 1:][:4])
    for limit, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_NPROC, processes),
                         (resource.RLIMIT_CPU, cpu), (resource.RLIMIT_FSIZE, size), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))
    if "--user" in options and os.getuid() == 0:
        user = int(options[options.index("--user") + 1])
        os.setgroups([])
        os.setgid(user)
        os.setuid(user)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    _launch(sys.argv[1:])
