"""A real S3-compatible server for the object-storage tests: moto's ThreadedMotoServer on
127.0.0.1 (never another address), with a WSGI wrapper that records every request and the
bytes it served, so partition pruning is visible as objects not read."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUCKET = "mlfail-logs"
KEY_ID, SECRET = "AKIAMLFAILTEST", "mlfail-test-secret-value"


@dataclass
class Request:
    method: str
    path: str  # /bucket/key
    query: str
    status: str
    nbytes: int  # response body bytes


@dataclass
class RequestLog:
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()

    def object_gets(self) -> list[Request]:
        """GETs of objects (not bucket listings) that returned data."""
        with self.lock:
            return [
                r
                for r in self.requests
                if r.method == "GET" and r.path.count("/") >= 2 and r.status.startswith("2")
            ]

    def gets_by_object(self) -> Counter[str]:
        return Counter(r.path for r in self.object_gets())

    def bytes_read(self) -> int:
        return sum(r.nbytes for r in self.object_gets())

    def objects_read(self) -> set[str]:
        return {r.path for r in self.object_gets()}


def _counting(app: Callable[..., Any], log: RequestLog) -> Callable[..., Any]:
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        status: list[str] = []

        def sr(st: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status.append(st)
            return start_response(st, headers, exc_info)

        body = app(environ, sr)
        try:
            chunks = list(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        with log.lock:
            log.requests.append(
                Request(
                    environ["REQUEST_METHOD"],
                    environ.get("PATH_INFO", ""),
                    environ.get("QUERY_STRING", ""),
                    status[0] if status else "",
                    sum(len(c) for c in chunks),
                )
            )
        return chunks

    return wrapped


def free_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class S3Server:
    endpoint: str
    log: RequestLog
    stop: Callable[[], None]

    def options(self, **extra: str) -> dict[str, str]:
        return {
            "aws_endpoint_url": self.endpoint,
            "aws_access_key_id": KEY_ID,
            "aws_secret_access_key": SECRET,
            "aws_region": "us-east-1",
            "aws_allow_http": "true",
            **extra,
        }

    def flags(self, **extra: str) -> list[str]:
        out: list[str] = []
        for k, v in self.options(**extra).items():
            out += ["--storage-option", f"{k}={v}"]
        return out


def start(uploads: dict[str, Path]) -> S3Server:
    """Start moto on 127.0.0.1 (a free port), create BUCKET and upload ``{key: file}``."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on stderr
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()  # returns once the socket is bound
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    log = RequestLog()
    # moto's WSGI server serves whatever `.app` holds: wrap it to record requests and bytes
    inner = server._server  # type: ignore[attr-defined]
    inner.app = _counting(inner.app, log)
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    for key, path in uploads.items():
        client.upload_file(str(path), BUCKET, key)
    log.clear()
    return S3Server(endpoint=endpoint, log=log, stop=server.stop)


def hermetic_aws_env() -> dict[str, str]:
    """Environment that keeps every AWS client on 127.0.0.1: no credentials or config files
    from the machine, no instance-metadata lookups at 169.254.169.254 (boto3's is disabled,
    object_store's points at a closed 127.0.0.1 port)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_METADATA_ENDPOINT=f"http://127.0.0.1:{free_port()}",
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_CONFIG_FILE=os.devnull,
    )
    return env
