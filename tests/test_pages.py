"""The web pages as the app serves them: HTML under the edge's CSP, files from this origin only."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.conftest import ServerProcess

PAGES = ["/", "/admin", "/kitchen"]
NGINX_CONF = Path(__file__).resolve().parents[1] / "nginx" / "nginx.conf"
# Static `import ... from "x"`, `import "x"` and `export ... from "x"` in an ES module.
MODULE_IMPORT = re.compile(
    r"""^\s*(?:import\s*["']([^"']+)["']|(?:import|export)\b[^;'"]*?\bfrom\s*["']([^"']+)["'])""", re.MULTILINE)


class PageParts(HTMLParser):
    """What an HTML page loads, and anything inline the CSP would refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[tuple[str, str]] = []  # (tag, url)
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "style" in attributes:
            self.inline.append(f"style attribute on <{tag}>")
        self.inline += [f"{name} handler on <{tag}>" for name in attributes if name.startswith("on")]
        if tag == "style":
            self.inline.append("<style> element")
        if tag == "script":
            if attributes.get("src"):
                self.references.append((tag, str(attributes["src"])))
            else:
                self._in_script = True
        if tag == "link" and attributes.get("href"):
            self.references.append((tag, str(attributes["href"])))
        if tag in {"img", "audio", "source"} and attributes.get("src"):
            self.references.append((tag, str(attributes["src"])))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline <script>")


def same_origin(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and url.startswith("/")


@pytest.mark.parametrize("page", PAGES)
def test_page_is_html_under_the_edge_csp(server: ServerProcess, page: str) -> None:
    response = httpx.get(server.url + page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "no-cache" in response.headers["cache-control"]
    parts = PageParts()
    parts.feed(response.text)
    assert parts.inline == [], f"{page} has what the CSP refuses: {parts.inline}"
    assert parts.references, f"{page} loads nothing"
    assert all(same_origin(url) for _, url in parts.references), parts.references


@pytest.mark.parametrize("page", PAGES)
def test_every_file_a_page_loads_is_served_with_its_type(server: ServerProcess, page: str) -> None:
    """Every file the HTML names, and every module those modules import, is 200 with the right type."""
    parts = PageParts()
    parts.feed(httpx.get(server.url + page).text)
    pending = [url for _, url in parts.references]
    seen: set[str] = set()
    expected = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        assert same_origin(url), url
        response = httpx.get(server.url + url)
        assert response.status_code == 200, f"{url} is {response.status_code}"
        suffix = "." + url.rsplit(".", 1)[-1]
        assert response.headers["content-type"].startswith(expected[suffix]), (url, response.headers["content-type"])
        assert response.headers["x-content-type-options"] == "nosniff"
        if suffix == ".js":
            pending += [urljoin(url, a or b) for a, b in MODULE_IMPORT.findall(response.text)]
    assert any(url.endswith(".css") for url in seen)


@pytest.mark.parametrize("page", PAGES)
def test_the_edge_sends_every_page_to_the_app(page: str) -> None:
    """Behind nginx a page reaches the app only through a regex location of its own (the catch-all
    answers 404); its files go through `location /static/`."""
    conf = NGINX_CONF.read_text()
    locations = re.findall(r"location\s+~\s+(\S+)\s*\{([^}]*)\}", conf)
    assert any(re.search(pattern, page) and "proxy_pass http://backend;" in body for pattern, body in locations), page
    assert re.search(r"location\s+/static/\s*\{[^}]*proxy_pass http://backend;", conf)


def test_unchanged_files_are_not_sent_again(server: ServerProcess) -> None:
    first = httpx.get(server.url + "/static/shared/api.js")
    assert first.status_code == 200 and "no-cache" in first.headers["cache-control"]
    again = httpx.get(server.url + "/static/shared/api.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize("path", [
    "/static/tablet/../../pages.py", "/static/%2e%2e/pages.py", "/static/tablet/missing.js",
    "/static/tablet/index.py", "/static/.hidden.js",
])
def test_nothing_outside_the_web_files_is_served(server: ServerProcess, path: str) -> None:
    response = httpx.get(server.url + path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_pages_stay_out_of_the_api_document(server: ServerProcess) -> None:
    paths = httpx.get(server.url + "/schema/openapi.json").json()["paths"]
    assert not [path for path in paths if not path.startswith(("/api/", "/health"))]
