"""Files the platform writes for people and other systems: written whole or not at all."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def write_atomically(path: Path, write: Callable[[Path], T]) -> T:
    """Call ``write(tmp)`` with a temporary path beside ``path``, then rename it over
    ``path``: a reader sees the old file or the new one, never half of one, and a failure
    leaves no temporary file behind. Returns what ``write`` returned."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        value = write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return value


def link_new(tmp: Path, names: Iterable[Path]) -> Path:
    """Give the complete file ``tmp`` the first of ``names`` that is free, and return it.

    A hard link fails rather than replace a file that appeared meanwhile, so nobody's file is
    ever overwritten; on a file system without hard links, a rename of a name just seen free.
    ``tmp`` is gone afterwards. Raises FileExistsError when every name is taken.
    """
    try:
        for target in names:
            if target.exists():
                continue
            try:
                os.link(tmp, target)
            except FileExistsError:
                continue
            except OSError:  # no hard links here
                os.rename(tmp, target)
            return target
        raise FileExistsError(f"no free name for {tmp.name} in {tmp.parent}")
    finally:
        tmp.unlink(missing_ok=True)


def write_new(folder: Path, body: bytes, names: Iterable[str]) -> Path:
    """Write ``body`` as a new file in ``folder`` under the first free of ``names``: written
    whole under a hidden name first (``.``: never read by the batch), then :func:`link_new`."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".new-{os.getpid()}-{threading.get_ident()}-{time.time_ns()}.tmp"
    with tmp.open("wb") as fh:
        fh.write(body)
        fh.flush()
        os.fsync(fh.fileno())
    return link_new(tmp, (folder / name for name in names))
