"""POST /api/algos/<id>/suggest/ (spec §3.3, §4.5–§4.7; scenarios 5–9, raw)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from crucible.core.services import Services
from crucible.dialects.bender.models import BenderAlgo
from tests.dialects.bender.conftest import SIN_X, BenderUser

FORBIDDEN = {"detail": "You do not have permission to perform this action."}
REWARD = [{"metric_name": "score", "type": "reward"}]


def used(response: Any) -> str:
    assert response.status_code == 200, response.text
    return str(response.headers["X-Bender-Optimizer-Used"])


def suggest_x(user: BenderUser, algo_id: str, **body: Any) -> float:
    response = user.suggest(algo_id, **body)
    assert response.status_code == 200, response.text
    return float(response.json()["x"])


# --- request checks (scenario 5) ------------------------------------------------------------------------


def test_request_errors(alice: BenderUser) -> None:
    _experiment, algo = alice.setup(SIN_X)
    a = algo["id"]
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({}, {"metric": ["Missing metric argument"]}),
        ({"metric": ""}, {"metric": ["Missing metric argument"]}),
        ({"metric": None}, {"metric": ["Missing metric argument"]}),
        ({"metric": "accuracy"}, {"metric": ["Unknown metric asked"]}),
        (
            {"metric": "loss", "optimizer": "grid"},
            {"optimizer": ['"grid" is not a valid choice. Valid: ' + ", ".join(optimizers(alice))]},
        ),
        (
            {"metric": "loss", "minimum_observations": 0},
            {"minimum_observations": ["Ensure this value is greater than or equal to 1."]},
        ),
        (
            {"metric": "loss", "minimum_observations": 1001},
            {"minimum_observations": ["Ensure this value is less than or equal to 1000."]},
        ),
        (
            {"metric": "loss", "minimum_observations": "many"},
            {"minimum_observations": ["A valid integer is required."]},
        ),
        (
            {"metric": "loss", "minimum_observations": 2.5},
            {"minimum_observations": ["A valid integer is required."]},
        ),
        ({"metric": "loss", "seed": -1}, {"seed": ["Ensure this value is greater than or equal to 0."]}),
        ({"metric": "loss", "seed": "s"}, {"seed": ["A valid integer is required."]}),
    ]
    for body, expected in cases:
        response = alice.suggest(a, **body)
        assert (response.status_code, response.json()) == (400, expected), body
    # numeric strings are integers, as in DRF
    assert alice.suggest(a, metric="loss", minimum_observations="5", seed="3").status_code == 200


def optimizers(user: BenderUser) -> list[str]:
    return list(user.get("/api/optimizers/").json()["optimizers"])


def test_check_order(alice: BenderUser, bob: BenderUser) -> None:
    experiment = alice.experiment()
    undefined = alice.algo(experiment["id"], [{"name": "x", "category": None, "search_space": None}])
    # permission before anything else
    assert bob.suggest(undefined["id"], optimizer="grid").json() == FORBIDDEN
    # request fields and metric before the search space
    assert alice.suggest(undefined["id"], metric="loss", optimizer="grid").status_code == 400
    assert alice.suggest(undefined["id"], metric="nope").json() == {"metric": ["Unknown metric asked"]}
    response = alice.suggest(undefined["id"], metric="loss")
    assert response.status_code == 204
    assert response.content == b""


def test_answers_carry_only_optimised_parameters(alice: BenderUser) -> None:
    experiment = alice.experiment()
    empty = alice.algo(experiment["id"], [], name="empty")
    response = alice.suggest(empty["id"], metric="loss")
    assert (response.status_code, response.json()) == (200, {})
    only_descriptive = alice.algo(
        experiment["id"], [{"name": "run", "category": "descriptive", "search_space": None}], name="d"
    )
    assert alice.suggest(only_descriptive["id"], metric="loss").json() == {}


def test_default_optimizer_and_minimum_observations(
    alice: BenderUser, add_trials: Callable[..., None]
) -> None:
    _experiment, algo = alice.setup(SIN_X)
    add_trials(algo, alice, [({"x": i / 10}, {"loss": math.sin(i / 10)}, 1.0) for i in range(29)])
    assert used(alice.suggest(algo["id"], metric="loss")) == "random"  # default minimum is 30
    assert used(alice.suggest(algo["id"], metric="loss", minimum_observations=29)) == "parzen_estimator"
    add_trials(algo, alice, [({"x": 3.0}, {"loss": 0.1}, 1.0)])
    assert used(alice.suggest(algo["id"], metric="loss")) == "parzen_estimator"
    assert used(alice.suggest(algo["id"], metric="loss", optimizer="random")) == "random"
    assert used(alice.suggest(algo["id"], metric="loss", optimizer=None)) == "parzen_estimator"


def test_every_listed_optimizer_is_accepted(alice: BenderUser, add_trials: Callable[..., None]) -> None:
    _experiment, algo = alice.setup(SIN_X)
    add_trials(algo, alice, [({"x": i / 10}, {"loss": math.sin(i / 10)}, 1.0) for i in range(40)])
    names = optimizers(alice)
    assert {"random", "parzen_estimator"} <= set(names)
    for name in names:
        response = alice.suggest(algo["id"], metric="loss", optimizer=name, seed=1)
        assert used(response) == name
        assert 0 <= response.json()["x"] < 2 * math.pi


def test_same_seed_same_answer(alice: BenderUser, add_trials: Callable[..., None]) -> None:
    _experiment, algo = alice.setup(SIN_X)
    add_trials(algo, alice, [({"x": i / 10}, {"loss": math.sin(i / 10)}, 1.0) for i in range(40)])
    for optimizer in optimizers(alice):
        answers = {
            suggest_x(alice, algo["id"], metric="loss", optimizer=optimizer, seed=11) for _ in range(2)
        }
        assert len(answers) == 1, optimizer
    different = {suggest_x(alice, algo["id"], metric="loss", seed=seed) for seed in range(10)}
    assert len(different) > 1


def test_a_stored_space_that_no_longer_validates_gives_400(alice: BenderUser, services: Services) -> None:
    _experiment, algo = alice.setup(SIN_X)
    with services.db.write() as session:
        row = session.get(BenderAlgo, algo["id"])
        assert row is not None
        row.parameters = [{"name": "x", "category": "uniform", "search_space": {"low": 5, "high": 1}}]
    response = alice.suggest(algo["id"], metric="loss")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Search space of parameter 'x' is invalid: ")


def test_observations_follow_every_change(alice: BenderUser, add_trials: Callable[..., None]) -> None:
    """Whatever suggest keeps between calls, new trials, deleted trials and edited spaces count at once."""
    _experiment, algo = alice.setup(SIN_X)
    add_trials(algo, alice, [({"x": i / 10}, {"loss": math.sin(i / 10)}, 1.0) for i in range(29)])
    assert used(alice.suggest(algo["id"], metric="loss", minimum_observations=30)) == "random"
    trial = alice.trial(algo["id"], {"x": 3.0}, {"loss": 0.1}).json()
    assert used(alice.suggest(algo["id"], metric="loss", minimum_observations=30)) == "parzen_estimator"
    assert alice.delete(f"/api/trials/{trial['id']}/").status_code == 204
    assert used(alice.suggest(algo["id"], metric="loss", minimum_observations=30)) == "random"
    assert used(alice.suggest(algo["id"], metric="loss", minimum_observations=29)) == "parzen_estimator"
    # narrowing the space makes the trials above x = 1 unusable
    narrow = [{"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 1}}]
    assert alice.patch(f"/api/algos/{algo['id']}/", {"parameters": narrow}).status_code == 200
    assert used(alice.suggest(algo["id"], metric="loss", minimum_observations=11)) == "parzen_estimator"
    assert used(alice.suggest(algo["id"], metric="loss", minimum_observations=12)) == "random"
    # another metric of the same algo is counted on its own
    assert alice.suggest(algo["id"], metric="other").json() == {"metric": ["Unknown metric asked"]}


# --- never 500 (scenario 6) ----------------------------------------------------------------------------


def test_lognormal_without_low_under_parzen(alice: BenderUser, add_trials: Callable[..., None]) -> None:
    space = [{"name": "x", "category": "lognormal", "search_space": {"mu": 1e-3, "sigma": 10}}]
    _experiment, algo = alice.setup(space)
    add_trials(algo, alice, [({"x": 1e-3 * 1.3**i}, {"loss": abs(i - 10)}, 1.0) for i in range(35)])
    for seed in range(5):
        response = alice.suggest(algo["id"], metric="loss", minimum_observations=30, seed=seed)
        assert used(response) == "parzen_estimator"
        assert response.json()["x"] > 0


def test_parzen_with_very_few_observations(alice: BenderUser) -> None:
    _experiment, algo = alice.setup(SIN_X)
    for n in range(1, 7):
        assert alice.trial(algo["id"], {"x": n / 2}, {"loss": math.sin(n / 2)}).status_code == 201
        response = alice.suggest(
            algo["id"], metric="loss", optimizer="parzen_estimator", minimum_observations=1
        )
        assert used(response) == "parzen_estimator", n
        assert 0 <= response.json()["x"] < 2 * math.pi


def test_reward_metric_with_non_numeric_results(alice: BenderUser, add_trials: Callable[..., None]) -> None:
    _experiment, algo = alice.setup(SIN_X, REWARD)
    add_trials(algo, alice, [({"x": i / 5}, {"score": math.cos(i / 5)}, 1.0) for i in range(25)])
    add_trials(
        algo, alice, [({"x": 1.0}, {"score": text}, 1.0) for text in ["n/a", "", "NaN", "inf", "1e999"] * 2]
    )
    response = alice.suggest(algo["id"], metric="score", minimum_observations=20, seed=3)
    assert used(response) == "parzen_estimator"
    # the strings are not usable: 25 observations only
    response = alice.suggest(algo["id"], metric="score", minimum_observations=26)
    assert used(response) == "random"
    add_trials(algo, alice, [({"x": 1.0}, {"score": "0.5"}, 1.0)])  # a numeric string counts
    assert used(alice.suggest(algo["id"], metric="score", minimum_observations=26)) == "parzen_estimator"


def test_all_trials_out_of_bounds(alice: BenderUser, add_trials: Callable[..., None]) -> None:
    _experiment, algo = alice.setup(SIN_X)
    add_trials(algo, alice, [({"x": 10 + i}, {"loss": i}, 1.0) for i in range(40)])
    response = alice.suggest(algo["id"], metric="loss", minimum_observations=1)
    assert used(response) == "random"
    assert 0 <= response.json()["x"] < 2 * math.pi


def test_usable_observation_rules(alice: BenderUser, add_trials: Callable[..., None]) -> None:
    """§4.5 step 3: what counts towards minimum_observations."""
    space = [
        {"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 10, "step": 1}},
        {"name": "k", "category": "categorical", "search_space": {"values": [1, "a"]}},
        {"name": "run", "category": "descriptive", "search_space": None},
    ]
    _experiment, algo = alice.setup(space)
    usable = [
        {"x": 10, "k": 1},  # high itself is inside for learning
        {"x": 0.5, "k": 1.0},  # off-grid and 1.0 == 1
        {"x": 3, "k": "a", "run": "v1", "other": 1},
    ]
    unusable = [
        {"x": 10.5, "k": 1},
        {"x": -1, "k": 1},
        {"x": "3", "k": 1},
        {"x": True, "k": 1},
        {"x": 3, "k": "1"},
        {"x": 3, "k": True},
        {"k": 1},
    ]
    add_trials(algo, alice, [(p, {"loss": 1}, 1.0) for p in usable + unusable])
    add_trials(algo, alice, [({"x": 3, "k": 1}, {"loss": 1}, 0.0)])  # weight 0
    add_trials(algo, alice, [({"x": 3, "k": 1}, {"loss": True}, 1.0)])  # a boolean is not a number
    assert used(alice.suggest(algo["id"], metric="loss", minimum_observations=3)) == "parzen_estimator"
    assert used(alice.suggest(algo["id"], metric="loss", minimum_observations=4)) == "random"


# --- value exactness (scenario 7) --------------------------------------------------------------------------

EXACT_SPACE = [
    {"name": "a", "category": "uniform", "search_space": {"low": 0, "high": 10, "step": 0.5}},
    {"name": "b", "category": "uniform", "search_space": {"low": 1, "high": 100, "step": 1}},
    {"name": "c", "category": "loguniform", "search_space": {"low": 1e-5, "high": 1e-1}},
    {"name": "d", "category": "loguniform", "search_space": {"low": 1, "high": 1024, "base": 2}},
    {
        "name": "e",
        "category": "normal",
        "search_space": {"mu": 0, "sigma": 1, "low": -2, "high": 2, "step": 0.1},
    },
    {"name": "f", "category": "lognormal", "search_space": {"mu": 1, "sigma": 10, "high": 1000}},
    {"name": "g", "category": "categorical", "search_space": {"values": [3, 5, 7]}},
    {"name": "h", "category": "categorical", "search_space": {"values": [True, False]}},
    {"name": "i", "category": "categorical", "search_space": {"values": [1, "1", 2.5, True, [64, 64]]}},
]
I_VALUES: list[Any] = [1, "1", 2.5, True, [64, 64]]


def same_json(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def check_exact(values: dict[str, Any]) -> None:
    assert set(values) == set("abcdefghi")
    a, b, c, d, e, f, g, h, i = (values[name] for name in "abcdefghi")
    assert a in [k / 2 for k in range(20)], a
    assert not isinstance(a, bool) and isinstance(a, int | float)
    assert type(b) is int and 1 <= b <= 99, b
    assert type(c) is float and 1e-5 <= c < 1e-1, c
    assert isinstance(d, int | float) and not isinstance(d, bool) and 1 <= d < 1024, d
    assert isinstance(e, int | float) and not isinstance(e, bool) and -2 <= e <= 2, e
    assert -Decimal(repr(e)).as_tuple().exponent <= 1, e  # at most one decimal
    assert isinstance(f, int | float) and not isinstance(f, bool) and 0 < f <= 1000, f
    assert type(g) is int and g in (3, 5, 7), g
    assert type(h) is bool, h
    assert any(same_json(i, value) for value in I_VALUES), i


def test_search_space_exactness(alice: BenderUser) -> None:
    """Seeded, so reproducible; the full 100 + 100 of scenario 7 runs through the real client (tests/compat)."""
    _experiment, algo = alice.setup(EXACT_SPACE)
    for step in range(120):
        optimizer = "random" if step < 60 else "parzen_estimator"
        response = alice.suggest(
            algo["id"], metric="loss", optimizer=optimizer, minimum_observations=60, seed=step
        )
        assert used(response) == optimizer
        values = response.json()
        check_exact(values)
        loss = values["a"] + values["b"] / 10 + math.log10(values["c"]) + values["e"] ** 2
        created = alice.trial(algo["id"], values, {"loss": loss})
        assert created.status_code == 201, created.text
    # every one of the 120 trials is a usable observation
    assert used(alice.suggest(algo["id"], metric="loss", minimum_observations=120)) == "parzen_estimator"
    assert used(alice.suggest(algo["id"], metric="loss", minimum_observations=121)) == "random"


def test_decimal_and_integer_grids(alice: BenderUser) -> None:
    space = [
        {"name": "p", "category": "uniform", "search_space": {"low": 0.1, "high": 0.9, "step": 0.1}},
        {"name": "n", "category": "normal", "search_space": {"mu": 50, "sigma": 20, "step": 5}},
        {"name": "q", "category": "lognormal", "search_space": {"mu": 10, "sigma": 3, "step": 2}},
        {"name": "r", "category": "loguniform", "search_space": {"low": 2, "high": 2000, "step": 2}},
    ]
    _experiment, algo = alice.setup(space)
    for seed in range(60):
        values = alice.suggest(algo["id"], metric="loss", optimizer="random", seed=seed).json()
        assert values["p"] in {round(0.1 * k, 1) for k in range(1, 9)}, values["p"]
        assert type(values["n"]) is int and values["n"] % 5 == 0, values["n"]
        assert type(values["q"]) is int and values["q"] >= 2 and values["q"] % 2 == 0, values["q"]
        assert type(values["r"]) is int and 2 <= values["r"] < 2000 and values["r"] % 2 == 0, values["r"]


# --- learning: descriptive parameters and weights (scenarios 8 and 9) --------------------------------------


def test_descriptive_parameters_do_not_stop_learning(alice: BenderUser) -> None:
    space = [*SIN_X, {"name": "run", "category": "descriptive", "search_space": None}]
    _experiment, algo = alice.setup(space, [{"metric_name": "sinus_value", "type": "loss"}])
    losses = []
    for step in range(50):
        response = alice.suggest(
            algo["id"], metric="sinus_value", optimizer="parzen_estimator", minimum_observations=20, seed=step
        )
        suggestion = response.json()
        assert set(suggestion) == {"x"}
        assert 0 <= suggestion["x"] < 2 * math.pi
        assert used(response) == ("parzen_estimator" if step >= 20 else "random")
        loss = math.sin(suggestion["x"])
        parameters = suggestion if step % 2 else {**suggestion, "run": "v2"}
        assert alice.trial(algo["id"], parameters, {"sinus_value": loss}).status_code == 201
        losses.append(loss)
    early, late = statistics.mean(losses[:20]), statistics.mean(losses[30:])
    assert late <= -0.4, (early, late)
    assert late <= early - 0.3, (early, late)
    assert min(losses) < -0.95


@pytest.fixture
def weighted(alice: BenderUser, add_trials: Callable[..., None]) -> Callable[[bool], str]:
    def make(swapped: bool) -> str:
        space = [{"name": "x", "category": "uniform", "search_space": {"low": 0, "high": 10}}]
        _experiment, algo = alice.setup(space, name=f"weights-{swapped}")
        near_1 = [({"x": 0.8 + i / 75}, {"loss": 0}, 0.0 if swapped else 1.0) for i in range(30)]
        near_9 = [({"x": 8.8 + i / 75}, {"loss": 0}, 1.0 if swapped else 0.0) for i in range(30)]
        spread = [({"x": i / 4}, {"loss": 1}, 1.0) for i in range(40)]
        add_trials(algo, alice, near_1 + near_9 + spread)
        return str(algo["id"])

    return make


def test_weights_steer_the_parzen_estimator(alice: BenderUser, weighted: Callable[[bool], str]) -> None:
    for swapped in (False, True):
        algo_id = weighted(swapped)
        xs = [
            suggest_x(alice, algo_id, metric="loss", optimizer="parzen_estimator", seed=s) for s in range(20)
        ]
        median = statistics.median(xs)
        assert (median > 5) if swapped else (median < 5), (swapped, xs)


def test_a_space_without_probability_mass_is_reported_not_crashed(alice: BenderUser) -> None:
    """normal(0, 1) truncated to (−∞, −1e308]: valid by §4.3's rules, but no float can be drawn there."""
    experiment = alice.experiment()
    parameters = [{"name": "p", "category": "normal", "search_space": {"mu": 0, "sigma": 1, "high": -1e308}}]
    created = alice.post(
        "/api/algos/", {"name": "a", "experiment": experiment["id"], "parameters": parameters}
    )
    if created.status_code == 400:  # refusing it up front is fine too
        return
    assert created.status_code == 201, created.text
    response = alice.suggest(created.json()["id"], metric="loss")
    if response.status_code == 200:
        value = response.json()["p"]
        assert math.isfinite(value) and value <= -1e308, value
    else:
        assert response.status_code == 400, response.text
        assert response.json()["detail"].startswith("Search space of parameter 'p' is invalid: ")
