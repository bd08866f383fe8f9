"""The builds a bench runs: this working tree, and for ``--compare REV`` a git revision beside it.

A revision is checked out with ``git worktree add --detach`` into the run's temporary
directory and removed again at the end (``git worktree remove``). Its gateway processes run
with the same interpreter and virtualenv, ``PYTHONPATH`` pointing at the worktree: an entry
there comes before the editable install's finder, so ``python -m gateway`` (and gunicorn's
``load_tests.bench.gunicorn_app``) import the revision's code, which ``revision`` checks
before anything is measured. The bench itself (wrk, the harness, the corpus) stays this tree's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from load_tests.machine import ROOT


@dataclass(frozen=True, slots=True)
class Build:
    """One build of the gateway: ``name`` keys its figures (``head``, ``base``)."""

    name: str
    label: str
    commit: str | None = None
    root: Path | None = None  # the worktree on PYTHONPATH; None: this tree, as installed
    env: Mapping[str, str] = field(default_factory=dict)


HEAD = Build("head", "working tree")


def _git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


@contextmanager
def revision(rev: str, tmp: Path) -> Iterator[Build]:
    """``rev`` checked out in a worktree under ``tmp`` for as long as the context lasts."""
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    path = tmp / f"rev-{commit[:12]}"
    _git("worktree", "add", "--detach", str(path), commit)
    try:
        build = Build("base", f"{rev} ({commit[:12]})", commit, path, {"PYTHONPATH": str(path)})
        imported(build, tmp)
        yield build
    finally:
        _git("worktree", "remove", "--force", str(path))


def imported(build: Build, cwd: Path) -> None:
    """Check that a process started with the build's environment imports the build's code."""
    done = subprocess.run(
        [sys.executable, "-c", "import gateway, load_tests; print(gateway.__file__); "
         "print(load_tests.__file__)"],
        cwd=cwd, env=_environ(build), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    root = (build.root or ROOT).resolve()
    for line in done.stdout.split():
        if not Path(line).resolve().is_relative_to(root):
            raise RuntimeError(f"{build.label}: {line} is not under {root}")


def _environ(build: Build) -> dict[str, str]:
    return {**os.environ, **build.env}
