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
from pathlib import Path
from typing import Iterable, Iterator

from .errors import PayoutError, error

RUN_MANIFEST = "run.json"
LETTERS = "letters"
LETTERS_MANIFEST = "letters.json"
STAGING = ".skl-payout-"  # in every hidden folder the tool makes: `.<name>.skl-payout-new-XXXX`
LEGACY_RUN_FILES = ("payouts.csv", "totals.csv", "summary.csv", "report.html", "payouts.xlsx")  # run.json before 0.2
LEGACY_LETTER = re.compile(r"^((kommun|landsting|regiondel|lan)-[0-9]+-[a-z0-9-]*|samtliga-brev-[0-9]{4})\.(pdf|html|md)$")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hashes(folder: Path, names: Iterable[str]) -> dict[str, str]:
    return {name: sha256(folder / name) for name in sorted(names)}


# --- what the tool wrote -------------------------------------------------------------------------


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayoutError(error(str(path), f"cannot be read ({exc}); the folder's contents cannot be vouched for",
                                "choose a new or empty output folder")) from None
    if not isinstance(data, dict):
        raise PayoutError(error(str(path), "is not a skl-payout manifest", "choose a new or empty output folder"))
    return data


def recorded_letters(letters: Path) -> dict[str, str | None]:
    """Letter files recorded in letters.json (name -> SHA-256); None: a legacy file recognised by name."""
    manifest = letters / LETTERS_MANIFEST
    if manifest.is_file():
        files = _read_json(manifest).get("files", {})
        if not isinstance(files, dict):
            raise PayoutError(error(str(manifest), "is not a skl-payout letters manifest"))
        return {name: (entry or {}).get("sha256") if isinstance(entry, dict) else None for name, entry in files.items()}
    if letters.is_dir():
        return {p.name: None for p in letters.iterdir() if p.is_file() and LEGACY_LETTER.match(p.name)}
    return {}


def recorded_run(folder: Path) -> dict[str, str | None]:
    """Every file a run folder's manifests record, by relative path (None: recognised, hash unknown)."""
    manifest = folder / RUN_MANIFEST
    if not manifest.is_file():
        return {}
    outputs = _read_json(manifest).get("outputs")
    recorded: dict[str, str | None] = {RUN_MANIFEST: None}
    if isinstance(outputs, dict):
        recorded.update({name: digest for name, digest in outputs.items() if isinstance(digest, str)})
    else:
        recorded.update({name: None for name in LEGACY_RUN_FILES})
    if (folder / LETTERS).is_dir():
        recorded.update({f"{LETTERS}/{name}": digest for name, digest in recorded_letters(folder / LETTERS).items()})
        if (folder / LETTERS / LETTERS_MANIFEST).is_file():
            recorded[f"{LETTERS}/{LETTERS_MANIFEST}"] = None
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
            if STAGING in name and not path.is_symlink():
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
        yield
    finally:
        os.close(fd)


def tidy(target: Path) -> None:
    """Remove what a killed command left beside `target`; put back an old folder a fallback swap moved aside."""
    parent = target.parent
    if not parent.is_dir():
        return
    leftovers = sorted(p for p in parent.iterdir() if p.name.startswith(f".{target.name}{STAGING}") and p.is_dir()
                       and not p.is_symlink())
    if not target.exists():
        old = [p for p in leftovers if p.name.startswith(f".{target.name}{STAGING}old-")]
        if old:
            old[-1].rename(target)
            leftovers.remove(old[-1])
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)


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


def swap_in(stage: Path, target: Path) -> None:
    """Make `stage` the new `target`; the old one (if any) is removed afterwards."""
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
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}{STAGING}old-", dir=target.parent))
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
    lock_dir = lock or target.parent
    lock_dir.mkdir(parents=True, exist_ok=True)
    with locked(lock_dir):
        tidy(target)
        if target.exists() and any(p for p in target.iterdir() if STAGING not in p.name):
            owned = recorded(target)
            if not owned:
                raise PayoutError(error(str(target), "exists and was not written by skl-payout; refusing to replace it",
                                        "choose a new or empty folder, or remove this one yourself"))
            refuse_foreign(target, owned, what)
        stage = Path(tempfile.mkdtemp(prefix=f".{target.name}{STAGING}new-", dir=target.parent))
        umask = os.umask(0)
        os.umask(umask)
        stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; the output folder should not be
        try:
            yield stage
            swap_in(stage, target)
        except OSError as exc:
            shutil.rmtree(stage, ignore_errors=True)
            if exc.filename is None:  # a write that failed (a full disk) names no file: name the output
                raise OSError(exc.errno, exc.strerror, str(target)) from exc
            raise
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
