"""Writing output folders without ever losing anything: ownership, a lock, and an atomic swap.

The tool replaces only what it wrote and recorded (`run.json`'s `outputs`, `letters/letters.json`),
unchanged since. A new output is built in a hidden sibling folder and exchanged with the old one in
one atomic step (Linux `renameat2(RENAME_EXCHANGE)`), so at every instant the folder is the complete
old output or the complete new one, even if the process is killed. Where the exchange is not
available, the old folder is renamed aside first and the next command puts it back if the process
died in between. Hidden folders a killed command left behind are removed by the next command.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

from .errors import PayoutError, error

RUN_MANIFEST = "run.json"
LETTERS = "letters"
LETTERS_MANIFEST = "letters.json"
STAGING = ".skl-payout-"  # in every hidden folder the tool makes: `.<name>.skl-payout-new-xxxxxxxx`
SELF_HASH = "manifest_sha256"  # a manifest's hash of itself without this key: an edited manifest is not ours
_STAGED = re.compile(r"^\..*\.skl-payout-(new|old)-[a-z0-9_]+$")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hashes(folder: Path, names: Iterable[str]) -> dict[str, str]:
    return {name: sha256(folder / name) for name in sorted(names)}


def stage_prefix(target: Path, kind: str) -> str:
    """`.NAME.skl-payout-KIND-`; a long NAME is cut so the hidden name stays within the system's limit."""
    return f".{target.name[:64]}{STAGING}{kind}-"


def is_staging(path: Path) -> bool:
    return _STAGED.match(path.name) is not None and path.is_dir() and not path.is_symlink()


# --- manifests that vouch for themselves ----------------------------------------------------------


def manifest_text(data: dict) -> str:
    """The manifest as written, with its own hash: any later edit shows."""
    body = {k: v for k, v in data.items() if k != SELF_HASH}
    text = _dump(body)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if not body:
        return _dump({SELF_HASH: digest})
    # the same text as dumping {**body, SELF_HASH: digest}, without writing the whole body again
    return text[:-3] + f',\n  {json.dumps(SELF_HASH)}: {json.dumps(digest)}\n}}\n'


def _dump(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def read_manifest(path: Path) -> dict | None:
    """A manifest skl-payout wrote and nobody changed since; None for anything else."""
    data, intact = _manifest_of_ours(path)
    return data if intact else None


def _manifest_of_ours(path: Path) -> tuple[dict | None, bool]:
    """(the manifest, whether it is unchanged) if skl-payout wrote it; (None, False) if not."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None, False
    if not isinstance(data, dict) or data.get("tool") != "skl-payout" or not isinstance(data.get(SELF_HASH), str):
        return None, False
    return data, _unchanged(text)


@lru_cache(maxsize=32)
def _unchanged(text: str) -> bool:
    """Whether a manifest's text is exactly what skl-payout writes for its content. Once per text and
    process: a command reads run.json several times, and each check writes the whole manifest again."""
    return manifest_text(json.loads(text)) == text


# --- what the tool wrote -------------------------------------------------------------------------

_EDITED = "edited"  # stands for a manifest's hash when the manifest was changed: never matches a file's


def recorded_letters(letters: Path) -> dict[str, str | None]:
    """Letter files recorded in letters.json (name -> SHA-256), with letters.json itself."""
    data, intact = _manifest_of_ours(letters / LETTERS_MANIFEST)
    files = data.get("files") if data else None
    if not isinstance(files, dict):
        return {}
    recorded: dict[str, str | None] = {LETTERS_MANIFEST: None if intact else _EDITED}
    for name, entry in files.items():
        if isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and "/" not in name:
            recorded[name] = entry["sha256"]
    return recorded


def recorded_run(folder: Path) -> dict[str, str | None]:
    """Every file run.json (and letters/letters.json) records, by relative path, with run.json itself."""
    data, intact = _manifest_of_ours(folder / RUN_MANIFEST)
    outputs = data.get("outputs") if data else None
    if not isinstance(outputs, dict):
        return {}
    recorded: dict[str, str | None] = {RUN_MANIFEST: None if intact else _EDITED}
    recorded.update({name: digest for name, digest in outputs.items() if isinstance(digest, str) and "/" not in name})
    if (folder / LETTERS).is_dir() and not (folder / LETTERS).is_symlink():
        recorded.update({f"{LETTERS}/{name}": digest for name, digest in recorded_letters(folder / LETTERS).items()})
    return recorded


def foreign(folder: Path, recorded: dict[str, str | None]) -> list[str]:
    """What in `folder` the tool did not write, or that was changed since it did (relative paths)."""
    known_dirs = {rel.rsplit("/", 1)[0] for rel in recorded if "/" in rel}
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        walk_into = []
        for name in sorted(dirs):
            path, rel = here / name, (here / name).relative_to(folder).as_posix()
            if is_staging(path):
                continue  # a hidden folder a killed command of ours left: removed by `tidy`
            if path.is_symlink() or rel not in known_dirs:
                found.append(f"{rel}/")
            else:
                walk_into.append(name)
        dirs[:] = walk_into
        for name in sorted(files):
            path, rel = here / name, (here / name).relative_to(folder).as_posix()
            if path.is_symlink():
                found.append(f"{rel} (a link)")
            elif rel not in recorded:
                found.append(rel)
            elif recorded[rel] is not None and sha256(path) != recorded[rel]:
                found.append(f"{rel} (changed since skl-payout wrote it)")
    return found


def refuse_foreign(folder: Path, recorded: dict[str, str | None], what: str) -> None:
    strange = foreign(folder, recorded)
    if strange:
        shown = ", ".join(strange[:5]) + (f" and {len(strange) - 5} more" if len(strange) > 5 else "")
        raise PayoutError(error(str(folder), f"holds files skl-payout did not write (or that were changed since): "
                                f"{shown}; refusing to replace {what}",
                                "move those files elsewhere, or choose a new or empty output folder"))


# --- one writer at a time, and tidying after a killed one -----------------------------------------


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` (a directory) while writing into it; refuse if another holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX: no lock, the swap is still all or nothing
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PayoutError(error(str(folder), "another skl-payout command is writing here right now",
                                    "wait for it to finish, then run again")) from None
        _HELD.add(fd)
        yield
    finally:
        _HELD.discard(fd)
        os.close(fd)


_HELD: set[int] = set()  # the descriptors of the folder locks this process holds


def drop_inherited_locks() -> None:
    """In a forked child: close its copies of the parent's lock descriptors. A lock lasts while any copy
    is open, so a child holding them would keep the folder locked after its parent was killed."""
    for fd in list(_HELD):
        _HELD.discard(fd)
        try:
            os.close(fd)
        except OSError:
            pass


def tidy(target: Path) -> None:
    """Remove what a killed command left beside `target`; put back an old folder a fallback swap moved aside."""
    parent = target.parent
    if not parent.is_dir():
        return
    mine = (stage_prefix(target, "new"), stage_prefix(target, "old"))
    leftovers = sorted(p for p in parent.iterdir() if p.name.startswith(mine) and is_staging(p))
    if not target.exists():
        old = [p for p in leftovers if p.name.startswith(mine[1])]
        if old:
            old[-1].rename(target)
            leftovers.remove(old[-1])
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)


def tidy_run(run: Path) -> None:
    """Before a command reads a run folder: remove what killed commands left there, if nobody is writing."""
    run = Path(run).absolute()
    if not run.parent.is_dir():
        return
    try:
        with locked(run.parent):
            tidy(run)
            if run.is_dir():
                tidy(run / LETTERS)
    except (PayoutError, OSError):
        pass  # another command is writing, or the folder is not ours to tidy: leave it


# --- the swap -------------------------------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover
        return None


_LIBC = _libc()


def exchange(a: Path, b: Path) -> None:
    """Swap two paths in one atomic step; OSError(ENOSYS/EINVAL) where the system cannot."""
    fn = getattr(_LIBC, "renameat2", None) if _LIBC is not None else None
    if fn is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(b))


_PUT_IN_PLACE: list[Path] = []  # what this command has replaced: an interrupt after that must not say otherwise


def put_in_place() -> list[Path]:
    """The folders this command has already replaced with its new output (see `forget_put_in_place`)."""
    return list(_PUT_IN_PLACE)


def forget_put_in_place() -> None:
    _PUT_IN_PLACE.clear()


def swap_in(stage: Path, target: Path) -> None:
    """Make `stage` the new `target`; the old one (if any) is removed afterwards."""
    new = os.stat(stage)
    try:
        _swap_in(stage, target)
    finally:  # also when interrupted at any instant: whether the new output is in place is read from the disk
        try:
            now = os.stat(target)
            if (now.st_dev, now.st_ino) == (new.st_dev, new.st_ino):
                _PUT_IN_PLACE.append(target)
        except OSError:
            pass


def _swap_in(stage: Path, target: Path) -> None:
    if not target.exists():
        os.rename(stage, target)
        return
    try:
        exchange(stage, target)  # `stage` now holds the old output
        shutil.rmtree(stage, ignore_errors=True)
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    aside = Path(tempfile.mkdtemp(prefix=stage_prefix(target, "old"), dir=target.parent))
    aside.rmdir()
    os.rename(target, aside)  # killed here: `tidy` puts it back before the next command writes
    os.rename(stage, target)
    shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def staged(target: Path, recorded, what: str, protect: Iterable[Path] = (), lock: Path | None = None
           ) -> Iterator[Path]:
    """Build in a hidden sibling folder; replace `target` only if the block succeeds.

    `recorded(folder)` names what the tool wrote in an existing target; anything else there, or
    anything changed since, makes it refuse. `protect`ed inputs are never inside the target.
    """
    target = Path(target).absolute()
    if target.parent.exists():
        target = target.parent.resolve() / target.name  # one folder, one lock, however it is reached
    for path in protect:
        path = Path(path).resolve()
        if path == target.resolve() or target.resolve() in path.parents:
            raise PayoutError(error(str(target), f"the output folder would replace the input {path}",
                                    "choose an output folder outside the data and rules"))
    if target.exists() and not target.is_dir():
        raise PayoutError(error(str(target), "exists and is not a folder", "choose a folder for the output"))
    if target.is_symlink():
        target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_dir = Path(lock).resolve() if lock else target.parent
    lock_dir.mkdir(parents=True, exist_ok=True)
    with locked(lock_dir):
        tidy(target)
        if target.exists() and any(p for p in target.iterdir() if not is_staging(p)):
            owned = recorded(target)
            if not owned:
                manifest = {"an earlier run": RUN_MANIFEST, "an earlier sweep": "sweep.json"}.get(what, LETTERS_MANIFEST)
                raise PayoutError(error(str(target), f"exists and was not written by skl-payout: it holds no intact "
                                        f"{manifest} recording its files; refusing to replace it",
                                        "choose a new or empty folder, or move this one aside yourself"))
            refuse_foreign(target, owned, what)
            if os.statvfs(target).f_flag & os.ST_RDONLY:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(target))
            if not os.access(target, os.W_OK):
                raise PayoutError(error(str(target), "is write-protected; refusing to replace it",
                                        "make it writable if it should be replaced, or choose another folder"))
        try:
            stage = Path(tempfile.mkdtemp(prefix=stage_prefix(target, "new"), dir=target.parent))
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(target.parent)) from exc
        umask = os.umask(0)
        os.umask(umask)
        stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; the output folder should not be
        try:
            yield stage
            swap_in(stage, target)
        except OSError as exc:
            shutil.rmtree(stage, ignore_errors=True)
            if exc.filename is None or STAGING in str(exc.filename):  # name the user's folder, not our hidden one
                raise OSError(exc.errno, exc.strerror, str(target)) from exc
            raise
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
