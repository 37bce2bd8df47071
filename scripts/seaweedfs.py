"""Start (once) a private SeaweedFS S3 server for this checkout and print its ARGUS_TEST_S3_URL (no bucket).

Used by scripts/lib.sh's ensure_seaweedfs. Idempotent: a server this checkout started earlier and that still
answers is reused. Every port it listens on is a free loopback port chosen now (several checkouts share one
machine), its data live under var/seaweedfs/, and its one S3 identity has credentials generated on first use.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / "var" / "seaweedfs"
PORT_NAMES = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")
START_TIMEOUT_SECONDS = 90


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _credentials() -> dict[str, str]:
    path = STATE / "credentials.json"
    if not path.exists():
        path.write_text(
            json.dumps({"access_key": secrets.token_hex(10), "secret_key": secrets.token_hex(20)})
        )
        path.chmod(0o600)
    return json.loads(path.read_text())


def _url(credentials: dict[str, str], s3_port: int) -> str:
    return f"s3://{credentials['access_key']}:{credentials['secret_key']}@127.0.0.1:{s3_port}/"


def _answers(credentials: dict[str, str], s3_port: int, *, attempts: int = 1) -> bool:
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{s3_port}",
        aws_access_key_id=credentials["access_key"],
        aws_secret_access_key=credentials["secret_key"],
        region_name="us-east-1",
        config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}),
    )
    for attempt in range(attempts):
        try:
            # Writing proves more than listing: the volume server must be up and have a volume.
            bucket = "argus-readiness"
            client.create_bucket(Bucket=bucket) if bucket not in _buckets(client) else None
            client.put_object(Bucket=bucket, Key="ping", Body=b"ping")
            return client.get_object(Bucket=bucket, Key="ping")["Body"].read() == b"ping"
        except Exception:  # noqa: BLE001 - not up yet, whatever the reason
            if attempt + 1 < attempts:
                time.sleep(1)
    return False


def _buckets(client) -> set[str]:  # type: ignore[no-untyped-def]
    return {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}


def _running(credentials: dict[str, str]) -> int | None:
    """The S3 port of the server this checkout started earlier, if it is still alive and answering."""
    try:
        state = json.loads((STATE / "server.json").read_text())
        os.kill(state["pid"], 0)
    except (OSError, ValueError, KeyError):
        return None
    if _answers(credentials, state["ports"]["s3"], attempts=3):
        return state["ports"]["s3"]
    os.kill(state["pid"], signal.SIGTERM)  # alive but unusable: start afresh
    return None


def _start(weed: str, credentials: dict[str, str]) -> int:
    ports = dict(zip(PORT_NAMES, _free_ports(len(PORT_NAMES)), strict=True))
    identities = {
        "identities": [
            {
                "name": "argus",
                "credentials": [
                    {"accessKey": credentials["access_key"], "secretKey": credentials["secret_key"]}
                ],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config = STATE / "s3.json"
    config.write_text(json.dumps(identities))
    config.chmod(0o600)
    data = STATE / "data"
    data.mkdir(exist_ok=True)
    command = [
        weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
        f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
        f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
        "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3_grpc']}", f"-s3.config={config}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=64", "-volume.max=0",
    ]  # fmt: skip
    log = open(STATE / "weed.log", "ab")  # noqa: SIM115 - handed to the server, which outlives this script
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (STATE / "server.json").write_text(json.dumps({"pid": process.pid, "ports": ports}))
    if not _answers(credentials, ports["s3"], attempts=START_TIMEOUT_SECONDS):
        process.terminate()
        sys.exit(f"SeaweedFS did not start; see {STATE / 'weed.log'}")
    return ports["s3"]


def main() -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    weed = str(Path(sys.executable).parent / "weed")
    credentials = _credentials()
    s3_port = _running(credentials) or _start(weed, credentials)
    print(_url(credentials, s3_port))


if __name__ == "__main__":
    main()
