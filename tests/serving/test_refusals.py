"""A refused request is said for a person: each problem as `field: message`, and the fix for a
row sent without its wrapper field; the body's `detail` keeps each error's type and place."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from assetbook.serving.middleware import PlainRefusals, plain_refusal

URL = "https://errors.pydantic.dev/2.14/v/"
# What BentoML answered a row sent without its wrapper field (seen on a served bento)
UNWRAPPED = {"error": "3 validation error for request", "detail": [
    {"type": "missing", "loc": ["row"], "msg": "Field required", "url": URL + "missing"},
    {"type": "extra_forbidden", "loc": ["mean_radius"], "msg": "Extra inputs are not permitted",
     "url": URL + "extra_forbidden"},
    {"type": "extra_forbidden", "loc": ["mean_texture"],
     "msg": "Extra inputs are not permitted", "url": URL + "extra_forbidden"}]}


def test_each_problem_is_said_by_its_field_and_an_unwrapped_row_is_told_how_to_send() -> None:
    said = plain_refusal(UNWRAPPED, "row")
    assert said["error"] == (
        "3 problem(s) with the request: row: Field required; mean_radius: Extra inputs are not "
        'permitted; mean_texture: Extra inputs are not permitted. Send the fields inside "row": '
        '{"row": {...}}')
    assert said["detail"] == [{k: v for k, v in e.items() if k != "url"}
                              for e in UNWRAPPED["detail"]]


def test_the_target_sent_in_a_row_is_said_to_be_the_models_answer() -> None:
    sent = {"error": "1 validation error for request", "detail": [
        {"type": "extra_forbidden", "loc": ["rows", 1, "progression"],
         "msg": "Extra inputs are not permitted", "url": URL + "extra_forbidden"}]}
    assert plain_refusal(sent, "rows", ("progression",))["error"] == (
        "1 problem(s) with the request: rows.1.progression: Extra inputs are not permitted "
        "(the model's answer: leave it out)")
    assert "answer" not in plain_refusal(sent, "rows", ("age",))["error"]


def test_each_wrong_value_is_quoted_from_the_request() -> None:
    """BentoML's errors leave out the value sent (`include_input=False`); a strict integer
    field refusing 50.0 reads as a riddle without it."""
    refused = {"error": "4 validation error for request", "detail": [
        {"type": "int_type", "loc": ["rows", 1, "visits"], "msg": "Input should be a valid "
         "integer"},
        {"type": "float_type", "loc": ["rows", 0, "bmi"], "msg": "Input should be a valid "
         "number"},
        {"type": "missing", "loc": ["rows", 0, "age"], "msg": "Field required"},
        {"type": "extra_forbidden", "loc": ["rows", 0, "note"], "msg": "Extra inputs are not "
         "permitted"}]}
    request = {"rows": [{"bmi": "high", "note": "x"}, {"visits": 50.0}]}
    assert plain_refusal(refused, "rows", request=request)["error"] == (
        "4 problem(s) with the request: rows.1.visits: Input should be a valid integer (sent "
        '50.0); rows.0.bmi: Input should be a valid number (sent "high"); rows.0.age: Field '
        "required; rows.0.note: Extra inputs are not permitted")
    # a place the request does not hold (pydantic's own, e.g. a union's member), a whole
    # object, or no request: the message alone
    for request in ({"rows": [{}, {"visits": {"a": 1}}]}, {"rows": []}, None, "not a body"):
        assert "(sent" not in plain_refusal(refused, "rows", request=request)["error"]


def test_many_problems_are_cut_short_and_other_bodies_stay_as_they_are() -> None:
    many = {"error": "30 validation error for request", "detail": [
        {"type": "missing", "loc": ["row", f"x{i}"], "msg": "Field required"} for i in range(30)]}
    said = plain_refusal(many, "row")["error"]
    assert said.startswith("30 problem(s) with the request: row.x0: Field required; ")
    assert said.endswith("row.x4: Field required; and 25 more (in detail)")
    assert "Send the fields" not in said  # the wrapper is there; its fields are missing
    for other in ({"error": "request body larger than 1 MiB"}, {"error": "bad", "detail": []},
                  {"error": "bad", "detail": "not a list"}):
        assert plain_refusal(other, "row") == other


WRONG_TYPE = {"error": "1 validation error for request", "detail": [
    {"type": "int_type", "loc": ["row", "visits"], "msg": "Input should be a valid integer"}]}


async def refuse(request: Request) -> JSONResponse:
    if request.query_params.get("ok"):
        return JSONResponse({"label": 1})
    await request.body()  # the app reads the request, as BentoML's does before it refuses
    return JSONResponse(WRONG_TYPE if request.query_params.get("type") else UNWRAPPED,
                        status_code=400)


@pytest.mark.anyio
async def test_the_middleware_rewrites_the_400s_of_its_endpoints_alone() -> None:
    app = Starlette(routes=[Route(path, refuse, methods=["POST"])
                            for path in ("/predict", "/other")])
    app.add_middleware(PlainRefusals, wrappers={"/predict": "row"})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:
        refused = await client.post("/predict", json={})
        assert refused.status_code == 400
        assert refused.json() == plain_refusal(UNWRAPPED, "row")
        assert int(refused.headers["content-length"]) == len(refused.content)
        assert (await client.post("/predict?ok=1", json={})).json() == {"label": 1}
        wrong = await client.post("/predict?type=1", json={"row": {"visits": 50.0}})
        assert wrong.json()["error"] == ("1 problem(s) with the request: row.visits: Input "
                                         "should be a valid integer (sent 50.0)")
        assert (await client.post("/other", json={})).json() == UNWRAPPED
        empty = await client.post("/predict", content=b"",
                                  headers={"content-type": "application/json"})
        assert empty.json()["error"] == ('the request has no body: send {"row": {...}} as '
                                         "application/json")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
