"""Outgoing HTTP to tenant-chosen URLs without server-side request forgery.

1. The URL must be http(s), with a host, without credentials.
2. The host is resolved once (``socket.getaddrinfo``); every address it resolves to must be public:
   loopback, private, link-local, multicast, reserved, unspecified, shared/CGNAT and other non-global
   addresses, and cloud metadata addresses (169.254.169.254, fd00:ec2::254, …) are refused, IPv4-mapped
   IPv6 included, unless the operator's allow-list admits them: ARGUS_WEBHOOK_ALLOWED_CIDRS (and IPs or
   CIDRs in ARGUS_WEBHOOK_ALLOWED_HOSTS) admit the addresses they contain; hostnames in
   ARGUS_WEBHOOK_ALLOWED_HOSTS admit what they resolve to, except metadata addresses.
3. The connection goes to the address that was checked (no second resolution, so no DNS-rebinding
   TOCTOU): the request URL carries the IP, the ``Host`` header the name, and for HTTPS the TLS SNI and
   certificate check use the name.
4. Redirects are never followed (a 3xx is a failed attempt), proxies from the environment are ignored,
   and at most ARGUS_WEBHOOK_RESPONSE_MAX_BYTES of the response body are read (uncompressed).
"""

from __future__ import annotations

import ipaddress
import socket
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from argus_plugins.core.errors import DomainError

from .error_codes import TriggersErrorCode

MAX_URL_CHARS = 2048
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(value)
    for value in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "fd00:ec2::23")
)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The destination is not allowed (``forbidden``) or cannot be resolved: nothing was sent."""

    def __init__(self, message: str, *, forbidden: bool) -> None:
        super().__init__(message)
        self.forbidden = forbidden


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    hostname: str
    port: int
    host_header: str
    path: str
    #: Every address the host resolved to, all checked; tried in order.
    addresses: tuple[IPAddress, ...]


@dataclass(frozen=True)
class Response:
    status_code: int
    body: bytes
    latency_ms: int
    address: str
    location: str


def check_url(url: Any, *, field: str = "url") -> urllib.parse.SplitResult:
    """Syntax rules for a webhook URL (addresses are checked when resolving)."""

    def invalid(message: str) -> DomainError:
        return DomainError(TriggersErrorCode.INVALID_URL, message, field)

    if not isinstance(url, str) or not url.strip():
        raise invalid("Give the receiver's http:// or https:// URL.")
    if len(url) > MAX_URL_CHARS:
        raise invalid(f"The URL is longer than {MAX_URL_CHARS} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise invalid("The URL must not contain whitespace or control characters.")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise invalid("Only http:// and https:// URLs can receive webhooks.")
    if not parts.hostname:
        raise invalid("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise invalid("The URL must not contain credentials; authenticate with the signature instead.")
    try:
        parts.port  # noqa: B018 - raises ValueError for an invalid port
    except ValueError:
        raise invalid("The URL's port is invalid.") from None
    return parts


def _networks(entries: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue  # a hostname entry
    return networks


def admitted_by_operator(hostname: str, address: IPAddress) -> bool:
    allowed_hosts = [entry.strip() for entry in settings.ARGUS_WEBHOOK_ALLOWED_HOSTS if entry.strip()]
    networks = _networks([*settings.ARGUS_WEBHOOK_ALLOWED_CIDRS, *allowed_hosts])
    if any(address in network for network in networks if network.version == address.version):
        return True
    names = {entry.lower().rstrip(".") for entry in allowed_hosts if not _networks([entry])}
    return hostname.lower().rstrip(".") in names and address not in METADATA_ADDRESSES


def forbidden_reason(address: IPAddress) -> str | None:
    """Why an address may not receive webhooks (None: it is a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return forbidden_reason(embedded)
    checks = (
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def resolve(url: str) -> Target:
    """Resolve the URL's host once and check every address; raise Refused, or return where to connect."""
    parts = check_url(url)
    hostname = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Refused(f"The host '{hostname}' cannot be resolved ({error}).", forbidden=False) from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Refused(f"The host '{hostname}' has no address.", forbidden=False)
    for address in addresses:
        reason = forbidden_reason(address)
        if reason is not None and not admitted_by_operator(hostname, address):
            raise Refused(
                f"'{hostname}' resolves to {address}, {reason}: refused (SSRF protection; operators can "
                "allow-list receivers with ARGUS_WEBHOOK_ALLOWED_HOSTS / ARGUS_WEBHOOK_ALLOWED_CIDRS).",
                forbidden=True,
            )
    default_port = 443 if parts.scheme == "https" else 80
    bracketed = f"[{hostname}]" if ":" in hostname else hostname
    return Target(
        url=url,
        scheme=parts.scheme,
        hostname=hostname,
        port=port,
        host_header=bracketed if port == default_port else f"{bracketed}:{port}",
        path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        addresses=tuple(addresses),
    )


class _PinnedTLSAdapter(HTTPAdapter):
    """Connects to an IP but does SNI and certificate verification for the original host name."""

    def __init__(self, hostname: str) -> None:
        self._hostname = hostname
        super().__init__(max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs["server_hostname"] = self._hostname
        pool_kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)


def post(target: Target, *, body: bytes, headers: dict[str, str]) -> Response:
    """POST ``body`` to the checked addresses, in order until one accepts the connection.
    Network failures raise requests.RequestException."""
    for index, address in enumerate(target.addresses):
        try:
            return _post_to(target, address, body=body, headers=headers)
        except requests.ConnectionError:
            if index == len(target.addresses) - 1:
                raise
    raise AssertionError("unreachable: a target has at least one address")


def _post_to(target: Target, address: IPAddress, *, body: bytes, headers: dict[str, str]) -> Response:
    host = f"[{address}]" if address.version == 6 else str(address)
    connect_url = f"{target.scheme}://{host}:{target.port}{target.path}"
    session = requests.Session()
    session.trust_env = False  # environment proxies would re-resolve the name elsewhere
    session.mount("http://", HTTPAdapter(max_retries=0))
    session.mount("https://", _PinnedTLSAdapter(target.hostname))
    cap = settings.ARGUS_WEBHOOK_RESPONSE_MAX_BYTES
    read_timeout = settings.ARGUS_WEBHOOK_READ_TIMEOUT_SECONDS
    started = time.monotonic()
    try:
        response = session.post(
            connect_url,
            data=body,
            headers={**headers, "Host": target.host_header, "Accept-Encoding": "identity"},
            timeout=(settings.ARGUS_WEBHOOK_CONNECT_TIMEOUT_SECONDS, read_timeout),
            allow_redirects=False,
            stream=True,
            verify=settings.ARGUS_WEBHOOK_CA_BUNDLE,
        )
        try:
            received = bytearray()
            deadline = time.monotonic() + read_timeout
            while len(received) < cap and time.monotonic() < deadline:
                piece = response.raw.read1(min(4096, cap - len(received)), decode_content=False)
                if not piece:
                    break
                received += piece
        finally:
            response.close()
    finally:
        session.close()
    latency_ms = int((time.monotonic() - started) * 1000)
    location = response.headers.get("Location", "")[:500]
    return Response(response.status_code, bytes(received), latency_ms, str(address), location)
