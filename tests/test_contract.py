"""The API contract: the live OpenAPI document checked against the live server by schemathesis, and the
conventions the document itself keeps. (Clients generated from it drive the API end to end in
tests/test_generated_clients.py.)"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import Status, events, from_schema

from tests.conftest import ServerProcess
from tests.helpers import Store, Stores

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
PROBLEM_JSON = "application/problem+json"

# --- the OpenAPI document ---------------------------------------------------------------------------------


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation object) for every operation in the document."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, operation


# --- 1. schemathesis against the live server --------------------------------------------------------------

# What every response must satisfy, for generated valid and invalid requests alike.
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
          "positive_data_acceptance", "missing_required_header", "unsupported_method",
          "allow_header_conformance", "use_after_free", "ensure_resource_availability", "ignored_auth",
          "object_level_authorization")
# Per operation, for the fuzzing phase (the coverage phase adds its own boundary and negative cases).
MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "30"))
# Fixed so a failure reproduces; set CONTRACT_SEED to explore other inputs.
SEED = int(os.environ.get("CONTRACT_SEED", "20240611"))


@dataclass(frozen=True)
class Finding:
    operation: str
    check: str
    title: str
    message: str
    reproduce: str

    def render(self) -> str:
        message = "\n".join(f"      {line}" for line in self.message.strip().splitlines()[:12])
        return f"- {self.operation}: {self.check}: {self.title}\n{message}\n      reproduce: {self.reproduce}"


# Operations that refuse some schema-valid requests for a rule of the business no schema can state,
# with 422 naming the field: positive_data_acceptance accepts a 422 there, and only there.
_REFUSED = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
BUSINESS_RULES = [
    {"include-operation-id": operation_id, "checks": {"positive_data_acceptance": {"expected-statuses": _REFUSED}}}
    for operation_id in (
        "PlaceOrder",  # menu items that do not exist in the table's store, or are sold out
        "CreateMenuItem", "UpdateMenuItem",  # a category or station that does not exist in the store; a
        # sold_out_until in the past, or of an available item
        "CreateCategory", "UpdateCategory",  # a station that does not exist in the store
        "CreateOptionGroup", "UpdateOptionGroup",  # min above max
        "UpdateStore",  # a language listed twice
        "ChangeAdminPassword",  # the current password is not the admin's
        "GetTableHistory", "ListOrders",  # `from` after `to`
        "MoveTableSession",  # a move to the table itself
        "CreateWebhook", "UpdateWebhook",  # a URL that does not resolve to a public address
    )
]


def schemathesis_config(store: Store, logout_token: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "workers": 1,
        # Generation speed depends on the machine; the checks below are about the API, not about it.
        "suppress-health-check": ["too_slow"],
        "cache": {"enabled": False},  # no .schemathesis/ directory in the work tree
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": True}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        # Each operation gets the token its security requirement names: guest operations (TableToken) a
        # table's, admin operations (AdminToken, or the AdminCookie alternative) the admin's; the auth and
        # health operations declare no security and get none. Cases that deliberately drop or corrupt the
        # credentials still go out without them.
        "auth": {"openapi": {"TableToken": {"bearer": store.tables[1].token},
                             "AdminToken": {"bearer": store.admin_token}}},
        "request-timeout": 10,
        "operations": [{
            # Logging out ends the token it is sent with: a token of its own, so the run's admin token
            # stays valid for every other operation.
            "include-path": "/api/v1/auth/logout",
            "headers": {"Authorization": f"Bearer {logout_token}"},
        }, {
            # Event streams never end: the read stops after this long, with what arrived (the status,
            # headers and first frames are what the checks look at). A request with an undeclared
            # header is not invalid HTTP (every browser sends some): the stream rightly ignores it,
            # which negative_data_rejection counts against it; tests/test_push.py checks Last-Event-ID.
            "include-path-regex": r"/stream$",
            "request-timeout": 1,
            "generation": {"max-examples": 5},
            "checks": {"negative_data_rejection": {"enabled": False}},
        }, *BUSINESS_RULES],
    })


def run_schemathesis(url: str, store: Store, logout_token: str) -> tuple[list[Finding], list[str], set[str], int]:
    """Every phase schemathesis has (examples, coverage, fuzzing, stateful) against the live server.

    Returns the check failures, the errors, the operations that were exercised and the number of cases."""
    schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json",
                                           config=schemathesis_config(store, logout_token))
    findings: dict[tuple[str, ...], Finding] = {}
    errors: list[str] = []
    exercised: set[str] = set()
    cases = 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            if event.phase.value != "stateful" and recorder.cases:
                exercised.add(recorder.label)
            cases += len(recorder.cases)
            for case_id, nodes in recorder.checks.items():
                for node in nodes:
                    if node.status != Status.FAILURE or node.failure_info is None:
                        continue
                    failure = node.failure_info.failure
                    operation = failure.operation or recorder.label
                    case = recorder.cases[case_id].value
                    # One entry per distinct problem; the first example of it is the one shown.
                    key = (operation, node.name, failure.title, failure._unique_key)
                    findings.setdefault(key, Finding(
                        operation=operation, check=node.name, title=failure.title, message=failure.message,
                        reproduce=node.failure_info.code_sample or case.as_curl_command()))
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.title}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            for failure in event.failures:
                findings.setdefault((failure.operation or "", "after_run", failure._unique_key), Finding(
                    operation=failure.operation or "(run)", check="after_run", title=failure.title,
                    message=failure.message, reproduce="-"))
            if event.stop_reason.value != "completed":
                errors.append(f"the run stopped early: {event.stop_reason.value}")
    return list(findings.values()), errors, exercised, cases


@pytest.mark.slow
async def test_schemathesis_finds_no_contract_violations(server: ServerProcess, stores: Stores,
                                                        openapi_document: dict[str, Any]) -> None:
    # A store of its own: whatever the generated requests create, change or delete stays in it.
    store = await stores.create()
    started = time.monotonic()
    logout_token = await stores.login_admin(store.code)
    findings, errors, exercised, cases = await asyncio.to_thread(run_schemathesis, server.url, store, logout_token)
    elapsed = time.monotonic() - started

    declared = {f"{method} {path}" for method, path, _ in operations(openapi_document)}
    report = [f"schemathesis (seed {SEED}, {cases} cases, {elapsed:.0f}s):"]
    if findings:
        report.append(f"{len(findings)} contract violation(s):")
        report.extend(finding.render() for finding in sorted(findings, key=lambda f: (f.operation, f.check)))
    if errors:
        report.append(f"{len(errors)} error(s):")
        report.extend(f"- {error}" for error in errors)
    if declared - exercised:
        report.append(f"operations never exercised: {sorted(declared - exercised)}")
    if findings or errors or declared - exercised:
        pytest.fail("\n".join(report), pytrace=False)


# --- 2. the document's conventions ------------------------------------------------------------------------

OPERATION_ID = re.compile(r"^[A-Z][A-Za-z]+$")


def test_operations_have_pascal_case_unique_ids_and_tags(openapi_document: dict[str, Any]) -> None:
    declared_tags = {tag["name"] for tag in openapi_document.get("tags", [])}
    ids: dict[str, list[str]] = {}
    problems = []
    for method, path, operation in operations(openapi_document):
        label = f"{method} {path}"
        operation_id = operation.get("operationId")
        if not isinstance(operation_id, str) or not OPERATION_ID.match(operation_id):
            problems.append(f"{label}: operationId {operation_id!r} is not PascalCase")
        else:
            ids.setdefault(operation_id, []).append(label)
        tags = operation.get("tags") or []
        if not tags:
            problems.append(f"{label}: no tags")
        problems.extend(f"{label}: tag {tag!r} is not declared in the document's tags"
                        for tag in tags if tag not in declared_tags)
    problems.extend(f"operationId {operation_id} is used by {labels}" for operation_id, labels in ids.items()
                    if len(labels) > 1)
    assert ids, "the document has no operations"
    assert not problems, "\n".join(problems)


def test_security_schemes_are_declared(openapi_document: dict[str, Any]) -> None:
    schemes = openapi_document["components"]["securitySchemes"]
    assert {"TableToken", "AdminToken", "AdminCookie"} <= set(schemes)
    assert schemes["TableToken"]["type"] == "http" and schemes["TableToken"]["scheme"] == "bearer"
    assert schemes["AdminToken"]["type"] == "http" and schemes["AdminToken"]["scheme"] == "bearer"
    assert schemes["AdminCookie"]["type"] == "apiKey" and schemes["AdminCookie"]["in"] == "cookie"


def test_json_success_responses_are_typed(openapi_document: dict[str, Any]) -> None:
    """A generated client gets a model (or a list of models) back, never a union with a bare string."""
    problems = []
    for method, path, operation in operations(openapi_document):
        for status, response in operation.get("responses", {}).items():
            media = (response.get("content") or {}).get("application/json")
            if not status.startswith("2") or media is None:
                continue
            schema = media.get("schema") or {}
            if schema.get("type") == "array":
                schema = schema.get("items") or {}
            if "$ref" not in schema:
                problems.append(f"{method} {path}: the {status} response schema is {schema}")
    assert not problems, "\n".join(problems)


def test_bodiless_responses_declare_no_content(openapi_document: dict[str, Any]) -> None:
    problems = [f"{method} {path}: the {status} response declares content {sorted(response['content'])}"
                for method, path, operation in operations(openapi_document)
                for status, response in operation.get("responses", {}).items()
                if status in ("204", "304") and response.get("content")]
    assert not problems, "\n".join(problems)


def test_admin_operations_declare_auth_problems(openapi_document: dict[str, Any]) -> None:
    problems = []
    admin = [(m, p, o) for m, p, o in operations(openapi_document) if p.startswith("/api/v1/admin")]
    assert admin, "the document has no admin operations"
    for method, path, operation in admin:
        label = f"{method} {path}"
        names = {name for requirement in operation.get("security") or [] for name in requirement}
        if not names & {"AdminToken", "AdminCookie"}:
            problems.append(f"{label}: security does not name AdminToken or AdminCookie")
        for status in ("401", "403"):
            response = operation.get("responses", {}).get(status)
            if response is None:
                problems.append(f"{label}: no {status} response")
            elif PROBLEM_JSON not in (response.get("content") or {}):
                problems.append(f"{label}: the {status} response is not {PROBLEM_JSON}: "
                                f"{sorted(response.get('content') or {})}")
    assert not problems, "\n".join(problems)
