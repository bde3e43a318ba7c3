"""Rendered analytic answers: the app's cache (bounded by bytes), its key, and the GET form's
ETag / Cache-Control / 304."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.config import Settings
from service.simulations import services
from service.simulations.routes import PROPAGATION_CACHE_CONTROL
from service.simulations.services import AnswerCache, SimulationLimits

LESSON = "/v1/simulations/propagation"
LIMITS = SimulationLimits(max_cost=2e10, max_analytic_depth=100_000)


@pytest.fixture
def answers() -> AnswerCache:
    return services.answer_cache()


def request(**fields: Any) -> dict[str, Any]:
    """A request as the body schema loads it (defaults filled in)."""
    return {
        "mode": "analytic",
        "input_variance": 1.0,
        "bias_variance": 0.0,
        "activation": "linear",
        "negative_slope": 0.01,
        "normalization": None,
        "backward": False,
        **fields,
    }


def test_the_cache_is_bounded_by_bytes() -> None:
    answers = services.answer_cache()
    for n in range(20):
        body = str(n).encode() * (3 << 20)  # 3-6 MiB each
        answers.put(bytes([n]), services.Answer(body))
    assert answers.size <= 32 << 20
    assert 5 <= len(answers) < 20
    answers.put(b"huge", services.Answer(b"x" * ((8 << 20) + 1)))  # above 8 MiB: not kept
    assert answers.get(b"huge") is None


def test_a_repeated_request_is_served_from_the_cache(answers: AnswerCache) -> None:
    first = services.propagate(request(depth=50, width=10, weight_variance=0.3), LIMITS, answers)
    again = services.propagate(request(depth=50, width=10, weight_variance=0.3), LIMITS, answers)
    assert again is first
    assert len(answers) == 1
    other = services.propagate(
        request(depth=50, width=10, weight_variance=0.30000001), LIMITS, answers
    )
    assert other is not first
    assert other.body != first.body


def test_values_that_render_differently_have_different_keys(answers: AnswerCache) -> None:
    plus = services.propagate(request(depth=2, width=3, weight_variance=0.0), LIMITS, answers)
    minus = services.propagate(request(depth=2, width=3, weight_variance=-0.0), LIMITS, answers)
    assert b'"weight_variance":0.0,' in plus.body
    assert b'"weight_variance":-0.0,' in minus.body
    integer = services.propagate(request(depth=2, width=3, weight_variance=1), LIMITS, answers)
    real = services.propagate(request(depth=2, width=3, weight_variance=1.0), LIMITS, answers)
    assert integer.body == real.body  # distinct keys, equal answers


def test_the_depth_limit_applies_to_cached_answers(settings: Settings) -> None:
    body = {"depth": 51, "width": 10, "weight_variance": 0.1}
    generous = create_app(settings).test_client()
    assert generous.post(LESSON, json=body).status_code == 200
    strict = create_app(settings.with_overrides(max_analytic_depth=50)).test_client()
    response = strict.post(LESSON, json=body)
    assert response.status_code == 422
    assert response.json["limit"]["name"] == "MAX_ANALYTIC_DEPTH"


def test_huge_integers_are_refused_not_cached(client: FlaskClient) -> None:
    # JSON bodies cannot carry them (orjson refuses them as malformed); a query string can.
    response = client.get(f"{LESSON}?depth=3&width={10**30}&weight_variance=1.0")
    assert response.status_code == 422
    assert "width" in response.json["errors"]


def test_monte_carlo_answers_are_not_cached(answers: AnswerCache) -> None:
    body = request(mode="monte_carlo", depth=2, width=4, weight_variance=0.25, batch_size=4, seed=3)
    body.update(histogram_bins=5)
    first = services.propagate(body, LIMITS, answers)
    assert services.propagate(body, LIMITS, answers) is not first
    assert len(answers) == 0


QUERY = "depth=12&width=64&init=he_normal&activation=relu&backward=true"


def test_get_carries_a_strong_etag_and_cache_control(app: Flask, client: FlaskClient) -> None:
    response = client.get(f"{LESSON}?{QUERY}")
    assert response.status_code == 200
    etag, weak = response.get_etag()
    assert etag
    assert not weak
    assert response.headers["Cache-Control"] == PROPAGATION_CACHE_CONTROL
    posted = {"depth": 12, "width": 64, "init": "he_normal", "activation": "relu"}
    assert response.json == client.post(LESSON, json={**posted, "backward": True}).json
    app.extensions["simulation_answers"].clear()  # rendered anew: the same bytes, same ETag
    assert client.get(f"{LESSON}?{QUERY}").get_etag() == (etag, False)
    assert client.get(f"{LESSON}?{QUERY.replace('depth=12', 'depth=13')}").get_etag()[0] != etag


@pytest.mark.parametrize("form", ['"{}"', 'W/"{}"', '"other", "{}"', "*"])
def test_if_none_match_gives_304(client: FlaskClient, form: str) -> None:
    etag = client.get(f"{LESSON}?{QUERY}").get_etag()[0]
    response = client.get(f"{LESSON}?{QUERY}", headers={"If-None-Match": form.replace("{}", etag)})
    assert response.status_code == 304
    assert response.data == b""
    assert response.get_etag() == (etag, False)
    assert response.headers["Cache-Control"] == PROPAGATION_CACHE_CONTROL


def test_a_stale_etag_gets_the_answer(client: FlaskClient) -> None:
    response = client.get(f"{LESSON}?{QUERY}", headers={"If-None-Match": '"stale"'})
    assert response.status_code == 200
    assert len(response.json["layers"]) == 12


def test_monte_carlo_get_has_an_etag_too(client: FlaskClient) -> None:
    query = "mode=monte_carlo&depth=2&width=8&weight_variance=0.125&batch_size=4&seed=5"
    first = client.get(f"{LESSON}?{query}")
    etag = first.get_etag()[0]
    assert client.get(f"{LESSON}?{query}").get_etag()[0] == etag  # seeded: same bytes
    again = client.get(f"{LESSON}?{query}", headers={"If-None-Match": f'"{etag}"'})
    assert again.status_code == 304


def test_post_has_no_etag(client: FlaskClient) -> None:
    response = client.post(LESSON, json={"depth": 3, "width": 10, "weight_variance": 1.0})
    assert response.status_code == 200
    assert "ETag" not in response.headers
