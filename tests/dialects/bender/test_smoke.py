import math

from tests.dialects.bender.conftest import SIN_X, BenderUser


def test_minimal_flow(alice: BenderUser) -> None:
    experiment = alice.experiment("sinus", [{"metric_name": "sinus_value", "type": "loss"}])
    algo = alice.algo(experiment["id"], SIN_X)
    assert algo["is_search_space_defined"] is True
    for _ in range(40):
        response = alice.suggest(algo["id"], metric="sinus_value", minimum_observations=20)
        assert response.status_code == 200, response.text
        x = response.json()["x"]
        assert 0 <= x < 2 * math.pi
        created = alice.trial(algo["id"], {"x": x}, {"sinus_value": math.sin(x)})
        assert created.status_code == 201, created.text
    listed = alice.get(f"/api/trials/?algo={algo['id']}")
    assert listed.json()["count"] == 40
    assert response.headers["X-Bender-Optimizer-Used"] == "parzen_estimator"
