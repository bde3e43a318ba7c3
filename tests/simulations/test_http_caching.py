"""The propagation answers' HTTP caching: the GET form's strong ETag, Cache-Control and 304
(answers are rendered on every request: bench/notes.md, sixth round)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from service import create_app
from service.config import Settings
from service.simulations import services
from service.simulations.routes import PROPAGATION_CACHE_CONTROL
from service.simulations.services import SimulationLimits

LESSON = "/v1/simulations/propagation"
LIMITS = SimulationLimits(max_memory=2**29, max_work=2e10, max_analytic_depth=100_000)


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


def test_values_that_render_differently_give_different_answers() -> None:
    plus = services.propagate(request(depth=2, width=3, weight_variance=0.0), LIMITS)
    minus = services.propagate(request(depth=2, width=3, weight_variance=-0.0), LIMITS)
    assert b'"weight_variance":0.0,' in plus.body
    assert b'"weight_variance":-0.0,' in minus.body
    assert plus.etag != minus.etag
    integer = services.propagate(request(depth=2, width=3, weight_variance=1), LIMITS)
    real = services.propagate(request(depth=2, width=3, weight_variance=1.0), LIMITS)
    assert integer.body == real.body
    assert integer.etag == real.etag


def test_the_depth_limit_is_the_app_s_own(settings: Settings) -> None:
    body = {"depth": 51, "width": 10, "weight_variance": 0.1}
    generous = create_app(settings).test_client()
    assert generous.post(LESSON, json=body).status_code == 200
    strict = create_app(settings.with_overrides(max_analytic_depth=50)).test_client()
    response = strict.post(LESSON, json=body)
    assert response.status_code == 422
    assert response.json["limit"]["name"] == "MAX_ANALYTIC_DEPTH"


def test_huge_integers_are_refused(client: FlaskClient) -> None:
    # JSON bodies cannot carry them (orjson refuses them as malformed); a query string can.
    response = client.get(f"{LESSON}?depth=3&width={10**30}&weight_variance=1.0")
    assert response.status_code == 422
    assert "width" in response.json["errors"]


QUERY = "depth=12&width=64&init=he_normal&activation=relu&backward=true"


def test_get_carries_a_strong_etag_and_cache_control(client: FlaskClient) -> None:
    response = client.get(f"{LESSON}?{QUERY}")
    assert response.status_code == 200
    etag, weak = response.get_etag()
    assert etag
    assert not weak
    assert response.headers["Cache-Control"] == PROPAGATION_CACHE_CONTROL
    posted = {"depth": 12, "width": 64, "init": "he_normal", "activation": "relu"}
    assert response.json == client.post(LESSON, json={**posted, "backward": True}).json
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
