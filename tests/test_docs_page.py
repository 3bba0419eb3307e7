"""Issue 9 point 12: the API docs page (/schema) loads every asset from the app itself, runs no inline
script, and works under the Content-Security-Policy the edge (nginx) sends for it."""

from __future__ import annotations

import hashlib
import tomllib
from fnmatch import fnmatch
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from tableorder.docs_page.plugin import ASSETS
from tests.conftest import ServerProcess
from tests.test_deploy_files import ROOT, csp_for, parse_nginx

OPENAPI_JSON = "/schema/openapi.json"


class Page(HTMLParser):
    """What a browser would fetch or run from the page: scripts, linked resources, inline code."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []  # src of each external script
        self.links: list[tuple[str, str]] = []  # (rel, href) of each <link>
        self.inline: list[str] = []  # each piece of inline script or style, described

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            if name.startswith("on"):
                self.inline.append(f"<{tag} {name}>")
            if name in ("href", "src", "action", "formaction") and value.strip().lower().startswith("javascript:"):
                self.inline.append(f"<{tag} {name}=javascript:>")
            if name == "style":
                self.inline.append(f"<{tag} style>")
        if tag == "script":
            if "src" in values:
                self.scripts.append(values["src"])
            else:
                self.inline.append("<script> without src")
        elif tag == "link" and "href" in values:
            self.links.append((values.get("rel", ""), values["href"]))
        elif tag == "style":
            self.inline.append("<style>")


async def docs_page(server: ServerProcess, client: httpx.AsyncClient) -> tuple[httpx.Response, Page]:
    response = await client.get(f"{server.url}/schema")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = Page()
    page.feed(response.text)
    page.close()
    return response, page


def same_origin(url: str) -> bool:
    """Relative, or an absolute path on this origin; never another scheme or host (`//host` included)."""
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith("//")


async def test_docs_page_loads_every_asset_from_this_origin(
        server: ServerProcess, client: httpx.AsyncClient) -> None:
    response, page = await docs_page(server, client)
    stylesheets = [href for rel, href in page.links if "stylesheet" in rel.split()]
    assert page.scripts and stylesheets, "the docs page loads no script or no stylesheet"
    foreign = [url for url in [*page.scripts, *(href for _, href in page.links)] if not same_origin(url)]
    assert not foreign, f"the docs page loads assets from elsewhere: {foreign}"

    script_bytes = 0
    expected = [(url, "javascript") for url in page.scripts] + [(href, "text/css") for href in stylesheets]
    for url, content_type in expected:
        asset = await client.get(urljoin(str(response.url), url))
        assert asset.status_code == 200, url
        assert content_type in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) >= 200, f"{url} is nearly empty ({len(asset.content)} bytes)"
        if content_type == "javascript":
            script_bytes += len(asset.content)
    # The UI itself is served, not a loader that fetches it from somewhere else.
    assert script_bytes > 500_000, f"the page's scripts are {script_bytes} bytes: no UI bundle among them"
    # The page documents this service: it points the UI at the OpenAPI document, which still answers.
    assert OPENAPI_JSON in response.text
    document = await client.get(f"{server.url}{OPENAPI_JSON}")
    assert document.status_code == 200
    assert document.json()["info"]["title"] == "Table Order API"


async def test_docs_page_has_no_inline_script_or_style(server: ServerProcess, client: httpx.AsyncClient) -> None:
    _, page = await docs_page(server, client)
    assert not page.inline, f"inline code the CSP would block: {page.inline}"


async def test_docs_page_works_under_the_edge_policy(server: ServerProcess, client: httpx.AsyncClient) -> None:
    """The policy nginx sends for /schema lets in what the page loads (this origin), and the page's
    scripts and styles are all on this origin, so nothing the page needs is refused."""
    _, page = await docs_page(server, client)
    policy = csp_for(parse_nginx((ROOT / "nginx" / "nginx.conf").read_text()), "/schema")
    for directive in ("script-src", "style-src", "connect-src"):  # the UI fetches the document and tries calls
        sources = policy.get(directive, policy["default-src"])
        assert "'self'" in sources, f"{directive} {sources} refuses this origin: the docs page cannot work"
    assert all(same_origin(url) for url in page.scripts)


def test_vendored_files_are_the_pinned_release() -> None:
    """The vendored Swagger UI is byte for byte the release its README names (SHA256SUMS beside it)."""
    package = ROOT / "src" / "tableorder" / "docs_page"
    sums = [line.split() for line in (package / "SHA256SUMS").read_text().splitlines() if line.strip()]
    assert {name for _, name in sums} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for digest, name in sums:
        assert hashlib.sha256((package / "static" / name).read_bytes()).hexdigest() == digest, \
            f"static/{name} is not the file SHA256SUMS names: update the README's version and the sums"


def test_served_files_ship_in_the_wheel() -> None:
    """The image installs the package (not the source tree): package-data must carry every served file."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["tableorder"]
    for name in ASSETS:
        assert any(fnmatch(f"docs_page/static/{name}", pattern) for pattern in patterns), \
            f"docs_page/static/{name} is served but not in [tool.setuptools.package-data]"
