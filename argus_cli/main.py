"""The ``argus-plugin`` commands: the publisher's whole tool, from an empty folder to a plugin in review.

Offline: init, pack, run (local, in Docker), keygen, sign, verify. Against a server: login, publisher
create, key register, publish, submit, status, versions, deprecate, listing edit, execute (a run on the
platform, with its progress), receipt (an execution's verifiable receipt).

Results go to stdout (`--json` for one JSON document), explanations to stderr. Exit codes: 0 success,
1 a local problem, 2 a usage error, 3 refused by the server (its error code printed), 4 the server
unreachable or failing, 5 `run`: the plugin did not succeed.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from argus_cli import api, config, keys, local_run, receipt, runs, scaffold
from argus_cli import publish as publishing
from argus_cli.errors import EXIT_RUN_FAILED, CliError, UsageError, expected_errors
from registry.bundles import DEFAULT_MAX_BUNDLE_BYTES, BundleInfo, inspect_bundle, pack_directory
from registry.manifest import validate_manifest
from registry.signing import (
    DEFAULT_MIN_BITS,
    load_public_key,
    sign_statement,
    signing_statement,
    verify_signature,
)

EXIT_CODES_HELP = (
    "Exit codes: 0 success, 1 local problem (file, bundle, manifest, key, Docker), 2 usage error, "
    "3 refused by the server (its error code is printed), 4 server unreachable or failing, "
    "5 `run`: the plugin did not succeed."
)
app = typer.Typer(
    name="argus-plugin",
    help="Write, run locally, sign and publish Argus plugins.\n\n"
    "Start with:  argus-plugin init my-plugin && argus-plugin run my-plugin "
    "--input my-plugin/sample-input.json",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals could hold passphrases, keys or tokens
)
publisher_app = typer.Typer(help="Publisher accounts.", no_args_is_help=True)
key_app = typer.Typer(help="Signing keys registered with the server.", no_args_is_help=True)
listing_app = typer.Typer(help="The plugin's marketplace listing.", no_args_is_help=True)
app.add_typer(publisher_app, name="publisher")
app.add_typer(key_app, name="key")
app.add_typer(listing_app, name="listing")


@dataclass
class _Output:
    json: bool = False


OUTPUT = _Output()


@app.callback()
def _global_options(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout instead of text.")
    ] = False,
) -> None:
    OUTPUT.json = json_output


def _emit(document: dict[str, Any], *lines: str) -> None:
    """The command's result: ``document`` as JSON with --json, else ``lines`` of text."""
    if OUTPUT.json:
        typer.echo(json.dumps(document, indent=2, sort_keys=True, default=str))
    else:
        for line in lines:
            typer.echo(line)


Url = Annotated[
    str | None,
    typer.Option("--url", help="GraphQL endpoint (default: ARGUS_URL, then `login`).", show_default=False),
]
Token = Annotated[
    str | None,
    typer.Option("--token", help="API token (default: ARGUS_TOKEN, then `login`).", show_default=False),
]


def _api(url: str | None, token: str | None, timeout: float = api.DEFAULT_TIMEOUT) -> api.Api:
    conn = config.connection(url, token)
    if config.is_insecure_url(conn.url):
        _info(f"warning: {conn.url} is plain HTTP; the token is sent unencrypted.")
    return api.Api(conn, timeout=timeout)


PassphraseEnv = Annotated[
    str | None,
    typer.Option(
        "--passphrase-env", metavar="VAR", help="Read the key passphrase from this environment variable."
    ),
]
PassphrasePrompt = Annotated[
    bool, typer.Option("--passphrase-prompt", help="Ask for the key passphrase interactively.")
]


def _info(message: str) -> None:
    typer.echo(message, err=True)


def _passphrase(env_var: str | None, prompt: bool, *, confirm: bool) -> bytes | None:
    if env_var and prompt:
        raise CliError("use either --passphrase-env or --passphrase-prompt, not both.")
    if env_var:
        value = os.environ.get(env_var)
        if not value:
            raise CliError(f"environment variable {env_var} is not set or empty.")
        return value.encode("utf-8")
    if prompt:
        value = typer.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)
        if not value:
            raise CliError("the passphrase must not be empty.")
        return value.encode("utf-8")
    return None


def _read_bundle(path: Path) -> tuple[bytes, BundleInfo]:
    if path.is_file() and path.stat().st_size > DEFAULT_MAX_BUNDLE_BYTES:
        raise CliError(f"{path} is larger than {DEFAULT_MAX_BUNDLE_BYTES} bytes.")
    data = path.read_bytes()
    return data, inspect_bundle(data)


def _check_manifest(info: BundleInfo, data: bytes) -> str:
    """Offline manifest check (structure, entrypoint, lock file); platform-specific checks happen on the
    server."""
    version = info.manifest.get("version")
    validate_manifest(
        info.manifest,
        version=version if isinstance(version, str) else "",
        platform_version=None,
        known_runtimes=None,
        resource_limits=None,
        bundle_files=info.file_names,
    )
    assert isinstance(version, str)  # validate_manifest guarantees it
    local_run.check_lock_file(info.manifest, data)
    return version


def _slug(plugin: str | None, manifest: dict[str, Any]) -> str:
    slug = plugin if plugin is not None else manifest.get("name")
    if not isinstance(slug, str) or not slug:
        raise CliError("cannot tell the plugin slug; pass --plugin SLUG.")
    return slug


def _read_signature(path: Path) -> str:
    # Only the surrounding whitespace (a trailing newline) is forgiven; the base64 itself must be strict.
    return path.read_text(encoding="ascii", errors="replace").strip()


def _write_atomic(path: Path, content: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Directory for private.pem and public.pem.")],
    passphrase_env: PassphraseEnv = None,
    passphrase_prompt: PassphrasePrompt = False,
) -> None:
    """Generate an RSA-4096 signing key pair (private.pem is PKCS#8, mode 0600).

    Example:  argus-plugin keygen --out keys --passphrase-prompt
    """
    with expected_errors():
        passphrase = _passphrase(passphrase_env, passphrase_prompt, confirm=True)
        if passphrase is None:
            _info(
                "warning: the private key is NOT encrypted; consider --passphrase-env or --passphrase-prompt."
            )
        generated = keys.generate_keypair(out, passphrase)
        _info(f"private key: {generated.private_path} (keep it secret)")
        _info(f"public key:  {generated.public_path} (register it with Argus)")
        _info("fingerprint (SHA-256 of the DER public key):")
        typer.echo(generated.fingerprint)


@app.command()
def pack(
    directory: Annotated[Path, typer.Argument(help="Plugin source directory with manifest.json.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Bundle file (default: NAME-VERSION.tar.gz).")
    ] = None,
) -> None:
    """Pack a directory into a reproducible bundle and print its code_sha256.

    Example:  argus-plugin pack chat-keyword-counter -o counter.tar.gz
    """
    with expected_errors():
        if not directory.is_dir():
            raise CliError(f"{directory} is not a directory.")
        data = pack_directory(directory)
        info = inspect_bundle(data)
        version = _check_manifest(info, data)
        if output is None:
            safe = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{info.manifest['name']}-{version}").strip("-.")
            output = Path(f"{safe or 'bundle'}.tar.gz")
        if output.resolve().is_relative_to(directory.resolve()):
            # A bundle inside its own source would be packed into the next bundle.
            raise CliError(f"the output {output} must not be inside {directory}.")
        _write_atomic(output, data)
        _info(f"wrote {output} ({len(data)} bytes, {len(info.files)} files)")
        _info("code_sha256:")
        typer.echo(info.code_sha256)


@app.command()
def sign(
    bundle: Annotated[Path, typer.Argument(help="Bundle (.tar.gz) to sign.")],
    key: Annotated[Path, typer.Option("--key", help="Private key (PEM).")],
    plugin: Annotated[
        str | None, typer.Option("--plugin", metavar="SLUG", help="Plugin slug (default: manifest name).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Signature file (default: BUNDLE.sig).")
    ] = None,
    passphrase_env: PassphraseEnv = None,
    passphrase_prompt: PassphrasePrompt = False,
) -> None:
    """Sign a bundle; writes BUNDLE.sig and prints the base64 signature.

    Example:  argus-plugin sign counter.tar.gz --key keys/private.pem
    """
    with expected_errors():
        data, info = _read_bundle(bundle)
        version = _check_manifest(info, data)
        slug = _slug(plugin, info.manifest)
        private_key = keys.load_private_key(
            key, _passphrase(passphrase_env, passphrase_prompt, confirm=False)
        )
        statement = signing_statement(slug, version, info.code_sha256, info.manifest_sha256)
        signature = sign_statement(private_key, statement, min_bits=DEFAULT_MIN_BITS)
        sig_path = output or bundle.with_name(bundle.name + ".sig")
        _write_atomic(sig_path, (signature + "\n").encode("ascii"))
        _info(f"plugin {slug} version {version}")
        _info(f"code_sha256     {info.code_sha256}")
        _info(f"manifest_sha256 {info.manifest_sha256}")
        _info(f"wrote {sig_path}")
        typer.echo(signature)


@app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(help="Bundle (.tar.gz) to check.")],
    signature: Annotated[Path, typer.Option("--signature", help="Signature file (base64).")],
    public_key: Annotated[Path, typer.Option("--public-key", help="Publisher public key (PEM).")],
    plugin: Annotated[
        str | None, typer.Option("--plugin", metavar="SLUG", help="Plugin slug (default: manifest name).")
    ] = None,
) -> None:
    """Check a bundle's signature exactly as the registry does.

    Example:  argus-plugin verify counter.tar.gz --signature counter.tar.gz.sig --public-key keys/public.pem
    """
    with expected_errors():
        _, info = _read_bundle(bundle)
        version = info.manifest.get("version")
        if not isinstance(version, str):
            raise CliError("manifest.json has no version string.")
        slug = _slug(plugin, info.manifest)
        key_info = load_public_key(public_key.read_bytes())
        statement = signing_statement(slug, version, info.code_sha256, info.manifest_sha256)
        verify_signature(key_info, statement, _read_signature(signature))
        _info(f"signature OK: plugin {slug} version {version}, key fingerprint:")
        typer.echo(key_info.fingerprint)


def _progress_printer(enabled: bool) -> tuple[api.Progress | None, Callable[[], None]]:
    """An upload progress bar on stderr (rich), or nothing; returns (callback, close)."""
    if not enabled:
        return None, lambda: None
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    bar = Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=Console(stderr=True), transient=False,
    )  # fmt: skip
    task = bar.add_task("uploading", total=None)
    bar.start()

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return update, bar.stop


def _load_source(source: Path) -> tuple[bytes, BundleInfo, str]:
    """A plugin folder (packed now) or a bundle file; returns (bytes, info, file name)."""
    if source.is_dir():
        data = pack_directory(source)
        info = inspect_bundle(data)
        return data, info, f"{info.manifest.get('name', 'bundle')}-{info.manifest.get('version', '0')}.tar.gz"
    data, info = _read_bundle(source)
    return data, info, source.name


@app.command("publish")
def publish_command(
    source: Annotated[Path, typer.Argument(help="Plugin folder (packed now) or bundle (.tar.gz).")],
    key: Annotated[
        Path | None, typer.Option("--key", help="Private key (PEM) to sign with now.", show_default=False)
    ] = None,
    signature: Annotated[
        Path | None,
        typer.Option("--signature", help="Signature file of a bundle signed earlier (default: BUNDLE.sig)."),
    ] = None,
    plugin: Annotated[
        str | None, typer.Option("--plugin", help="Plugin slug or id (default: the manifest's name).")
    ] = None,
    publisher: Annotated[
        str | None,
        typer.Option(
            "--publisher",
            help="Publisher slug, to create the plugin if it does not exist yet "
            "(default: the one `publisher create` made).",
        ),
    ] = None,
    submit: Annotated[bool, typer.Option("--submit", help="Submit the new version for review.")] = False,
    changelog: Annotated[str, typer.Option("--changelog", help="What changed in this version.")] = "",
    signing_key_id: Annotated[
        str | None, typer.Option("--signing-key-id", help="Id of the registered key (found from --key).")
    ] = None,
    plugin_id: Annotated[str | None, typer.Option("--plugin-id", hidden=True)] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Version to create (default: manifest version).")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Base seconds to wait; grows with the bundle's size.")
    ] = api.DEFAULT_TIMEOUT,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Upload progress bar (default: on a terminal)."),
    ] = None,
    passphrase_env: PassphraseEnv = None,
    passphrase_prompt: PassphrasePrompt = False,
    url: Url = None,
    token: Token = None,
) -> None:
    """Sign (with --key), upload and optionally submit a new version; creates the plugin if needed.

    Example:  argus-plugin publish my-plugin --key keys/private.pem --submit
    """
    with expected_errors():
        data, info, filename = _load_source(source)
        manifest_version = info.manifest.get("version")
        version = version or (manifest_version if isinstance(manifest_version, str) else None)
        if not version:
            raise CliError("manifest.json has no version; pass --version.")
        _check_manifest(info, data)
        slug = plugin if plugin and not publishing.is_id(plugin) else _slug(None, info.manifest)
        fingerprint = None
        if key is not None:
            private_key = keys.load_private_key(
                key, _passphrase(passphrase_env, passphrase_prompt, confirm=False)
            )
            statement = signing_statement(slug, version, info.code_sha256, info.manifest_sha256)
            signed = sign_statement(private_key, statement, min_bits=DEFAULT_MIN_BITS)
            fingerprint = keys.public_fingerprint(private_key)
        else:
            sig_path = signature or (source.with_name(source.name + ".sig") if source.is_file() else None)
            if sig_path is None:
                raise UsageError("a plugin folder is signed while publishing: pass --key PRIVATE.pem.")
            signed = _read_signature(sig_path)
        client = _api(url, token, timeout)
        plugin_ref = plugin_id or (plugin if plugin and publishing.is_id(plugin) else None)
        created = False
        found = None
        if plugin_ref is None:
            found = publishing.find_plugin(client, slug)
            if found is None:
                owner = publisher or config.default_publisher()
                if not owner:
                    raise UsageError(f"plugin {slug} does not exist yet: pass --publisher SLUG to create it.")
                publishing.create_plugin(
                    client, owner, slug, _title(slug), str(info.manifest.get("description", ""))[:200]
                )
                created = True
                found = publishing.get_plugin(client, slug)
            plugin_ref = found["id"]
        if signing_key_id is None:
            found = found or publishing.get_plugin(client, plugin_ref)
            signing_key_id = publishing.signing_key_for(found["publisher"], fingerprint)
        on_progress, close_bar = _progress_printer(
            (progress if progress is not None else sys.stderr.isatty()) and not OUTPUT.json
        )
        try:
            uploaded = publishing.upload_version(
                client, plugin_id=plugin_ref, version=version, changelog=changelog, signature=signed,
                signing_key_id=signing_key_id, bundle=data, bundle_filename=filename,
                progress=on_progress, timeout=timeout,
            )  # fmt: skip
        finally:
            close_bar()
        status = uploaded["status"]
        if submit:
            status = publishing.submit(client, uploaded["id"])["status"]
        _emit(
            {"plugin": slug, "pluginCreated": created, "version": version, "id": uploaded["id"],
             "status": status, "codeSha256": info.code_sha256},
            f"{'created plugin ' + slug + '; ' if created else ''}uploaded {slug} {version} "
            f"(id {uploaded['id']}): {status}",
            *_next_steps(slug, version, status),
        )  # fmt: skip


def _title(slug: str) -> str:
    return " ".join(part.capitalize() for part in slug.split("-"))


def _next_steps(slug: str, version: str, status: str) -> list[str]:
    if status == "DRAFT":
        return [
            "Nothing is published yet: this version is a DRAFT only you can see.",
            f"Next: argus-plugin submit {slug} {version}   (or publish again with --submit)",
        ]
    if status == "IN_REVIEW":
        return [
            "Next: a marketplace reviewer reads the code and approves or rejects it;",
            f"      follow it with `argus-plugin status {slug}`.",
            "Then: tenants see the plugin in the marketplace once it has a listing:",
            f"      argus-plugin listing edit {slug} --from listing.json",
        ]
    return []


@app.command("submit")
def submit_command(
    plugin: Annotated[str, typer.Argument(help="Plugin slug or id.")],
    version: Annotated[str, typer.Argument(help="Version (e.g. 1.0.0) or its id.")],
    url: Url = None,
    token: Token = None,
) -> None:
    """Submit a DRAFT version for review.

    Example:  argus-plugin submit chat-keyword-counter 0.1.0
    """
    with expected_errors():
        client = _api(url, token)
        node = publishing.get_version(client, plugin, version)
        submitted = publishing.submit(client, node["id"])
        _emit(submitted, f"{plugin} {submitted['version']}: {submitted['status']}",
              *_next_steps(plugin, submitted["version"], submitted["status"]))  # fmt: skip


@app.command("login")
def login_command(
    url: Annotated[str, typer.Argument(help="The platform's URL or its GraphQL endpoint.")],
    token_stdin: Annotated[
        bool, typer.Option("--token-stdin", help="Read the API token from stdin (for scripts).")
    ] = False,
) -> None:
    """Check a token against the server and remember both (in a file only you can read).

    Example:  argus-plugin login https://argus.example/graphql/
    The token comes from ARGUS_TOKEN, --token-stdin, or a hidden prompt.
    """
    with expected_errors():
        endpoint = config.normalize_url(url)
        if token_stdin:
            token = sys.stdin.readline().strip()
        else:
            token = os.environ.get(config.TOKEN_ENV) or typer.prompt("API token", hide_input=True)
        if not token:
            raise UsageError("the token is empty.")
        client = _api(endpoint, token)
        me = client.query("{ me { username isStaff } }")["me"]
        path = config.save(url=endpoint, token=token)
        _emit({"url": endpoint, "username": me["username"], "config": str(path)},
              f"logged in to {endpoint} as {me['username']} (saved in {path})")  # fmt: skip


@publisher_app.command("create")
def publisher_create(
    slug: Annotated[str, typer.Argument(help="Publisher slug (lower-case, hyphens).")],
    name: Annotated[str | None, typer.Option("--name", help="Display name (default: from the slug).")] = None,
    url: Url = None,
    token: Token = None,
) -> None:
    """Create a publisher account owned by you; it becomes your default publisher.

    Example:  argus-plugin publisher create acme-forensics --name "ACME Forensics"
    """
    with expected_errors():
        client = _api(url, token)
        created = publishing.create_publisher(client, name or _title(slug), slug)
        config.save(publisher=created["slug"])
        _emit(
            created,
            f"created publisher {created['slug']} (id {created['id']}); now your default publisher",
            "Next: argus-plugin key register PUBLIC.pem   (make a key pair with `argus-plugin keygen`)",
        )


@key_app.command("register")
def key_register(
    public_key: Annotated[Path, typer.Argument(help="Public key (PEM) made by `argus-plugin keygen`.")],
    publisher: Annotated[
        str | None, typer.Option("--publisher", help="Publisher slug or id (default: yours).")
    ] = None,
    url: Url = None,
    token: Token = None,
) -> None:
    """Register a public signing key with a publisher.

    Example:  argus-plugin key register keys/public.pem
    """
    with expected_errors():
        owner = publisher or config.default_publisher()
        if not owner:
            raise UsageError("pass --publisher SLUG (or create one with `argus-plugin publisher create`).")
        pem = public_key.read_text(encoding="ascii", errors="replace")
        load_public_key(pem.encode())  # refuse a malformed or weak key before sending it
        registered = publishing.register_key(_api(url, token), owner, pem)
        _emit(registered, f"registered key {registered['fingerprint']} (id {registered['id']}) for {owner}")


@app.command("status")
def status_command(
    plugin: Annotated[str, typer.Argument(help="Plugin slug or id.")],
    url: Url = None,
    token: Token = None,
) -> None:
    """Where a plugin stands: its versions' review states and what to do next.

    Example:  argus-plugin status chat-keyword-counter
    """
    with expected_errors():
        found = publishing.get_plugin(_api(url, token), plugin)
        nodes = publishing.versions_of(found)
        lines = [f"{found['slug']} ({found['name']}) by {found['publisher']['slug']}: {found['status']}"]
        lines += [f"  {n['version']:<12} {n['status']:<10} {_version_note(n)}" for n in nodes] or [
            "  no versions yet"
        ]
        _emit({**found, "versions": nodes}, *lines)


def _version_note(node: dict[str, Any]) -> str:
    if node["status"] == "REJECTED" and node.get("reviewNotes"):
        return f"reviewer: {node['reviewNotes']}"
    if node["status"] == "DEPRECATED" and node.get("deprecationReason"):
        return f"deprecated: {node['deprecationReason']}"
    return str(node.get("publishedAt") or node.get("submittedAt") or "")


@app.command("versions")
def versions_command(
    plugin: Annotated[str, typer.Argument(help="Plugin slug or id.")],
    url: Url = None,
    token: Token = None,
) -> None:
    """List a plugin's versions, newest first.

    Example:  argus-plugin --json versions chat-keyword-counter
    """
    with expected_errors():
        nodes = publishing.versions_of(publishing.get_plugin(_api(url, token), plugin))
        _emit({"versions": nodes}, *[f"{n['version']}\t{n['status']}\t{n['id']}" for n in nodes])


@app.command("deprecate")
def deprecate_command(
    plugin: Annotated[str, typer.Argument(help="Plugin slug or id.")],
    version: Annotated[str, typer.Argument(help="Version (e.g. 1.0.0) or its id.")],
    reason: Annotated[str, typer.Option("--reason", help="Shown to tenants that pin it.")],
    url: Url = None,
    token: Token = None,
) -> None:
    """Deprecate a published version (it still runs where pinned; new pins are refused).

    Example:  argus-plugin deprecate chat-keyword-counter 0.1.0 --reason "wrong totals; use 0.2.0"
    """
    with expected_errors():
        client = _api(url, token)
        node = publishing.get_version(client, plugin, version)
        done = publishing.deprecate(client, node["id"], reason)
        _emit(done, f"{plugin} {done['version']}: {done['status']}")


@listing_app.command("edit")
def listing_edit(
    plugin: Annotated[str, typer.Argument(help="Plugin slug or id.")],
    source: Annotated[
        Path,
        typer.Option(
            "--from",
            help="JSON file: tagline, description, categories, tags, documentationUrl, supportUrl, iconUrl.",
        ),
    ],
    url: Url = None,
    token: Token = None,
) -> None:
    """Create or update the marketplace listing (tenants see a plugin once it is published and listed).

    Example:  argus-plugin listing edit chat-keyword-counter --from listing.json
    with listing.json = {"tagline": "Counts keyword mentions", "categories": ["text"]}
    """
    with expected_errors():
        try:
            fields = json.loads(source.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CliError(f"{source} is not JSON: {exc}") from None
        if not isinstance(fields, dict):
            raise CliError(f"{source} must hold a JSON object.")
        client = _api(url, token)
        found = publishing.get_plugin(client, plugin)
        listing = publishing.update_listing(client, found["id"], fields)
        _emit(listing, f"listing {listing['slug']} updated{' (delisted)' if listing['delisted'] else ''}")


@app.command("execute")
def execute_command(
    installation: Annotated[str, typer.Argument(help="Installation id (the plugin installed in a tenant).")],
    input_json: Annotated[str, typer.Option("--input", help="The run's input, a JSON object.")] = "{}",
    evidence: Annotated[
        list[str] | None, typer.Option("--evidence", metavar="ID", help="Evidence id (repeatable).")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the run.")] = 600.0,
    url: Url = None,
    token: Token = None,
) -> None:
    """Run an installed plugin on the platform and wait for it, showing its progress; prints the status
    and the output (exit code 5 unless it SUCCEEDED).

    Example:  argus-plugin execute 6f1c… --input '{"keyword": "invoice"}' --evidence 0b7e…
    """
    with expected_errors():
        parsed_input = json.loads(local_run.read_input(input_json))
        client = _api(url, token)
        execution_id = runs.start_run(client, installation, parsed_input, list(evidence or []))
        _info(f"execution {execution_id} queued")
        interactive = sys.stderr.isatty() and not OUTPUT.json
        shown = [""]

        def show(execution: dict[str, Any], elapsed: float) -> None:
            line = runs.progress_line(execution, elapsed)
            if interactive:
                typer.echo(f"\r\033[K{line}", err=True, nl=False)
            elif line.split(" (")[0] != shown[0].split(" (")[0]:  # a log: only when something changed
                _info(line)
            shown[0] = line

        result = runs.wait_for_run(client, execution_id, timeout=timeout, on_poll=show)
        if interactive:
            typer.echo("", err=True)
    if OUTPUT.json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        typer.echo(result["status"])
        if result.get("output") is not None:
            typer.echo(result["output"])
        if result["status"] != "SUCCEEDED":
            _info(f"the run ended {result['status']}: {result.get('errorReason') or 'no reason given'}")
    if result["status"] != "SUCCEEDED":
        raise typer.Exit(EXIT_RUN_FAILED)


@app.command("receipt")
def receipt_command(
    execution_id: Annotated[str, typer.Argument(help="Id of a finished execution.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: receipt-ID.json).")
    ] = None,
    url: Url = None,
    token: Token = None,
) -> None:
    """Download an execution's receipt: its ledger entry, inclusion proof and signed checkpoint, verifiable
    offline with ledger/standalone_verify.py.

    Example:  argus-plugin receipt 3f2a… -o receipt.json
    """
    with expected_errors():
        document = receipt.fetch_receipt(_api(url, token), execution_id)
        path = output or Path(f"receipt-{execution_id}.json")
        receipt.save_receipt(document, path)
        _info("receipt saved; verify it with: python standalone_verify.py receipt FILE --log-key LOG_KEY.pem")
        _emit({"path": str(path)}, str(path))


@app.command("init")
def init_command(
    name: Annotated[str, typer.Argument(help="Plugin slug, also the folder's name.")],
    template: Annotated[str, typer.Option("--template", help="Template: python.")] = "python",
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to create it (default: ./NAME).", show_default=False)
    ] = None,
) -> None:
    """Create a ready plugin folder: manifest, main.py, sample input and evidence, a test, a README.

    Example:  argus-plugin init chat-keyword-counter
    """
    with expected_errors():
        target = directory or Path(name)
        written = scaffold.create(name, target, template)
        _emit({"directory": str(target), "files": [str(p) for p in written]},
              f"created {target} ({len(written)} files)",
              f"Next: argus-plugin run {target} --input {target / 'sample-input.json'} "
              f"--evidence {target / 'sample-evidence' / 'notes.txt'}")  # fmt: skip


def _decoded(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", "replace")


class _LivePrinter:
    """What a local run prints while it runs (stdout and stderr as they come, progress when it moves),
    then whatever arrived after the last update."""

    def __init__(self) -> None:
        self.stdout = self.stderr = 0
        self.progress: tuple[float, str] | None = None

    def __call__(self, live: Any) -> None:
        self._show(_decoded(live.stdout), _decoded(live.stderr))
        if live.progress is not None and (live.progress.fraction, live.progress.message) != self.progress:
            self.progress = (live.progress.fraction, live.progress.message)
            _info(f"[{live.progress.fraction * 100:3.0f}%] {live.progress.message}")

    def _show(self, stdout: str, stderr: str) -> None:
        if len(stdout) > self.stdout:
            typer.echo(stdout[self.stdout :], nl=False, err=True)
            self.stdout = len(stdout)
        if len(stderr) > self.stderr:
            typer.secho(stderr[self.stderr :], nl=False, err=True, fg=typer.colors.YELLOW)
            self.stderr = len(stderr)

    def finish(self, stdout: str, stderr: str) -> None:
        self._show(stdout, stderr)


@app.command("run")
def run_command(
    directory: Annotated[Path, typer.Argument(help="Plugin folder (with manifest.json).")],
    input_json: Annotated[
        str, typer.Option("--input", help="The run's input: JSON text or a file holding it.")
    ] = "{}",
    evidence: Annotated[
        list[Path] | None, typer.Option("--evidence", help="An evidence file (repeat for more).")
    ] = None,
    extended: Annotated[
        bool, typer.Option("--extended", help="Limits as with the compute:extended grant (platform maxima).")
    ] = False,
) -> None:
    """Run a plugin folder locally, in the platform's runtime image and sandbox, with its limits.

    Example:  argus-plugin run chat-keyword-counter --input '{"keyword": "invoice"}' --evidence notes.txt
    Statuses are the platform's: SUCCEEDED, FAILED, TIMED_OUT, MEMORY_EXCEEDED.
    """
    with expected_errors():
        if not directory.is_dir():
            raise CliError(f"{directory} is not a directory.")
        packed = pack_directory(directory)
        _check_manifest(inspect_bundle(packed), packed)
        payload = local_run.read_input(input_json)
        printer = None if OUTPUT.json else _LivePrinter()
        result = local_run.run_locally(
            directory, input_json=payload, evidence=list(evidence or []), extended=extended, on_live=printer
        )
    if OUTPUT.json:
        typer.echo(json.dumps(result.as_json(), indent=2, sort_keys=True))
    else:
        assert printer is not None
        printer.finish(result.stdout, result.stderr)
        limits = ", ".join(f"{k}={v}" for k, v in result.limits.items())
        _info(f"--- {result.status} (exit code {result.exit_code}; limits {limits})")
        if result.reason:
            _info(result.reason)
        if result.output is not None:
            typer.echo(json.dumps(result.output, indent=2, sort_keys=True))
    if result.status != "SUCCEEDED":
        raise typer.Exit(EXIT_RUN_FAILED)


if __name__ == "__main__":  # pragma: no cover
    app()
