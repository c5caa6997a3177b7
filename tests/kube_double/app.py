"""The aiohttp application: auth, recording, fault injection and the REST verbs."""

from __future__ import annotations

import asyncio
import base64
import json
from concurrent.futures import Executor
from typing import Any

from aiohttp import web

from .calls import ApiCall, Recorder
from .cluster import Cluster
from .errors import ApiError, bad_request, failure_status
from .exec_ws import serve_exec
from .routing import PageNotFound, Route, discovery, is_discovery, route
from .selectors import labels_match, parse_field_selector, parse_label_selector
from .settings import Settings, truthy
from .store import Obj

DEFAULT_WATCH_SECONDS = 1800


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=json.dumps)


def _page_not_found() -> web.Response:
    return web.Response(status=404, text="404 page not found\n", content_type="text/plain")


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from None


def _position(obj: Obj) -> tuple[str, str]:
    """Where an object sits in list order (namespace, name); continue tokens encode it."""
    md = obj.get("metadata") or {}
    return (md.get("namespace") or "", md.get("name") or "")


class Api:
    """Request handling for one double; every handler runs on the loop thread."""

    def __init__(self, cluster: Cluster, settings: Settings, executor: Executor, recorder: Recorder, server: str) -> None:
        self.cluster = cluster
        self.settings = settings
        self.executor = executor
        self.recorder = recorder
        self.server = server
        self._streams: set[asyncio.Task[Any]] = set()

    async def shutdown(self) -> None:
        """Cut off exec sessions still running so the server can stop promptly."""
        for task in list(self._streams):
            task.cancel()
        await asyncio.gather(*self._streams, return_exceptions=True)

    def build(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        return app

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        call = ApiCall(request.method, request.path, tuple(request.query.items()))
        self.recorder.calls.append(call)
        try:
            response = await self._serve(request, call)
        except ApiError as err:
            response = _json(err.status(), err.code)
        except PageNotFound:
            response = _page_not_found()
        except Exception as exc:  # noqa: BLE001 - report server bugs as 500s and keep serving
            self.settings.errors.append(f"{request.method} {request.path_qs}: {exc!r}")
            response = _json(failure_status(f"kube double internal error: {exc!r}", "InternalError", 500), 500)
        call.code = response.status
        return response

    async def _serve(self, request: web.Request, call: ApiCall) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.settings.token}":
            raise ApiError(401, "Unauthorized")
        if request.path in ("/healthz", "/readyz", "/livez"):
            return web.Response(text="ok")
        if is_discovery(request.path):
            doc = discovery(request.path, self.cluster.registry, self.server)
            return _json(doc) if doc is not None else _page_not_found()
        target = route(request.path, self.cluster.resolve)
        verb = target.verb(request.method, truthy(request.query.getall("watch", [])))
        call.verb, call.resource = verb, target.rtype.plural
        call.namespace, call.name, call.subresource = target.namespace, target.name, target.sub
        fault = self.recorder.fault_for(call)
        if fault is not None:
            raise ApiError(fault.code, fault.message)
        if not verb or (target.rtype.namespaced and target.namespace is None and verb not in ("list", "watch")):
            raise ApiError(405, "the server does not allow this method on the requested resource")
        return await getattr(self, f"_{verb}")(request, target)

    # -- verbs ----------------------------------------------------------------

    def _dry(self, request: web.Request) -> bool:
        return bool(request.query.get("dryRun"))

    async def _get(self, request: web.Request, target: Route) -> web.Response:
        return _json(self.cluster.get(target.rtype, target.namespace, target.name or ""))

    def _matcher(self, request: web.Request, target: Route) -> Any:
        labels = parse_label_selector(request.query.get("labelSelector"))
        fields = parse_field_selector(request.query.get("fieldSelector"), target.rtype.plural)
        return lambda obj: labels_match(labels, (obj.get("metadata") or {}).get("labels")) and fields(obj)

    def _list_doc(self, target: Route, items: list[Obj], extra: dict[str, Any] | None = None) -> dict[str, Any]:
        md = {"resourceVersion": str(self.cluster.store.resource_version), **(extra or {})}
        return {"kind": target.rtype.list_kind, "apiVersion": target.rtype.api_version, "metadata": md, "items": items}

    async def _list(self, request: web.Request, target: Route) -> web.Response:
        items = self.cluster.list(target.rtype, target.namespace, self._matcher(request, target))
        start = request.query.get("continue")
        if start:
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(start.encode())))
            except ValueError:
                raise bad_request(f"continue key is not valid: {start}") from None
            items = [o for o in items if _position(o) > after]
        limit = int(request.query.get("limit") or 0)
        extra: dict[str, Any] = {}
        if 0 < limit < len(items):
            token = json.dumps(_position(items[limit - 1])).encode()
            extra = {"continue": base64.urlsafe_b64encode(token).decode(), "remainingItemCount": len(items) - limit}
            items = items[:limit]
        return _json(self._list_doc(target, items, extra))

    async def _watch(self, request: web.Request, target: Route) -> web.StreamResponse:
        match = self._matcher(request, target)
        timeout = float(request.query.get("timeoutSeconds") or DEFAULT_WATCH_SECONDS)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            watcher = self.cluster.store.watch(target.rtype, target.namespace, match, request.query.get("resourceVersion"))
        except ApiError as err:
            if err.code != 410:
                raise
            await response.prepare(request)
            await response.write(json.dumps({"type": "ERROR", "object": err.status()}).encode() + b"\n")
            await response.write_eof()
            return response
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while (remaining := deadline - loop.time()) > 0:
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                if item is None:
                    break
                await response.write(json.dumps({"type": item[0], "object": item[1]}).encode() + b"\n")
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self.cluster.store.unwatch(watcher)
        return response

    async def _create(self, request: web.Request, target: Route) -> web.Response:
        created = self.cluster.create(target.rtype, target.namespace, await _body(request), self._dry(request))
        return _json(created, 201)

    async def _update(self, request: web.Request, target: Route) -> web.Response:
        body = await _body(request)
        updated = self.cluster.update(target.rtype, target.namespace, target.name or "", body, target.sub, self._dry(request))
        return _json(updated)

    async def _patch(self, request: web.Request, target: Route) -> web.Response:
        body = await _body(request)
        patched = self.cluster.patch(
            target.rtype, target.namespace, target.name or "", request.content_type, body, target.sub, self._dry(request)
        )
        return _json(patched)

    async def _delete(self, request: web.Request, target: Route) -> web.Response:
        return _json(self.cluster.delete(target.rtype, target.namespace, target.name or "", self._dry(request)))

    async def _deletecollection(self, request: web.Request, target: Route) -> web.Response:
        victims = self.cluster.delete_collection(target.rtype, target.namespace, self._matcher(request, target))
        return _json(self._list_doc(target, victims))

    async def _log(self, request: web.Request, target: Route) -> web.Response:
        text = self.cluster.pod_log(target.namespace or "", target.name or "", request.query.get("container"))
        return web.Response(text=text, content_type="text/plain")

    async def _exec(self, request: web.Request, target: Route) -> web.StreamResponse:
        if request.method not in ("GET", "POST"):
            raise ApiError(405, "the server does not allow this method on the requested resource")
        pod = self.cluster.get(target.rtype, target.namespace, target.name or "")
        task = asyncio.current_task()
        assert task is not None
        self._streams.add(task)
        try:
            return await serve_exec(request, pod, self.cluster.lifecycle, self.settings, self.executor)
        finally:
            self._streams.discard(task)
