"""python -m localdev.proxy --upstream URL [--service execute-api|es] [--region R]
[--auth iam|api_key|none] [--api-key KEY] [--port N] [--open PATH]

Serves http://127.0.0.1:<port> and forwards every request to URL, signed with your AWS
credentials (iam), with the API key (api_key) or as it is (none). Stop it with Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import webbrowser

from localdev.proxy.server import serve
from localdev.proxy.signing import (
    AUTH_MODES,
    SERVICES,
    NoCredentials,
    default_auth,
    infer_region,
    make_signer,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.proxy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--upstream", required=True, help="the API stage or domain base URL")
    parser.add_argument("--service", choices=SERVICES, help="default: from the upstream's host")
    parser.add_argument(
        "--region", help="default: from the upstream's host, else AWS_DEFAULT_REGION"
    )
    parser.add_argument("--auth", choices=AUTH_MODES, help="default: iam for AWS hosts")
    parser.add_argument("--api-key", help="the stage's API key (--auth api_key)")
    parser.add_argument("--port", type=int, default=0, help="local port (0: a free one)")
    parser.add_argument("--open", metavar="PATH", help="open this path in a browser")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    upstream = args.upstream
    service = args.service or ("es" if ".es.amazonaws.com" in upstream else "execute-api")
    auth = args.auth or default_auth(upstream)
    try:
        signer = make_signer(
            auth,
            service=service,
            region=args.region or infer_region(upstream),
            api_key=args.api_key,
        )
        proxy = serve(upstream, signer, args.port, verbose=True)
    except (NoCredentials, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)  # one line, no traceback
        return 2
    signal.signal(signal.SIGTERM, lambda *_: proxy.close())
    print(f"Proxy for {upstream} ({auth}, {service}): {proxy.url}", flush=True)
    if args.open:
        page = proxy.url + "/" + args.open.lstrip("/")
        print(f"Open: {page}", flush=True)
        webbrowser.open(page)
    try:
        proxy.wait()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
