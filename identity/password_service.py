"""Password verification for a whole server: one first-come-first-served queue, a pool of processes.

argon2id is the one big cost of a sign-in (~0.1 s of CPU here, by design). Verified in each worker's own
threads behind each worker's own limit, it was unfair and slower:

- unfair: a worker's queue is as long as the number of people signing in through *its* connections, and
  browsers keep their connections, so with 16 concurrent sign-ins split 10/6 between two workers one side
  waited almost twice as long (the slowest login POST 2.6-2.9 s against a 1.7 s average);
- slower: argon2 allocates its 64 MiB per verification, and threads of one process fault those pages in
  one at a time (one address space); separate processes verify ~25 % more per second on the same cores.

The verifying processes also ask glibc's malloc for transparent huge pages (``VERIFIER_TUNABLES``): in
4 KiB pages each verification faults in 16,384 fresh pages and argon2's data-dependent passes miss the TLB
all over its 64 MiB; with 2 MiB pages the same verification costs ~20 % less CPU here (193 -> 151-157 ms;
two processes: 9.6-10.2 -> 12.0-13.2 verifications/s). Where the kernel's THP mode is ``never`` or glibc
is older than 2.35 the setting does nothing. The memory is returned after each verification as before.

So ``identity serve --workers N`` (N > 1) starts this service first: one process listening on a Unix socket
in a private directory (0700), verifying with ``IDENTITY_PASSWORD_HASH_CONCURRENCY`` processes, in arrival
order. Workers send ``[password, stored hash]`` and read one byte back. A single-worker server (and the
tests' app) verifies in its own threads behind the same limit; so does a worker that cannot reach the
service (it logs a warning), so a crashed service slows sign-ins down but never stops them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream
from starlette.concurrency import run_in_threadpool

from identity.metrics import PasswordWait
from identity.passwords import hash_password, needs_rehash, verify_password

log = logging.getLogger("identity.password_service")

SOCKET_ENV = "IDENTITY_PASSWORD_SOCKET"
MAX_REQUEST = 16 * 1024  # a password is at most 1,024 characters; a stored hash about 100
YES, NO = b"1", b"0"
VERIFIER_TUNABLES = "glibc.malloc.hugetlb=1"  # madvise(MADV_HUGEPAGE) on malloc's mmap'd chunks


def verifier_environment(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """``environ`` plus the glibc tunables the verifying processes run with (read by ld.so at exec, so
    they must be in the environment the process starts with). A hugetlb setting already there wins."""
    env = dict(environ)
    tunables = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb=" not in tunables:
        env["GLIBC_TUNABLES"] = f"{tunables}:{VERIFIER_TUNABLES}" if tunables else VERIFIER_TUNABLES
    return env


class PasswordVerifier:
    """What the endpoints call: ``await verifier.verify(password, stored_hash)``."""

    def __init__(self, concurrency: int, socket_path: str = "") -> None:
        self._limiter = anyio.CapacityLimiter(concurrency)
        self.socket_path = socket_path

    async def verify(self, password: str, stored_hash: str | None) -> bool:
        """Constant work whether or not the account exists (``stored_hash`` None verifies a dummy)."""
        with PasswordWait():
            return await self._verify(password, stored_hash)

    async def _verify(self, password: str, stored_hash: str | None) -> bool:
        if self.socket_path:
            try:
                return await self._ask_service(password, stored_hash)
            except (OSError, anyio.BrokenResourceError, anyio.EndOfStream, anyio.IncompleteRead, ValueError) as error:
                log.warning("password service unreachable (%s); verifying in this worker", error)
        async with self._limiter:  # argon2 is the one big cost: bounded concurrency
            return await run_in_threadpool(verify_password, password, stored_hash)

    async def verify_and_update(self, password: str, stored_hash: str | None) -> tuple[bool, str | None]:
        """Passlib's ``verify_and_update`` across the queue: (verified, a new hash when the stored one was
        made with older parameters, else None). The verification may run in the password service, which
        answers only yes or no, so the rehash (rare: once per account per parameter change) runs here,
        behind the same limit."""
        ok = await self.verify(password, stored_hash)
        if not ok or stored_hash is None or not needs_rehash(stored_hash):
            return ok, None
        async with self._limiter:
            return True, await run_in_threadpool(hash_password, password)

    async def _ask_service(self, password: str, stored_hash: str | None) -> bool:
        async with await anyio.connect_unix(self.socket_path) as stream:
            await stream.send(json.dumps([password, stored_hash]).encode() + b"\n")
            answer = await BufferedByteReceiveStream(stream).receive_exactly(1)
        if answer not in (YES, NO):
            raise ValueError(f"unexpected answer {answer!r}")
        return answer == YES


# -- the service -------------------------------------------------------------------------------------


class PasswordService:
    """Started and stopped by ``identity serve`` around uvicorn."""

    def __init__(self, processes: int) -> None:
        self._directory = tempfile.mkdtemp(prefix="identity-passwords-")  # mode 0700: only this user
        self.socket_path = os.path.join(self._directory, "verify.sock")
        self._processes = processes
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, ready_within: float = 15.0) -> None:
        command = [sys.executable, "-m", "identity.password_service", self.socket_path, str(self._processes)]
        # `ps` shows what it is; its spawned verifying processes inherit the environment
        self._process = subprocess.Popen([*command, str(os.getpid())], env=verifier_environment(os.environ))
        deadline = time.monotonic() + ready_within
        while not os.path.exists(self.socket_path):  # workers must not start before it listens
            if time.monotonic() > deadline or self._process.poll() is not None:
                self.stop()
                raise RuntimeError("the password service did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        shutil.rmtree(self._directory, ignore_errors=True)


def run_service(socket_path: str, processes: int, parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server; the server stops us
    asyncio.run(_serve(socket_path, processes, parent_pid))


class _Verifiers:
    """The verifying processes, at a lower CPU priority; replaced whole if one of them dies (an OOM kill,
    say), so one lost process costs the requests in flight a fallback, not the service."""

    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self._processes, mp_context=context, initializer=_lower_priority)

    async def verify(self, password: str, stored_hash: str | None) -> bool:
        """One verification per process at a time; submissions run in the order they arrive."""
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, verify_password, password, stored_hash)
        except BrokenProcessPool:
            if self._pool is pool:
                log.warning("a verifying process died; starting new ones")
                self._pool = self._new_pool()
            raise

    async def warm_up(self) -> None:
        """Start every process and its argon2 now, not in the first visitors' requests (a spawn takes ~1 s)."""
        await asyncio.gather(*(self.verify("warm-up", None) for _ in range(self._processes)))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def _serve(socket_path: str, processes: int, parent_pid: int) -> None:
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    verifiers = _Verifiers(processes)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            ok = await verifiers.verify(*_parse(await reader.readuntil(b"\n")))
            writer.write(YES if ok else NO)
            await writer.drain()
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, BrokenProcessPool):
            pass  # a worker that went away, nonsense, or a lost process: no answer, the worker verifies itself
        finally:
            writer.close()

    await verifiers.warm_up()
    server = await asyncio.start_unix_server(answer, path=socket_path + ".new", limit=MAX_REQUEST)
    os.chmod(socket_path + ".new", 0o600)
    os.rename(socket_path + ".new", socket_path)  # appears only once it listens
    async with server:
        while not stopping.is_set() and os.getppid() == parent_pid:  # orphaned: the server is gone
            try:
                await asyncio.wait_for(stopping.wait(), timeout=1.0)
            except TimeoutError:
                pass
    verifiers.shutdown()


def _lower_priority() -> None:
    """Verifications take what CPU the workers leave: the rest of every request stays fast."""
    os.nice(10)


def _parse(line: bytes) -> tuple[str, str | None]:
    request = json.loads(line)
    if (
        not isinstance(request, list)
        or len(request) != 2
        or not isinstance(request[0], str)
        or not (request[1] is None or isinstance(request[1], str))
    ):
        raise ValueError("a request is [password, stored hash or null]")
    return request[0], request[1]


if __name__ == "__main__":  # started by PasswordService.start (functions from the module, not __main__)
    from identity.password_service import run_service as _run

    _run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
