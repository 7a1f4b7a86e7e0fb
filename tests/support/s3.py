"""A real S3-compatible server for tests: moto's standalone server, on loopback, with real credentials checks.

* ``s3_server`` fixture (session scope) → an :class:`S3Server`: ``endpoint_url``, ``access_key`` and
  ``secret_key`` of an IAM user allowed ``s3:*``, :meth:`S3Server.create_bucket`, :meth:`S3Server.destination`
  (a worker destination dict) and :meth:`S3Server.client` (a boto3 client for checking what landed).
* The server runs in a thread of the test process (``moto.server.ThreadedMotoServer``) and speaks the S3 HTTP
  API; once the user exists, moto is switched to checking every request's signature and the user's policy, so
  wrong keys get the real ``InvalidAccessKeyId`` / ``SignatureDoesNotMatch`` answers.

Network rule: it binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

REGION = "us-east-1"


@dataclass
class S3Server:
    endpoint_url: str
    access_key: str
    secret_key: str

    def client(self, **overrides: Any) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=overrides.get("endpoint_url", self.endpoint_url),
            aws_access_key_id=overrides.get("access_key", self.access_key),
            aws_secret_access_key=overrides.get("secret_key", self.secret_key),
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def create_bucket(self, name: str | None = None) -> str:
        """A new, empty bucket (a unique name unless given)."""
        name = name or f"rivetr-test-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def destination(self, bucket: str, **overrides: Any) -> dict[str, Any]:
        return {
            "kind": "s3",
            "endpoint_url": self.endpoint_url,
            "bucket": bucket,
            "region": REGION,
            "prefix": "rivetr",
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            **overrides,
        }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    import boto3
    from moto import settings
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # Until the switch below moto accepts any request: create the user the tests sign with.
    iam = boto3.session.Session().client(
        "iam",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    iam.create_user(UserName="rivetr-backups")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="rivetr-backups", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="rivetr-backups")["AccessKey"]
    previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on every request is authenticated and authorised
    try:
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = previous
        server.stop()
