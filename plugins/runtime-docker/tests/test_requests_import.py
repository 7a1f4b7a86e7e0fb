"""The docker SDK's requests loads without charset_normalizer (idle RSS), and guessing an encoding still works."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys, warnings
warnings.simplefilter("error")  # requests warns when it finds no character detection library
import rivetr_runtime_docker.runtime
import requests.models
idle = "charset_normalizer" in sys.modules
response = requests.models.Response()
response._content = "déjà vu, ça va très bien".encode("utf-8")
response.encoding = None  # no charset declared: requests guesses
print(json.dumps({"idle": idle, "encoding": response.apparent_encoding, "text": response.text,
                  "used": "charset_normalizer" in sys.modules}))
"""


def test_charset_normalizer_loads_on_first_guess_not_with_the_sdk() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["idle"] is False
    assert result["encoding"] == "utf-8"
    assert result["text"] == "déjà vu, ça va très bien"
    assert result["used"] is True


def test_the_entry_point_module_loads_neither_requests_nor_the_sdk() -> None:
    """The shim runs only where docker is imported: a server on another runtime never pays for requests."""
    code = (
        "import sys, rivetr_runtime_docker.plugin; print(sorted({'requests', 'docker'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
