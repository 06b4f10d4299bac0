"""The engine side of the protocol: an in-process ``pulumirpc.Engine`` server on a free local
port, whose address the pack is given. It keeps the pack's log messages and its root resource."""

from __future__ import annotations

import threading
from concurrent import futures
from typing import Any

import grpc  # type: ignore[import-untyped]
from google.protobuf import empty_pb2
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc


class EngineServicer(engine_pb2_grpc.EngineServicer):
    """The engine's ``pulumirpc.Engine`` service, enough for a plugin's log messages."""

    def __init__(self) -> None:
        self.logs: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._root = ""

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC method name)
        severity = engine_pb2.LogSeverity.Name(request.severity).lower()
        with self._lock:
            self.logs.append((severity, request.urn, request.message))
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn=self._root)

    def SetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        self._root = request.urn
        return engine_pb2.SetRootResourceResponse()

    def StartDebugging(self, request: Any, context: Any) -> Any:  # noqa: N802
        return empty_pb2.Empty()


class EngineServer:
    """The engine service, started on ``127.0.0.1:<free port>`` (``address``) until ``stop``."""

    def __init__(self) -> None:
        self.servicer = EngineServicer()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(self.servicer, self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        self.address = f"127.0.0.1:{port}"

    def stop(self) -> None:
        self._server.stop(0)
