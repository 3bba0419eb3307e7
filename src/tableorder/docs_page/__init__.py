"""The API docs page at /schema: Swagger UI served from this package, nothing from a CDN."""

from tableorder.docs_page.plugin import DocsPagePlugin

__all__ = ["DocsPagePlugin"]
