"""pods/exec over WebSocket with the v4/v5 channel protocols; the command really runs in the pod's netns."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Mapping

from aiohttp import WSMsgType, web

from .errors import ApiError, bad_request, exec_exit_status, exec_internal_error
from .netns import in_netns
from .pods import TERMINAL, PodLifecycle
from .settings import Settings, as_bytes, truthy
from .store import Obj, meta

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


@dataclass(frozen=True)
class ExecRequest:
    argv: list[str]
    container: str
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def parse_exec(query: Mapping[str, Any], pod: Obj) -> ExecRequest:
    """Validate an exec request against the pod, with the API server's 400 messages."""
    name = meta(pod)["name"]
    argv = list(query.getall("command", []))  # type: ignore[attr-defined]
    if not argv:
        raise bad_request("you must specify at least 1 command")
    flags = {k: truthy(query.get(k)) for k in ("stdin", "stdout", "stderr", "tty")}
    if not (flags["stdin"] or flags["stdout"] or flags["stderr"]):
        raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
    names = [c.get("name") for c in pod["spec"].get("containers") or []]
    container = query.get("container") or (names[0] if len(names) == 1 else "")
    if not container:
        raise bad_request(f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]")
    if container not in names:
        raise bad_request(f"container {container} is not valid for pod {name}")
    phase = pod["status"].get("phase")
    if phase in TERMINAL:
        raise bad_request(f"cannot exec into a container in a completed pod; current phase is {phase}")
    if not pod["spec"].get("nodeName"):
        raise bad_request(f"pod {name} does not have a host assigned")
    if phase != "Running":
        raise bad_request(f'unable to upgrade connection: container not found ("{container}")')
    return ExecRequest(argv, container, **flags)


def _environment(pod: Obj, container: str) -> dict[str, str]:
    env = dict(os.environ)
    env["HOSTNAME"] = pod["spec"].get("nodeName", "") if pod["spec"].get("hostNetwork") else meta(pod)["name"]
    spec = next(c for c in pod["spec"]["containers"] if c.get("name") == container)
    env.update({e["name"]: str(e["value"]) for e in spec.get("env") or [] if "value" in e})
    return env


def _resolvable(argv0: str, path: str) -> bool:
    if "/" in argv0:
        return os.path.isfile(argv0) and os.access(argv0, os.X_OK)
    return shutil.which(argv0, path=path) is not None


class ExecSession:
    """One exec stream: frames out on channels, stdin in, exit status on the error channel."""

    def __init__(self, ws: web.WebSocketResponse, req: ExecRequest) -> None:
        self.ws = ws
        self.req = req
        self.out_channel = {STDOUT: STDOUT, STDERR: STDOUT if req.tty else STDERR}

    async def send(self, channel: int, data: bytes) -> None:
        if data and not self.ws.closed:
            try:
                await self.ws.send_bytes(bytes([self.out_channel.get(channel, channel)]) + data)
            except (ConnectionError, RuntimeError):
                pass

    async def send_status(self, status: dict[str, Any]) -> None:
        await self.send(ERROR, json.dumps(status).encode())

    async def _pump(self, stream: asyncio.StreamReader | None, channel: int) -> None:
        while stream is not None and (chunk := await stream.read(65536)):
            await self.send(channel, chunk)

    async def _feed(self, proc: asyncio.subprocess.Process) -> None:
        """Forward client frames to stdin; a client hang-up kills the command."""
        async for msg in self.ws:
            if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                continue
            data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
            if not data or proc.stdin is None:
                continue
            try:
                if data[0] == STDIN:
                    proc.stdin.write(data[1:])
                    await proc.stdin.drain()
                elif data[0] == CLOSE and data[1:2] == bytes([STDIN]):
                    proc.stdin.close()
            except (ConnectionError, BrokenPipeError):
                pass
        PodLifecycle.kill(proc)

    async def run_process(self, pod: Obj, lifecycle: PodLifecycle, rewrite=None) -> dict[str, Any]:
        argv = list(rewrite(copy.deepcopy(pod), list(self.req.argv))) if rewrite else self.req.argv
        env = _environment(pod, self.req.container)
        if not _resolvable(argv[0], env.get("PATH", os.defpath)):
            return exec_internal_error(
                f'OCI runtime exec failed: exec failed: unable to start container process: exec: "{argv[0]}": '
                "executable file not found in $PATH: unknown"
            )
        pipe, devnull = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        proc = await asyncio.create_subprocess_exec(
            *in_netns(lifecycle.exec_netns(pod), argv),
            stdin=pipe if self.req.stdin else devnull,
            stdout=pipe if self.req.stdout else devnull,
            stderr=pipe if self.req.stderr else devnull,
            env=env,
            start_new_session=True,
        )
        uid = meta(pod)["uid"]
        lifecycle.track(uid, proc)
        feeder = asyncio.ensure_future(self._feed(proc))
        try:
            await asyncio.gather(self._pump(proc.stdout, STDOUT), self._pump(proc.stderr, STDERR))
            rc = await proc.wait()
        finally:
            feeder.cancel()
            lifecycle.kill(proc)
            lifecycle.track(uid, proc, add=False)
        return exec_exit_status(argv, rc if rc >= 0 else 128 - rc)

    async def run_handler(self, result: tuple[int, Any, Any]) -> dict[str, Any]:
        rc, out, err = result
        if self.req.stdout:
            await self.send(STDOUT, as_bytes(out))
        if self.req.stderr:
            await self.send(STDERR, as_bytes(err))
        return exec_exit_status(self.req.argv, int(rc))


async def _handled(settings: Settings, executor: Executor, pod: Obj, argv: list[str]) -> Any:
    if settings.exec_handler is None:
        return None
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, settings.exec_handler, copy.deepcopy(pod), list(argv))


async def serve_exec(request: web.Request, pod: Obj, lifecycle: PodLifecycle, settings: Settings, executor: Executor) -> web.WebSocketResponse:
    """Upgrade to WebSocket, run the command (handler first, then for real), report the exit status."""
    req = parse_exec(request.query, pod)
    ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0, timeout=2.0)
    if not ws.can_prepare(request).ok:
        raise ApiError(400, "Upgrade request required")
    await ws.prepare(request)
    session = ExecSession(ws, req)
    try:
        try:
            result = await _handled(settings, executor, pod, req.argv)
        except Exception as exc:  # noqa: BLE001 - a broken handler shows up as a runtime error
            settings.errors.append(f"exec_handler {req.argv}: {exc!r}")
            status = exec_internal_error(f"exec_handler raised {exc!r}")
        else:
            status = await (session.run_handler(result) if result is not None else session.run_process(pod, lifecycle, settings.exec_rewrite))
        await session.send_status(status)
    finally:
        await ws.close()
    return ws
