"""Clients generated from the live OpenAPI document, as an integrator makes them, and the end-to-end
scripts written against them (e2e.py, e2e.ts): see tests/test_generated_clients.py.

The generators and compilers: openapi-python-client and mypy from the venv; @hey-api/openapi-ts and
tsc from tools/node_modules (`npm ci --prefix tools`, which `make test` runs). Without the node tools
the tests skip, except under CI (CI=true), where they fail. Generated code goes to a temporary
directory only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TOOLS = ROOT / "tools"
PYTHON_PACKAGE = "tableorder_client"
# No telemetry, no update checks: the tests run offline.
NODE_ENV = {**os.environ, "NO_UPDATE_NOTIFIER": "1", "npm_config_update_notifier": "false"}


def tool(name: str) -> Path:
    """A binary of tools/node_modules/.bin: it must be there under CI; elsewhere the test skips."""
    path = TOOLS / "node_modules" / ".bin" / name
    if not path.exists():
        message = f"{path} is missing: `make test` installs it (npm ci --prefix tools)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def node_binary() -> Path:
    """node itself (20 or later), from PATH: required under CI, else the test skips without it."""
    found = shutil.which("node")
    if found is None:
        message = "node is missing: `make test` installs it (apt-get install nodejs)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(found)


def run(args: list[str | Path], what: str, *, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs a generator or compiler; its output is the failure message when it fails."""
    result = subprocess.run([str(arg) for arg in args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                            env=env, check=False)
    if result.returncode != 0:
        pytest.fail(f"{what} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}", pytrace=False)
    return result


def write_document(document: dict[str, Any], directory: Path) -> Path:
    path = directory / "openapi.json"
    path.write_text(json.dumps(document, ensure_ascii=False))
    return path


# --- Python ----------------------------------------------------------------------------------------------


def generate_python_client(document: dict[str, Any], directory: Path) -> Path:
    """`openapi-python-client generate` into `directory`/tableorder_client, importable from `directory`.
    Any warning of the generator (a schema it could not turn into a model) fails."""
    spec = write_document(document, directory)
    config = directory / "client-config.json"
    # No post hooks: they run ruff, which the generated code does not need to be importable.
    config.write_text(json.dumps({"package_name_override": PYTHON_PACKAGE,
                                  "project_name_override": "tableorder-client", "post_hooks": []}))
    run([sys.executable, "-m", "openapi_python_client", "generate", "--path", spec, "--meta", "none",
         "--config", config, "--output-path", directory / PYTHON_PACKAGE, "--fail-on-warning"],
        "openapi-python-client", cwd=directory)
    return directory / PYTHON_PACKAGE


def type_check_python(script: Path, directory: Path) -> None:
    """mypy --strict on `script` against the generated package in `directory` (whose own code is not
    judged: only whether the script uses its types correctly)."""
    run([sys.executable, "-m", "mypy", "--strict", "--no-warn-unused-ignores", "--follow-imports=silent",
         "--cache-dir", directory / ".mypy_cache", "--python-version", "3.11", script],
        "mypy --strict on the script", cwd=directory, env={**os.environ, "MYPYPATH": str(directory)})


# --- TypeScript ------------------------------------------------------------------------------------------


def generate_typescript_client(document: dict[str, Any], directory: Path) -> Path:
    """@hey-api/openapi-ts (fetch client) into `directory`/client, beside a copy of e2e.ts and its
    tsconfig.json; then `tsc --strict` type-checks the script and the generated code together and
    compiles them to `directory`/dist. Returns the compiled script."""
    openapi_ts, tsc = tool("openapi-ts"), tool("tsc")
    spec = write_document(document, directory)
    for name in ("e2e.ts", "tsconfig.json"):
        shutil.copy(HERE / name, directory / name)
    # CommonJS whatever a package.json above the temporary directory says.
    (directory / "package.json").write_text(json.dumps({"private": True, "type": "commonjs"}))
    run([openapi_ts, "--input", spec, "--output", directory / "client", "--client", "@hey-api/client-fetch",
         "--no-log-file", "--silent"], "@hey-api/openapi-ts", cwd=directory, env=NODE_ENV)
    run([tsc, "--project", directory / "tsconfig.json", "--strict"], "tsc --strict", cwd=directory, env=NODE_ENV)
    return directory / "dist" / "e2e.js"
