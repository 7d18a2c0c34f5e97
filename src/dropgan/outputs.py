"""Output folders that a run fills safely: collisions checked before any work, one run at a
time per folder, every file complete or absent, and no folder left behind by a failed run.

The guarantee: each image file is written whole or not at all (temporary file, then rename);
a folder is written by one dropgan run at a time (a lock file holding the writer's pid; a
stale lock of a killed run is taken over); files are written as their images are made, so a
long run that is interrupted keeps what it finished and says how much that was; without
``force`` no existing file is replaced, and with it only the run's own file names are.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import torch

from .errors import OutputError
from .image import METADATA_KEY, write_image

__all__ = ["LOCK_NAME", "OutputSet", "check_writable"]

#: The lock file of a folder being written.
LOCK_NAME = ".dropgan.lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputSet:
    """The files ``names`` of a run in ``folder``, used as a context manager.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "a" / "b"
    >>> with OutputSet(folder, ["x.png"]) as out:
    ...     _ = out.write("x.png", torch.zeros(3, 4, 4), {"seed": 0})
    >>> sorted(p.name for p in folder.iterdir())
    ['x.png']
    """

    def __init__(self, folder: str | os.PathLike, names: Sequence[str], force: bool = False):
        self.folder = Path(folder)
        self.names = list(names)
        self.force = force
        self.written: list[Path] = []
        self._created: list[Path] = []
        self._locked = False

    def __enter__(self) -> OutputSet:
        self._check()
        self._make_folder()
        try:
            self._lock()
        except BaseException:
            self._remove_created()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._locked:
            (self.folder / LOCK_NAME).unlink(missing_ok=True)
        if kind is not None:
            self._remove_created()

    def _check(self) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise OutputError(f"output folder {self.folder} is a file")
        if len(set(self.names)) != len(self.names):
            raise OutputError("two outputs of the run would have the same name")
        for name in self.names:
            target = self.folder / name
            if target.is_dir():
                raise OutputError(f"{target} is a folder; an image cannot replace it")
            if target.exists() and not self.force:
                raise OutputError(f"{target} exists (use --force to overwrite)")

    def _make_folder(self) -> None:
        missing = []
        for parent in [self.folder, *self.folder.parents]:
            if parent.exists():
                break
            missing.append(parent)
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except OSError as e:
                self._remove_created()
                raise OutputError(f"cannot create output folder {folder}: {e.strerror}") from None
            self._created.append(folder)
        if not os.access(self.folder, os.W_OK | os.X_OK):
            self._remove_created()
            raise OutputError(f"output folder {self.folder} is not writable")

    def _lock(self) -> None:
        lock = self.folder / LOCK_NAME
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    pid = int(lock.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _alive(pid):
                    raise OutputError(
                        f"another dropgan run (pid {pid}) is writing to {self.folder}"
                    ) from None
                lock.unlink(missing_ok=True)  # a killed run's: take it over
                continue
            except OSError as e:
                raise OutputError(f"cannot write to {self.folder}: {e.strerror}") from None
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            self._locked = True
            return
        raise OutputError(f"cannot lock {self.folder}")

    def _remove_created(self) -> None:
        for folder in reversed(self._created):
            try:
                folder.rmdir()  # only if empty: never a file the run wrote
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    raise
                break
        self._created = []

    def write(self, name: str, image: torch.Tensor, metadata: Mapping[str, object]) -> Path:
        """Write one image of the run with its metadata (JSON in the PNG text chunk)."""
        text = {METADATA_KEY: json.dumps(dict(metadata), sort_keys=True, default=str)}
        path = write_image(image, self.folder / name, text, force=True)
        self.written.append(path)
        if self._created and self.written:
            self._created = []  # the folders now hold results: keep them
        return path


def check_writable(path: str | os.PathLike) -> None:
    """That a file can be written at ``path`` (its missing folders made): it is not a folder,
    and its nearest existing ancestor is a folder this process may write in. For outputs
    written at the end of long work, checked before it.

    Examples
    --------
    >>> import tempfile
    >>> check_writable(Path(tempfile.gettempdir()) / "new" / "page.md")
    >>> check_writable(tempfile.gettempdir())
    Traceback (most recent call last):
    ...
    dropgan.errors.OutputError: ... is a folder; a file cannot replace it
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder; a file cannot replace it")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: {parent} is not writable")
