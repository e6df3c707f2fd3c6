"""Two writers at once: a forked child writes some outputs while the process writes the others.

A run spends about as long writing its documents (report.html, payouts.xlsx) as computing the
payouts, in pure Python that threads cannot spread over cores. Where `fork` exists, the machine has
more than one core and the process has no other thread (forking a threaded process can deadlock),
a child writes one part into the same staging folder; elsewhere the parts are written one after
the other. The files are byte-identical either way, and a child that fails or is killed makes the
whole command fail: the staging folder is then discarded, as for any other error.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import threading
from typing import Callable, TypeVar

from .errors import PayoutError, error
from .safefs import drop_inherited_locks

A = TypeVar("A")
B = TypeVar("B")


def can_fork() -> bool:
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1 and threading.active_count() == 1 \
        and not os.environ.get("SKL_PAYOUT_SERIAL")


def beside(other: Callable[[], A], own: Callable[[], B], what: str) -> tuple[A, B]:
    """`other()` (writing `what`) in a forked child while this process runs `own()`: both results, or
    the first error."""
    if not can_fork():
        return other(), own()
    parent = os.getpid()
    read_end, write_end = os.pipe()
    # Ctrl-C or a TERM arriving during the fork waits until both sides are ready for it: never half-handled
    # in the new child before it can report, or lost by it
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        raise
    if pid == 0:  # the child: never returns, and never runs the parent's cleanup or exit handlers
        status = 1
        try:
            gc.disable()  # it lives for one file: a collection would only copy the parent's pages (copy-on-write)
            os.close(read_end)
            drop_inherited_locks()  # the folder's lock is the parent's: it must end when the parent does
            _die_with(parent)
            try:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                payload, status = pickle.dumps((True, other())), 0
            except BaseException as exc:  # noqa: BLE001 - every failure is the parent's to report
                payload = _portable(exc, what)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(status)
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        try:
            mine = own()
            payload = pipe.read()
        except BaseException:  # this side failed or was interrupted: the child's part is not wanted any more
            os.kill(pid, signal.SIGKILL)  # stopped before the staging folder is removed under it
            os.waitpid(pid, 0)
            raise
    _, status = os.waitpid(pid, 0)
    if not payload:
        how = f"was killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else "ended without a result"
        raise PayoutError(error("skl-payout", f"the process writing {what} {how}; nothing was changed",
                                "run the command again"))
    ok, value = pickle.loads(payload)  # from our own child, through a pipe only it and we hold
    if not ok:
        raise value
    return value, mine


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", signal.SIGTERM)}


def _portable(exc: BaseException, what: str) -> bytes:
    """The child's failure as the parent will raise it: itself where it survives the pipe; an exit
    from inside a writer, or an exception that cannot be rebuilt, as an internal error with its text."""
    if not isinstance(exc, SystemExit):
        try:
            payload = pickle.dumps((False, exc))
            pickle.loads(payload)
            return payload
        except Exception:  # noqa: BLE001 - cannot cross the pipe as itself
            pass
    return pickle.dumps((False, RuntimeError(f"while writing {what}: {type(exc).__name__}: {exc}")))


def _die_with(parent: int) -> None:
    """On Linux the child is killed when the parent dies (kill -9 included), so an orphan never holds
    the folder's lock or writes on; elsewhere it still ends when its part is written."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before that took effect
        os._exit(1)
