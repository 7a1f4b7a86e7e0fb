"""``rivetr certs list|show|upload|renew|remove`` against a real ``rivetr serve`` (ACME off, the proxy off): a
self-signed certificate made with ``cryptography`` is uploaded from files (the key from stdin too), listed with
its issuer and days left, refused with the API's field-naming message when it is not PEM or the key does not
match; renewing an upload and renewing an ACME certificate while ACME is off are refused with the API's reasons;
removing forgets it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rivetr_core.cli.main import cli
from tests.support.certs import acme_row_left_behind, self_signed
from tests.support.cli import cli_env, module_server
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory, "cli-certs")


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return cli_env(server, tmp_path)


def run(args: list[str], env: dict[str, str], input: str | None = None) -> Any:
    return CliRunner().invoke(cli, args, env=env, input=input, catch_exceptions=False)


def pem_files(tmp_path: Path, domain: str, days: float = 90) -> tuple[Path, Path]:
    cert, key = self_signed(domain, days=days)
    cert_file, key_file = tmp_path / f"{domain}.crt", tmp_path / f"{domain}.key"
    cert_file.write_text(cert)
    key_file.write_text(key)
    return cert_file, key_file


def test_upload_list_show_and_remove(env: dict[str, str], tmp_path: Path) -> None:
    assert "no certificates" in run(["certs", "list"], env).output
    cert_file, key_file = pem_files(tmp_path, "shop.cli.test", days=10.5)
    key_text = key_file.read_text()

    up = run(["certs", "upload", "shop.cli.test", "--cert", str(cert_file), "--key", str(key_file)], env)
    assert up.exit_code == 0, up.output
    assert "uploaded the certificate of shop.cli.test: Rivetr Test, expires" in up.output
    assert "10 d left !" in up.output  # under 14 days: flagged
    assert "PRIVATE KEY" not in up.output

    listed = run(["certs", "list"], env)
    assert listed.exit_code == 0, listed.output
    [header, line] = listed.output.splitlines()
    assert header.split()[:5] == ["DOMAIN", "STATUS", "KIND", "ISSUER", "EXPIRES"]
    assert line.startswith("shop.cli.test") and "custom" in line and "10 d left !" in line, line
    [row] = json.loads(run(["certs", "list", "--json"], env).stdout)
    assert (row["domain"], row["source"], row["names"]) == ("shop.cli.test", "custom", ["shop.cli.test"])

    shown = run(["certs", "show", "shop.cli.test"], env)
    assert shown.exit_code == 0, shown.output
    assert f"sha256:        {row['fingerprint_sha256']}" in shown.output
    assert "kind:          custom" in shown.output and key_text not in shown.output
    assert json.loads(run(["certs", "show", "shop.cli.test", "--json"], env).stdout) == row

    # The key piped on stdin replaces the certificate (a new one, 90 days).
    (tmp_path / "renewed").mkdir()
    cert_file2, key_file2 = pem_files(tmp_path / "renewed", "shop.cli.test")
    again = run(
        ["certs", "upload", "shop.cli.test", "--cert", str(cert_file2), "--key", "-"],
        env,
        input=key_file2.read_text(),
    )
    assert again.exit_code == 0, again.output
    assert "89 d left" in again.output and "!" not in again.output

    asked = run(["certs", "remove", "shop.cli.test"], env, input="n\n")
    assert asked.exit_code != 0 and "Delete the custom certificate of shop.cli.test?" in asked.output
    assert run(["certs", "show", "shop.cli.test"], env).exit_code == 0  # still there
    gone = run(["certs", "remove", "shop.cli.test", "--yes"], env)
    assert gone.exit_code == 0 and "removed the certificate of shop.cli.test" in gone.output, gone.output
    missing = run(["certs", "show", "shop.cli.test"], env)
    assert missing.exit_code == 2 and "(HTTP 404)" in missing.stderr, missing.output


def test_upload_refusals_name_the_field(env: dict[str, str], tmp_path: Path) -> None:
    cert_file, key_file = pem_files(tmp_path, "bad.cli.test")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    not_pem = run(["certs", "upload", "bad.cli.test", "--cert", str(junk), "--key", str(key_file)], env)
    assert not_pem.exit_code == 2
    assert "certificate: Must be a PEM certificate chain" in not_pem.stderr, not_pem.stderr

    _other_cert, other_key = pem_files(tmp_path, "other.cli.test")
    wrong = run(["certs", "upload", "bad.cli.test", "--cert", str(cert_file), "--key", str(other_key)], env)
    assert wrong.exit_code == 2 and "private_key: Does not match the certificate" in wrong.stderr, (
        wrong.stderr
    )
    uncovered = run(
        ["certs", "upload", "elsewhere.cli.test", "--cert", str(cert_file), "--key", str(key_file)], env
    )
    assert uncovered.exit_code == 2 and "Does not cover 'elsewhere.cli.test'" in uncovered.stderr

    no_file = run(
        ["certs", "upload", "bad.cli.test", "--cert", str(cert_file), "--key", str(tmp_path / "nope")], env
    )
    assert no_file.exit_code == 2 and "cannot read the private key from" in no_file.stderr
    both = run(["certs", "upload", "bad.cli.test", "--cert", "-", "--key", "-"], env, input="x")
    assert both.exit_code == 2 and "only one of --cert and --key" in both.output
    assert json.loads(run(["certs", "list", "--json"], env).stdout) == []


def test_renew_refusals(server: ServerProcess, env: dict[str, str], tmp_path: Path) -> None:
    cert_file, key_file = pem_files(tmp_path, "custom.cli.test")
    assert (
        run(
            ["certs", "upload", "custom.cli.test", "--cert", str(cert_file), "--key", str(key_file)], env
        ).exit_code
        == 0
    )
    custom = run(["certs", "renew", "custom.cli.test"], env)
    assert custom.exit_code == 2 and "was uploaded; upload a new one" in custom.stderr, custom.output

    acme_row_left_behind(
        server.data_dir, "acme.cli.test", days=5, last_error="urn:ietf:params:acme:error:dns"
    )
    listed = run(["certs", "list"], env).output
    [line] = [x for x in listed.splitlines() if x.startswith("acme.cli.test")]
    assert "ACME" in line and "Test ACME CA" in line and "urn:ietf:params:acme:error:dns" in line, line
    off = run(["certs", "renew", "acme.cli.test", "--wait"], env)
    assert off.exit_code == 2 and "ACME is not active" in off.stderr and "(HTTP 409)" in off.stderr, (
        off.output
    )
    for domain in ("custom.cli.test", "acme.cli.test"):
        assert run(["certs", "remove", domain, "--yes"], env).exit_code == 0
