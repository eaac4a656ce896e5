"""python -m localdev.rekognition: serve the local Rekognition endpoint until Ctrl-C."""

import argparse
import contextlib
import logging

from .server import LocalRekognition


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(
        prog="python -m localdev.rekognition",
        description="A local Rekognition endpoint (DetectLabels, DetectFaces) for boto3.",
    )
    parser.add_argument(
        "--s3-endpoint",
        metavar="URL",
        help="S3 endpoint to read S3Object images from, e.g. a moto server "
        "(default: boto3's own configuration)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--region", default="us-east-1", help="S3 region (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads per model")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(message)s"
    )
    server = LocalRekognition(
        args.s3_endpoint, host=args.host, port=args.port, region=args.region, threads=args.threads
    )
    server.warm_up()
    print(f"Local Rekognition at {server.url}", flush=True)
    print(f"  export AWS_ENDPOINT_URL_REKOGNITION={server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        server.serve_forever()


if __name__ == "__main__":
    main()
