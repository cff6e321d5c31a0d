"""Command line: ``serve``, ``check``, ``healthcheck`` and ``certs`` (DESIGN §2, §7, §11). Parses
flags, builds Settings (flags win over ``MOCK_OP_AUTH_*``), and hands over; no logic of its own.

``serve --workers N`` runs N uvicorn worker processes on one port over a shared store (``--state``,
else an SQLite file in a temporary folder removed at exit); the workers read their settings
from the ``MOCK_OP_AUTH_*`` environment that ``serve`` sets from its flags (``worker_app``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from mock_op_auth import __version__
from mock_op_auth.config.loader import load_default, load_fixtures
from mock_op_auth.config.schema import Config
from mock_op_auth.errors import FixtureError
from mock_op_auth.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mock-op-auth", description="Mock of OP's OAuth 2.0 / OIDC server")
    parser.add_argument("--version", action="version", version=f"mock-op-auth {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--fixtures", metavar="PATH", help="a fixture file or a directory of them")
    serve.add_argument("--issuer", metavar="URL", help="fixed issuer; default: each request's scheme and host")
    serve.add_argument("--watch", action="store_true", default=None,
                       help="reload the fixture files when they change; a bad file is refused")
    serve.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--state", metavar="STORE",
                       help="keep state in a store several processes share: a file path or sqlite:///PATH "
                            "(SQLite), or redis://HOST:PORT/DB")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="worker processes on one port over the shared store (default 1)")
    serve.add_argument("--tls", action="store_true", default=None,
                       help="serve HTTPS (TLS 1.2/1.3), asking for client certificates (docs/tls.md)")
    serve.add_argument("--tls-dir", metavar="DIR", help="the CA and server certificate (made on first start)")
    serve.add_argument("--tls-cert", metavar="FILE", help="your own server certificate (PEM) instead")
    serve.add_argument("--tls-key", metavar="FILE", help="its private key (PEM)")
    serve.add_argument("--tls-client-ca", metavar="FILE", help="also accept client certificates of this CA")
    check = commands.add_parser("check", help="validate fixture files")
    check.add_argument("paths", nargs="+", metavar="PATH")
    health = commands.add_parser("healthcheck", help="exit 0 when the server answers ready")
    health.add_argument("--url", default=None, help="default: http(s)://127.0.0.1:$MOCK_OP_AUTH_PORT")
    health.add_argument("--timeout", type=float, default=3.0)
    health.add_argument("--cafile", metavar="FILE", help="trust this CA for https (default: the TLS directory's)")
    certs = commands.add_parser("certs", help="the mock's CA and client certificates (docs/tls.md)")
    which = certs.add_subparsers(dest="certs_command", required=True)
    ca = which.add_parser("ca", help="print the path of the CA certificate (made if missing)")
    ca.add_argument("--tls-dir", metavar="DIR")
    client = which.add_parser("client", help="issue a client certificate; print the .crt and .key paths")
    client.add_argument("subject", metavar="SUBJECT_DN", help="an RFC 4514 DN: CN=tpp-1,O=Example TPP")
    client.add_argument("--tls-dir", metavar="DIR")
    client.add_argument("--out", metavar="DIR", help="where to write them (default: the current directory)")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    flags: dict[str, Any] = {k: v for k, v in {
        "host": args.host, "port": args.port, "fixtures": args.fixtures, "issuer": args.issuer,
        "log_level": args.log_level, "watch": getattr(args, "watch", None), "state": args.state,
        "tls": args.tls, "tls_dir": args.tls_dir, "tls_cert": args.tls_cert, "tls_key": args.tls_key,
        "tls_client_ca": args.tls_client_ca, "workers": getattr(args, "workers", None),
    }.items() if v is not None}
    return Settings(**flags)


def tls_hosts(settings: Settings) -> list[str]:
    """The names the server certificate must carry beyond localhost: the issuer's host and MOCK_OP_AUTH_TLS_HOSTS."""
    from urllib.parse import urlsplit

    issuer_host = urlsplit(settings.issuer).hostname if settings.issuer else None
    return [*([issuer_host] if issuer_host else []), *settings.extra_tls_hosts()]


ENV_FIELDS = ("host", "port", "fixtures", "issuer", "scenario", "admin_token", "log_level", "watch", "state")


def worker_app() -> Any:
    """The app of one ``--workers`` process: settings from the environment ``serve`` set."""
    from mock_op_auth.app import create_app

    settings = Settings()
    return create_app(load_config(settings), settings)


def load_config(settings: Settings) -> Config:
    return load_fixtures(settings.fixtures) if settings.fixtures else load_default()


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from mock_op_auth.app import create_app

    settings = settings_from(args)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = load_config(settings)
    except FixtureError as err:
        print(f"mock-op-auth: cannot load fixtures:\n{err}", file=sys.stderr)
        return 1
    if settings.scenario and settings.scenario not in config.scenarios:
        print(f"mock-op-auth: unknown scenario {settings.scenario!r} (MOCK_OP_AUTH_SCENARIO)", file=sys.stderr)
        return 1
    if settings.state:  # imported only when asked for: sqlite3 and redis stay off the default start-up path
        from mock_op_auth.state.factory import StoreUrlError, parse_state

        try:
            parse_state(settings.state)
        except StoreUrlError as err:
            print(f"mock-op-auth: --state: {err}", file=sys.stderr)
            return 2
    if settings.workers > 1 and (settings.tls or settings.tls_cert):
        print("mock-op-auth: --workers with --tls is not supported: serve HTTPS with one worker, or put a "
              "TLS-terminating proxy in front of the workers (server.client_certificate_header)", file=sys.stderr)
        return 2
    if settings.workers > 1:
        return serve_workers(settings)
    state_errors: tuple[type[Exception], ...] = ()
    if settings.state:
        from mock_op_auth.state.sqlite import StateError
        from mock_op_auth.state.store import StoreUnavailableError

        state_errors = (StateError, StoreUnavailableError)
    options: dict[str, Any] = {}
    tls = None
    if settings.tls or settings.tls_cert:
        from mock_op_auth.tls.certs import TlsFileError
        from mock_op_auth.tls.serving import prepare_tls, uvicorn_options

        try:
            tls = prepare_tls(settings.tls_dir, hosts=tls_hosts(settings), cert_file=settings.tls_cert,
                              key_file=settings.tls_key, client_ca_file=settings.tls_client_ca)
        except (TlsFileError, ValueError, OSError) as err:
            print(f"mock-op-auth: TLS: {err}", file=sys.stderr)
            return 1
        options = uvicorn_options(tls)
    try:
        app = create_app(config, settings, tls=tls)
    except state_errors as err:
        print(f"mock-op-auth: {err}", file=sys.stderr)
        return 1
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False,
                **options)
    return 0


def serve_workers(settings: Settings) -> int:
    """``serve --workers N``: uvicorn's process manager over one shared store (see the module docstring)."""
    import uvicorn

    from mock_op_auth.state.clock import Clock
    from mock_op_auth.state.factory import open_store
    from mock_op_auth.state.sqlite import StateError
    from mock_op_auth.state.store import StoreUnavailableError

    folder = None
    if not settings.state:
        folder = tempfile.mkdtemp(prefix="mock-op-auth-")
        settings = settings.model_copy(update={"state": os.path.join(folder, "state.db")})
    try:
        try:
            open_store(str(settings.state), Clock()).close()  # reachable, schema made, before any worker starts
        except (StateError, StoreUnavailableError) as err:
            print(f"mock-op-auth: {err}", file=sys.stderr)
            return 1
        for name in ENV_FIELDS:
            value = getattr(settings, name)
            if value is not None:
                text = str(value).lower() if isinstance(value, bool) else str(value)
                os.environ[f"MOCK_OP_AUTH_{name.upper()}"] = text
        uvicorn.run("mock_op_auth.cli:worker_app", factory=True, host=settings.host, port=settings.port,
                    workers=settings.workers, log_level=settings.log_level, access_log=False,
                    timeout_graceful_shutdown=5)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


def check(args: argparse.Namespace) -> int:
    failed = False
    for path in args.paths:
        try:
            config = load_fixtures(path)
        except FixtureError as err:
            failed = True
            for problem in err.problems:
                print(problem)
            continue
        print(f"{path}: ok ({len(config.clients)} clients, {len(config.users)} users, "
              f"{len(config.resources)} resources, {len(config.scenarios)} scenarios)")
    return 1 if failed else 0


def healthcheck(args: argparse.Namespace) -> int:
    import ssl
    import urllib.error  # here, not at the top: urllib.request costs `serve` milliseconds of start-up
    import urllib.request

    settings = Settings()
    scheme = "https" if settings.tls or settings.tls_cert else "http"
    url = (args.url or f"{scheme}://127.0.0.1:{settings.port}").rstrip("/") + "/_mock/health"
    context = None
    if url.startswith("https:"):
        from pathlib import Path

        from mock_op_auth.tls.certs import CA_CERT, default_tls_dir

        cafile = args.cafile or Path(settings.tls_dir or default_tls_dir()) / CA_CERT
        try:
            context = ssl.create_default_context(cafile=str(cafile))
        except (OSError, ssl.SSLError) as err:
            print(f"unhealthy: cannot read the CA certificate {cafile}: {err}", file=sys.stderr)
            return 1
    try:
        with urllib.request.urlopen(url, timeout=args.timeout, context=context) as response:
            body = json.loads(response.read())
            ok = response.status == 200 and body.get("status") == "ok"
    except (urllib.error.URLError, OSError, ValueError) as err:
        print(f"unhealthy: {url}: {err}", file=sys.stderr)
        return 1
    print("ok" if ok else f"unhealthy: {url}")
    return 0 if ok else 1


def certs(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mock_op_auth.tls.certs import TlsFileError, ensure_ca, write_client_certificate
    from mock_op_auth.tls.names import DistinguishedNameError

    tls_dir = args.tls_dir or Settings().tls_dir
    try:
        ca = ensure_ca(tls_dir)
        if args.certs_command == "ca":
            print(ca.cert_file)
            return 0
        cert_file, key_file = write_client_certificate(ca, args.subject, Path(args.out or "."))
    except DistinguishedNameError as err:
        print(f"mock-op-auth: {err}", file=sys.stderr)
        return 2
    except (TlsFileError, OSError) as err:
        print(f"mock-op-auth: {err}", file=sys.stderr)
        return 1
    print(cert_file)
    print(key_file)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from pydantic import ValidationError

    args = build_parser().parse_args(argv)
    try:
        return {"serve": serve, "check": check, "healthcheck": healthcheck, "certs": certs}[args.command](args)
    except ValidationError as err:
        if err.title != Settings.__name__:
            raise
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        print(f"mock-op-auth: bad setting (flag or MOCK_OP_AUTH_* variable): {problems}", file=sys.stderr)
        return 2
