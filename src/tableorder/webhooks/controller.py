"""Webhooks for the staff: endpoints that receive the store's events, signed; their deliveries.

Staff only: these operations declare no API-key scope, so the admin router refuses API keys here
(an endpoint's secret signs what its receiver trusts, and its URL decides where the service sends
requests)."""

from __future__ import annotations

from typing import Annotated, Any, get_args

import asyncpg
import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import ResponseHeader, State
from litestar.params import Parameter

from tableorder.documents import (
    WebhookDelivery,
    WebhookDeliveryPage,
    WebhookEndpoint,
    WebhookEndpointCreated,
    WebhookEventType,
)
from tableorder.kit import MAX_BIGINT, PathId
from tableorder.problems import AUTH_PROBLEMS, FieldError, ProblemError, conflict, not_found, problem_spec
from tableorder.security import Principal
from tableorder.webhooks import addresses, queries
from tableorder.webhooks.delivery import SECRET_GRACE_SECONDS, new_secret
from tableorder.webhooks.schemas import WebhookCreate, WebhookUpdate

NO_ENDPOINT = problem_spec("No such webhook endpoint in this store")
NO_DELIVERY = problem_spec("No such delivery of this endpoint")
MAX_ENDPOINTS_PER_STORE = 20
EVENT_ORDER: tuple[str, ...] = get_args(WebhookEventType)


def _event_types(events: list[WebhookEventType]) -> list[str]:
    """Once each, in a fixed order."""
    return [event for event in EVENT_ORDER if event in events]


async def _checked_url(state: State, url: str) -> str:
    """The URL as given, once it may be used: else a 422 naming `url`."""
    try:
        await addresses.check(url, allow_private=state.settings.webhook_allow_private)
    except addresses.UrlRefused as exc:
        raise ProblemError(422, str(exc), slug="validation-error",
                           errors=[FieldError(field="url", message=str(exc))]) from exc
    return url


def _endpoint(row: asyncpg.Record) -> WebhookEndpoint:
    return msgspec.convert(dict(row.items()), WebhookEndpoint)


def _with_secret(row: asyncpg.Record) -> WebhookEndpointCreated:
    return msgspec.convert(dict(row.items()), WebhookEndpointCreated)


class WebhookController(Controller):
    path = "/webhooks"
    tags = ["Admin: webhooks"]

    @post(operation_id="CreateWebhook",
          summary="Register an endpoint to receive the store's events; its signing secret is in the answer",
          description="Each event of the given types committed from now on is POSTed to `url` as "
                      "`{type, position, store_id, data, created_at}`, signed per Standard Webhooks "
                      "(`webhook-id` = `<store_id>:<position>`, `webhook-timestamp`, `webhook-signature`), at "
                      "least once and in position order. The URL's host must resolve to public addresses. "
                      "Staff only.",
          responses={**AUTH_PROBLEMS,
                     409: problem_spec(f"The store already has {MAX_ENDPOINTS_PER_STORE} webhook endpoints")},
          response_headers=[
              ResponseHeader(name="Location", description="The new endpoint's URL", documentation_only=True),
              ResponseHeader(name="Cache-Control", description="no-store: the answer holds the secret",
                             documentation_only=True)])
    async def create_webhook(self, state: State, request: Request[Any, Any, Any], principal: Principal,
                             data: WebhookCreate) -> Response[WebhookEndpointCreated]:
        url = await _checked_url(state, data.url)
        row = await queries.create_endpoint(state.pool, principal.store_id, url, _event_types(data.events),
                                            data.description, new_secret(), MAX_ENDPOINTS_PER_STORE)
        if row is None:
            raise conflict(f"The store already has {MAX_ENDPOINTS_PER_STORE} webhook endpoints; delete one first.")
        return Response(_with_secret(row), status_code=201, headers={
            "Location": f"{request.url.path.rstrip('/')}/{row['id']}", "Cache-Control": "no-store"})

    @get(operation_id="ListWebhooks", summary="The store's webhook endpoints, oldest first (without secrets)",
         description="Staff only.", responses=AUTH_PROBLEMS)
    async def list_webhooks(self, state: State, principal: Principal) -> list[WebhookEndpoint]:
        return [_endpoint(row) for row in await queries.list_endpoints(state.pool, principal.store_id)]

    @get("/{webhook_id:int}", operation_id="GetWebhook", summary="One webhook endpoint (without its secret)",
         description="Staff only.", responses={**AUTH_PROBLEMS, 404: NO_ENDPOINT})
    async def get_webhook(self, state: State, principal: Principal, webhook_id: PathId) -> WebhookEndpoint:
        row = await queries.get_endpoint(state.pool, principal.store_id, webhook_id)
        if row is None:
            raise not_found("Webhook endpoint")
        return _endpoint(row)

    @patch("/{webhook_id:int}", operation_id="UpdateWebhook",
           summary="Change an endpoint's URL, event types, description, or enable or disable it",
           description="Only the fields sent change. `enabled: true` re-enables an endpoint the service "
                       "disabled (its `disabled_reason` is cleared) and it goes on from the first event it did not "
                       "get, if still kept. A new URL is tried at once. Staff only.",
           responses={**AUTH_PROBLEMS, 404: NO_ENDPOINT})
    async def update_webhook(self, state: State, principal: Principal, webhook_id: PathId,
                             data: WebhookUpdate) -> WebhookEndpoint:
        url = await _checked_url(state, data.url) if isinstance(data.url, str) else None
        row = await queries.update_endpoint(
            state.pool, principal.store_id, webhook_id, url=url,
            events=_event_types(data.events) if isinstance(data.events, list) else None,
            description=data.description if isinstance(data.description, str) else None,
            enabled=data.enabled if isinstance(data.enabled, bool) else None)
        if row is None:
            raise not_found("Webhook endpoint")
        state.webhooks.wake()
        return _endpoint(row)

    @delete("/{webhook_id:int}", operation_id="DeleteWebhook",
            summary="Remove an endpoint and its deliveries; nothing more is sent to it",
            description="Staff only.", responses={**AUTH_PROBLEMS, 404: NO_ENDPOINT})
    async def delete_webhook(self, state: State, principal: Principal, webhook_id: PathId) -> None:
        if not await queries.delete_endpoint(state.pool, principal.store_id, webhook_id):
            raise not_found("Webhook endpoint")

    @post("/{webhook_id:int}/rotate-secret", operation_id="RotateWebhookSecret", status_code=200,
          summary="Give an endpoint a new signing secret; the old one still signs for 24 hours",
          description="Deliveries from now on carry a signature with the new secret, and for 24 hours one with "
                      "the previous secret too (space-separated in `webhook-signature`), so the receiver can "
                      "switch over without refusing any. Staff only.",
          responses={**AUTH_PROBLEMS, 404: NO_ENDPOINT},
          response_headers=[ResponseHeader(name="Cache-Control", description="no-store: the answer holds the "
                                           "secret", documentation_only=True)])
    async def rotate_secret(self, state: State, principal: Principal,
                            webhook_id: PathId) -> Response[WebhookEndpointCreated]:
        row = await queries.rotate_secret(state.pool, principal.store_id, webhook_id, new_secret(),
                                          SECRET_GRACE_SECONDS)
        if row is None:
            raise not_found("Webhook endpoint")
        return Response(_with_secret(row), headers={"Cache-Control": "no-store"})

    @get("/{webhook_id:int}/deliveries", operation_id="ListWebhookDeliveries",
         summary="An endpoint's deliveries, newest event first, with attempts and the last outcome",
         description="One delivery per event sent (or being retried) to the endpoint. Kept as long as the "
                     "store's events (EVENT_RETENTION_HOURS). Staff only.",
         responses={**AUTH_PROBLEMS, 404: NO_ENDPOINT})
    async def list_deliveries(
        self, state: State, principal: Principal, webhook_id: PathId,
        limit: Annotated[int, Parameter(ge=1, le=100, description="Deliveries per page")] = 20,
        cursor: Annotated[str | None, Parameter(
            max_length=20, pattern=r"^[0-9]{1,19}$",
            description="The previous page's `next_cursor`, for the page after it")] = None,
    ) -> WebhookDeliveryPage:
        before = int(cursor) if cursor is not None else None
        if before is not None and before > MAX_BIGINT:
            raise ProblemError(422, "The cursor is not one of ours.", slug="validation-error",
                               errors=[FieldError(field="query.cursor", message="not a cursor")])
        rows = await queries.list_deliveries(state.pool, principal.store_id, webhook_id, before, limit)
        if rows is None:
            raise not_found("Webhook endpoint")
        items = [msgspec.convert(dict(row.items()), WebhookDelivery) for row in rows]
        return WebhookDeliveryPage(items=items,
                                   next_cursor=str(items[-1].position) if len(items) == limit else None)

    @post("/{webhook_id:int}/deliveries/{delivery_id:int}/redeliver", operation_id="RedeliverWebhook",
          status_code=202, summary="Send a delivery's event to the endpoint again",
          description="A delivery that is done (succeeded, or given up and the endpoint enabled again) is sent "
                      "once more, with the same `webhook-id`, out of order with the endpoint's other events; one "
                      "the endpoint is still retrying is tried now. Staff only.",
          responses={**AUTH_PROBLEMS, 404: NO_DELIVERY,
                     409: problem_spec("The endpoint is disabled, or the event is no longer kept")})
    async def redeliver(self, state: State, principal: Principal, webhook_id: PathId,
                        delivery_id: PathId) -> WebhookDelivery:
        marked = await queries.request_redelivery(state.pool, principal.store_id, webhook_id, delivery_id)
        if marked is None:
            raise not_found("Delivery")
        if not marked["enabled"]:
            raise conflict("The endpoint is disabled; enable it first.")
        if not marked["kept"]:
            raise conflict("The event is no longer kept (EVENT_RETENTION_HOURS); it cannot be sent again.")
        state.webhooks.wake()
        row = await queries.get_delivery(state.pool, principal.store_id, webhook_id, delivery_id)
        if row is None:  # deleted meanwhile
            raise not_found("Delivery")
        return msgspec.convert(dict(row.items()), WebhookDelivery)
