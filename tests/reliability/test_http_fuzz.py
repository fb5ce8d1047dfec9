"""Bad requests never break the service.

A served bento (made by the real `assetbook run`, behind nginx) gets a few thousand malformed
and boundary requests that hypothesis draws from the service's own OpenAPI document
(`/docs.json`): wrong types, missing and unknown fields, NaN, infinities, huge and negative
numbers, empty and huge strings, deep nesting, invalid JSON, other content types, empty and
oversized batches, and bodies past nginx's limit. None may get a 5xx; a bad one gets a 4xx
that says why (naming the field when one is to blame); a good one gets a well-formed 200, and
so do the known-good requests another thread sends all along; the serving processes' memory
stays bounded.

More requests than the default 2000: `ASSETBOOK_FUZZ_REQUESTS=20000 .venv/bin/python -m pytest
tests/reliability/test_http_fuzz.py`.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import copy_example
from tests.e2e.test_delivery import GOOD, Project
from tests.ports import free_port
from tests.processes import resident_mb
from tests.reliability.ledger import Ledger
from tests.specs import speed_up

pytestmark = pytest.mark.slow

REQUESTS = int(os.environ.get("ASSETBOOK_FUZZ_REQUESTS", "2000"))
CONCURRENCY = 8  # requests in flight at once: the fuzz also runs concurrently
MAX_GROWTH_MB = 200
BODY_LIMIT = 2**20  # nginx's client_max_body_size


# -- a served project, and what it serves with (test_killed_work uses these too) -------------


def fast_project(parent: Path, search: bool) -> Project:
    """A copy of the default project whose runs take seconds, with or without its search:
    these tests need a model that is served, not a good one."""
    root = copy_example(parent / "proj")
    speed_up(root, search)
    return Project(root, free_port())


@contextmanager
def served(parent: Path, search: bool, days: int = 3, rows: int = 300) -> Iterator[Project]:
    """`assetbook run` up to a served model; `assetbook stop` whatever happens."""
    project = fast_project(parent, search)
    try:
        result = project.assetbook("run", "--days", str(days), "--rows", str(rows))
        assert result.returncode == 0, result.stderr[-3000:]
        yield project
    finally:
        project.assetbook("stop")


@dataclass
class Traffic:
    """Known-good requests from another thread: what users saw meanwhile, as (status, model
    version or error); status 0 is no answer at all."""

    url: str
    interval_s: float = 0.05
    answers: list[tuple[int, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=self._send, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def _send(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                try:
                    response = client.post(f"{self.url}/predict", json={"application": GOOD})
                    ok = response.status_code == 200
                    self.answers.append((response.status_code, response.json()["model_version"]
                                         if ok else response.text[:300]))
                except httpx.HTTPError as exc:
                    self.answers.append((0, repr(exc)))
                self._stop.wait(self.interval_s)

    @property
    def failures(self) -> list[tuple[int, str]]:
        return [answer for answer in self.answers if answer[0] != 200]

    @property
    def versions(self) -> set[str]:
        return {detail for status, detail in self.answers if status == 200}


def serving_rss_mb(project: Project) -> float:
    """Resident memory of what serves: the bento server with its workers, and nginx."""
    serving = project.state / "serving" / "deployment"
    return resident_mb({json.loads((serving / "deployment.json").read_text())["active"]["pid"],
                        int((serving / "nginx" / "nginx.pid").read_text())})


# -- requests, drawn from the OpenAPI document ------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One API route as /docs.json describes its body: `{key: application}` or
    `{key: [applications]}` with `min_items`..`max_items` of them."""

    path: str
    key: str
    application: dict[str, Any]  # the JSON schema of one application
    min_items: int | None = None  # None: one application, not a list
    max_items: int | None = None


def routes(docs: dict[str, Any]) -> list[Route]:
    schemas = docs["components"]["schemas"]

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        return schemas[node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node

    found = []
    for path in ("/predict", "/predict_batch"):
        body = docs["paths"][path]["post"]["requestBody"]["content"]["application/json"][
            "schema"]
        (key,) = body["required"]
        value = body["properties"][key]
        if value.get("type") == "array":
            found.append(Route(path, key, resolve(value["items"]), value["minItems"],
                               value["maxItems"]))
        else:
            found.append(Route(path, key, resolve(value)))
    return found


@dataclass(frozen=True)
class Case:
    path: str
    body: bytes
    content_type: str | None = "application/json"
    valid: bool = False
    culprit: str | None = None  # what the refusal must name, when it names fields
    rows: int = 1

    def __repr__(self) -> str:  # hypothesis prints failing cases; a 20 MB body would drown it
        body = self.body if len(self.body) < 500 else self.body[:500] + b"..."
        return (f"Case({self.path}, {self.content_type!r}, valid={self.valid}, "
                f"culprit={self.culprit!r}, {len(self.body)} bytes: {body!r})")


JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=10), inner, max_size=4), max_leaves=12)
HUGE_STRING = "x" * 200_000
CONTENT_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                 "multipart/form-data; boundary=xyz", "application/xml", "text/csv", "",
                 "application/octet-stream", "application/vnd.bentoml+pickle", "json",
                 "application/jsonx", "image/png"]
JSON_TYPES = [None, "application/json", "application/json; charset=utf-8", "Application/JSON"]


def encode(value: Any) -> bytes:
    """JSON as a careless client writes it: NaN and Infinity as bare tokens."""
    return json.dumps(value, allow_nan=True).encode()


def valid_value(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    low, high = prop.get("minimum"), prop.get("maximum")
    integers = st.integers(low, high)
    if prop["type"] == "integer":
        return integers
    return integers | st.floats(low, high, allow_nan=False, allow_infinity=False)


def invalid_value(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    low, high = prop.get("minimum"), prop.get("maximum")
    wrong_type = (st.text(max_size=20) | st.booleans() | st.none() | st.just(HUGE_STRING)
                  | st.lists(st.integers(), max_size=3) | st.just("")
                  | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
    extreme = st.sampled_from([math.nan, math.inf, -math.inf, 10**30, -(10**30), 1e308,
                               -1e308, 10**400, -1])
    strategies = [wrong_type, extreme]
    if low is not None:
        strategies += [st.integers(max_value=math.ceil(low) - 1),
                       st.floats(max_value=low, exclude_max=True)]
    if high is not None:
        strategies += [st.integers(min_value=math.floor(high) + 1),
                       st.floats(min_value=high, exclude_min=True)]
    if prop["type"] == "integer":
        strategies.append(st.floats(allow_nan=False).filter(lambda v: not v.is_integer()))
    if "enum" in prop:
        strategies.append(st.integers().filter(lambda v: v not in prop["enum"]))
    return st.one_of(strategies).filter(lambda v: not _is_valid(v, prop))


def _is_valid(value: Any, prop: dict[str, Any]) -> bool:
    """Whether `value` meets `prop` (strict JSON types: no bools for numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if prop["type"] == "integer" and not isinstance(value, int):
        return False
    if "enum" in prop:
        return value in prop["enum"]
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return prop.get("minimum", -math.inf) <= value <= prop.get("maximum", math.inf)


def applications(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({name: valid_value(prop)
                                  for name, prop in schema["properties"].items()})


@st.composite
def bad_application(draw: st.DrawFn, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """An application with one thing wrong, and the field to blame (None: the whole)."""
    application = draw(applications(schema))
    props = schema["properties"]
    fault = draw(st.sampled_from(["missing", "unknown", "value", "not an object"]))
    if fault == "missing":
        name = draw(st.sampled_from(schema["required"]))
        del application[name]
    elif fault == "unknown":
        name = draw(st.text(min_size=1, max_size=40).filter(lambda n: n not in props))
        application[name] = draw(JSON_VALUES)
    elif fault == "value":
        name = draw(st.sampled_from(sorted(props)))
        application[name] = draw(invalid_value(props[name]))
    else:
        return draw(JSON_VALUES.filter(lambda v: not isinstance(v, dict))), None
    return application, name


def good_body(draw: st.DrawFn, route: Route) -> tuple[Any, int]:
    """A valid body for the route and its number of applications."""
    if route.min_items is None:
        return {route.key: draw(applications(route.application))}, 1
    assert route.max_items is not None
    rows = draw(st.lists(applications(route.application), min_size=route.min_items,
                         max_size=8))
    if draw(st.integers(0, 9)) == 0:  # now and then the largest batch allowed
        rows = [rows[0]] * route.max_items
    return {route.key: rows}, len(rows)


def nested(depth: int) -> str:
    """JSON `depth` levels deep, objects and lists in turn."""
    return '{"a": [' * depth + "1" + "]}" * depth


@st.composite
def cases(draw: st.DrawFn, all_routes: list[Route]) -> Case:
    """One request: good or bad in one of the ways a client gets it wrong."""
    route = draw(st.sampled_from(all_routes))
    body, rows = good_body(draw, route)
    good = encode(body)
    kind = draw(st.sampled_from([
        "good", "bad application", "invalid json", "deep nesting",
        "not an object", "missing key", "unknown key", "empty body", "content type",
        "batch size"]))
    if kind == "good":
        return Case(route.path, good, draw(st.sampled_from(JSON_TYPES)), True, rows=rows)
    if kind == "bad application":
        application, culprit = draw(bad_application(route.application))
        if route.min_items is None:
            return Case(route.path, encode({route.key: application}), culprit=culprit)
        items = body[route.key][:8]
        items.insert(draw(st.integers(0, len(items))), application)
        return Case(route.path, encode({route.key: items}), culprit=culprit)
    if kind == "invalid json":
        cut = draw(st.integers(0, len(good) - 1))
        broken = draw(st.sampled_from([good[:cut], good[:cut] + b"}" + good[cut:],
                                       good.replace(b":", b"=", 1), good + b"garbage"]))
        return Case(route.path, broken or draw(st.binary(min_size=1, max_size=200)))
    if kind == "deep nesting":
        depth = draw(st.integers(32, 100_000))
        where = draw(st.sampled_from(["body", "key", "field"]))
        if where == "body":
            return Case(route.path, nested(depth).encode())
        if where == "key":
            return Case(route.path, f'{{"{route.key}": {nested(depth)}}}'.encode())
        name = draw(st.sampled_from(sorted(route.application["properties"])))
        field = f'"{name}": '.encode()  # its value now nested, the old one under "x"
        return Case(route.path, good.replace(field, field + f'{nested(depth)}, "x": '.encode(),
                                             1), culprit=name)
    if kind == "not an object":
        return Case(route.path, encode(draw(JSON_VALUES.filter(lambda v: not isinstance(
            v, dict)))))
    if kind == "missing key":
        other = draw(st.sampled_from([r.key for r in all_routes if r.key != route.key]))
        return Case(route.path, encode({other: body[route.key]}), culprit=route.key)
    if kind == "unknown key":
        name = draw(st.text(min_size=1, max_size=20).filter(lambda n: n != route.key))
        return Case(route.path, encode({**body, name: draw(JSON_VALUES)}), culprit=name)
    if kind == "empty body":
        return Case(route.path, b"", culprit=route.key)
    if kind == "content type":
        content_type = draw(st.sampled_from(CONTENT_TYPES) | st.from_regex(
            r"[a-z]{1,12}/[a-z0-9.+-]{1,20}", fullmatch=True).filter(
            lambda t: t != "application/json"))
        return Case(route.path, good, content_type)
    if route.min_items is None:  # "batch size" on the single route: a list of applications
        return Case(route.path, encode({route.key: [body[route.key]] * 2}), culprit=route.key)
    assert route.max_items is not None
    count = draw(st.sampled_from([0, route.max_items + 1, route.max_items + 100]))
    return Case(route.path, encode({route.key: body[route.key][:1] * count}),
                culprit=route.key)


# -- checks -----------------------------------------------------------------------------------


@dataclass
class Tally:
    sent: int = 0
    malformed: int = 0
    server_errors: int = 0

    def count(self, valid: bool, response: httpx.Response) -> httpx.Response:
        self.sent += 1
        self.malformed += not valid
        self.server_errors += response.status_code >= 500
        return response

    def record(self, ledger: Ledger) -> None:
        ledger.record("http fuzz", cases=self.sent, faults=self.malformed,
                      server_errors=self.server_errors)


def send(client: httpx.Client, url: str, case: Case) -> httpx.Response:
    headers = {} if case.content_type is None else {"content-type": case.content_type}
    return client.post(f"{url}{case.path}", content=case.body, headers=headers)


def check_answer(case: Case, response: httpx.Response, version: str) -> None:
    """A good request: 200 with, per row, a probability per class, the most probable class
    and the model version."""
    assert response.status_code == 200, (case, response.text[:500])
    answer = response.json()
    predictions = answer if isinstance(answer, list) else [answer]
    assert len(predictions) == case.rows
    for prediction in predictions:
        probabilities = prediction["probabilities"]
        assert list(probabilities) == ["0", "1"], prediction
        assert all(math.isfinite(p) and 0 <= p <= 1 for p in probabilities.values()), prediction
        assert math.isclose(sum(probabilities.values()), 1, abs_tol=1e-5), prediction
        assert prediction["label"] == int(probabilities["1"] > probabilities["0"])
        assert prediction["model_version"] == version


def check_refusal(case: Case, response: httpx.Response) -> None:
    """A bad request: a 4xx whose JSON body says why, naming the culprit field if any."""
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text[:500])
    reason = response.json()
    assert reason.get("error"), (case, reason)
    if not case.culprit or response.status_code in (413, 415):
        return  # no field to blame, or the body as a whole is refused (size, media type)
    errors = reason.get("detail") or []
    assert errors, ("a refusal of a field must name it", case, reason)
    if any(e["type"] == "json_invalid" for e in errors):
        return  # text that does not parse has no fields to name
    named = {str(part) for error in errors for part in error["loc"]}
    assert case.culprit in named, (case, errors)


# -- tests ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    with served(tmp_path_factory.mktemp("fuzz"), search=False) as project:
        yield project


def test_bad_requests_get_4xx_and_never_break_the_service(project: Project,
                                                           ledger: Ledger) -> None:
    docs = httpx.get(f"{project.url}/docs.json", timeout=30).json()
    all_routes = routes(docs)
    version = project.served_version()
    tally = Tally()

    @settings(max_examples=max(1, REQUESTS // CONCURRENCY), deadline=None, database=None,
              print_blob=True, suppress_health_check=list(HealthCheck))
    @given(batch=st.lists(cases(all_routes), min_size=CONCURRENCY, max_size=CONCURRENCY))
    def fuzz(batch: list[Case]) -> None:
        responses = list(pool.map(lambda case: send(client, project.url, case), batch))
        for case, response in zip(batch, responses, strict=True):
            tally.count(case.valid, response)
        for case, response in zip(batch, responses, strict=True):
            assert response.status_code < 500, (case, response.text[:500])
            if case.valid:
                check_answer(case, response, version)
            else:
                check_refusal(case, response)

    with (httpx.Client(timeout=60) as client, ThreadPoolExecutor(CONCURRENCY) as pool,
          Traffic(project.url) as traffic):
        before = serving_rss_mb(project)
        try:
            fuzz()
        finally:
            tally.record(ledger)
        grown = serving_rss_mb(project) - before
    print(f"\n{tally.sent} requests ({tally.malformed} malformed), {len(traffic.answers)} "
          f"good ones alongside; serving memory {before:.0f} MB, grew {grown:.0f} MB")
    assert tally.server_errors == 0
    assert len(traffic.answers) > 20 and not traffic.failures, traffic.failures[:5]
    assert traffic.versions == {version}
    assert grown < MAX_GROWTH_MB


OVERSIZED = {
    "20 MB": b"x" * (20 * 2**20),
    "20 MB of valid JSON": encode({"applications": [GOOD] * 120_000}),
    "just past the limit": encode({"application": GOOD}).ljust(BODY_LIMIT + 1),
}


@pytest.mark.parametrize("name", sorted(OVERSIZED))
@pytest.mark.parametrize("chunked", [False, True], ids=["sized", "chunked"])
def test_oversized_bodies_are_refused(project: Project, ledger: Ledger, name: str,
                                      chunked: bool) -> None:
    body = OVERSIZED[name]
    content: bytes | Iterator[bytes] = body
    if chunked:  # no Content-Length: nginx has to count as it reads
        content = (body[i:i + 2**16] for i in range(0, len(body), 2**16))
    tally = Tally()
    try:
        with httpx.Client(timeout=60) as client:
            response = tally.count(False, client.post(
                f"{project.url}/predict_batch", content=content,
                headers={"content-type": "application/json"}))
    finally:
        tally.record(ledger)
    assert response.status_code == 413, response.text[:300]
    assert "larger than" in response.json()["error"]
    project.served_version()  # and it goes on answering
