"""Compatibility fixture (spec §6, §7 scenario 15): experiment code written for this project in the style
of the original service's users — one experiment per original default policy plus one for the remaining
`base` estimators — so tests show such code runs unmodified.

The style: module-level scripts, `import numpy as np` although `np` is injected, NumPy 1.x names
(`np.asscalar`, `np.float`, `np.NaN`, ...), `self.action = {...}` rebinding, bare `_theta` hashes,
`thmp`/`sp` aliases, nested `Experiment(id, key="notUsedForLoopBack")`, helper functions that use injected
names. Nested and parallel experiments hold `FIRST_ID`/`SECOND_ID`, replaced by ids of the `e_first` and
`e_greedy` fixtures.
"""

from __future__ import annotations

EMPTY = "# EMPTY\n"

NORMAL_4_6 = """\
import numpy as np
if self.action["treatment"] == "control":
    self.reward["value"] = np.random.normal(4, 1)
else:
    self.reward["value"] = np.random.normal(6, 2)
"""

EXPERIMENTS: dict[str, dict[str, str]] = {
    "ab_test": {
        "get_context": EMPTY,
        "get_action": """\
import numpy as np
mean_list = base.List(self.get_theta(key="treatment"), base.Proportion, ["1", "2"])
if mean_list.count() > 100:
    prop = 1
    treatment = mean_list.max()
else:
    prop = .5
    treatment = mean_list.random()
self.action["treatment"] = treatment
self.action["propensity"] = prop
""",
        "get_reward": """\
if self.action["treatment"] == "1":
    self.reward = {"value": np.random.binomial(1, .5)}
else:
    self.reward = {"value": np.random.binomial(1, .3)}
""",
        "set_reward": """\
prop = base.Proportion(self.get_theta(key="treatment", value=self.action["treatment"]))
prop.update(self.reward["value"])
self.set_theta(prop, key="treatment", value=self.action["treatment"])
""",
    },
    "bootstrapped_thompson_sampling": {
        "get_context": """\
self.context = {"customer": random.choice(["new", "returning"])}
""",
        "get_action": """\
import numpy as np
def default_params():
    return {"b": np.zeros((1, 6)), "A": np.identity(6), "n": 0}
BTS = bts.BTS(self.get_theta(), lm.LM, m=100, default_params=default_params())
coefs = lm.LM(BTS.sample()).get_coefs()
c = np.float(self.context["customer"] == "returning")
try:
    price = np.asscalar(-(coefs[1] + coefs[4] * c) / (2 * (coefs[2] + coefs[5] * c)))
except ZeroDivisionError:
    price = np.NaN
if np.isnan(price) or price < 5 or price > 20:
    price = np.asscalar(np.random.uniform(5, 20))
self.action = {"price": price}
""",
        "get_reward": """\
import numpy as np
c = 1 if self.context["customer"] == "returning" else 0
p = self.action["price"]
prob = 1 / (1 + np.exp(.1 * (p - (10 + 4 * c)) ** 2))
self.reward = {"revenue": p * np.random.binomial(1, prob)}
""",
        "set_reward": """\
import numpy as np
BTS = bts.BTS(self.get_theta(), lm.LM, m=100,
              default_params={"b": np.zeros((1, 6)), "A": np.identity(6), "n": 0})
c = np.float(self.context["customer"] == "returning")
p = self.action["price"]
BTS.update(self.reward["revenue"], [1, p, p ** 2, c, c * p, c * p ** 2])
self.set_theta(BTS)
""",
    },
    "e_first": {
        "get_context": EMPTY,
        "get_action": """\
mean_list = base.List(self.get_theta(key="treatment"), base.Mean, ["control", "treatment"])
if mean_list.count() >= 100:
    self.action = {"treatment": mean_list.max(), "propensity": 1}
else:
    self.action = {"treatment": mean_list.random(), "propensity": .5}
""",
        "get_reward": NORMAL_4_6,
        "set_reward": """\
mean_list = base.List(self.get_theta(key="treatment"), base.Mean, ["control", "treatment"])
if mean_list.count() < 100:
    mean = base.Mean(self.get_theta(key="treatment", value=self.action["treatment"], all_float=True))
    mean.update(self.reward["value"])
    self.set_theta(mean, key="treatment", value=self.action["treatment"])
""",
    },
    "e_greedy": {
        "get_context": EMPTY,
        "get_action": """\
e = .1
mean_list = base.List(self.get_theta(key="treatment"), base.Mean, ["control", "treatment"])
if np.random.uniform() > e:
    self.action["treatment"] = mean_list.max()
    self.action["propensity"] = (1 - e)
else:
    self.action["treatment"] = mean_list.random()
    self.action["propensity"] = e * .5
""",
        "get_reward": NORMAL_4_6,
        "set_reward": """\
mean = base.Mean(self.get_theta(key="treatment", value=self.action["treatment"]))
mean.update(self.reward["value"])
self.set_theta(mean, key="treatment", value=self.action["treatment"])
""",
    },
    "lock_in_feedback": {
        "get_context": EMPTY,
        "get_action": """\
Lif = lif.LiF(self.get_theta(), x0=3.0, a=.5, t=20, gamma=.02, omega=1.0, lifversion=1)
suggestion = Lif.suggest()
self.action["x"] = suggestion["x"]
self.action["t"] = suggestion["t"]
self.action["x0"] = suggestion["x0"]
""",
        "get_reward": """\
self.reward["y"] = -(self.action["x"] - 5) ** 2
""",
        "set_reward": """\
Lif = lif.LiF(self.get_theta(), x0=3.0, a=.5, t=20, gamma=.02, omega=1.0, lifversion=1)
Lif.update(self.action["t"], self.action["x"], self.reward["y"], self.action["x0"])
self.set_theta(Lif)
""",
    },
    "lock_in_feedback_v2": {
        "get_context": EMPTY,
        "get_action": """\
self.action = lif.LiF(self.get_theta(name="lif"), t=10).suggest()
""",
        "get_reward": """\
self.reward["y"] = -(self.action["x"] - 2) ** 2 + np.random.normal(0, .1)
""",
        "set_reward": """\
Lif = lif.LiF(self.get_theta(name="lif"), t=10)
Lif.update(self.action["t"], self.action["x"], self.reward["y"], self.action["x0"])
self.set_theta(Lif, name="lif")
""",
    },
    "nested_policies": {
        "get_context": EMPTY,
        "get_action": """\
exp_ids = ["FIRST_ID", "SECOND_ID"]
if np.random.binomial(1, .5) == 1:
    exp_id = exp_ids[0]
else:
    exp_id = exp_ids[1]
exp = Experiment(exp_id, key="notUsedForLoopBack")
self.action = exp.run_action_code(self.context, {})
self.action["experiment"] = exp_id
self.action["propensity"] = self.action["propensity"] * .5
""",
        "get_reward": NORMAL_4_6,
        "set_reward": """\
exp = Experiment(self.action["experiment"], key="notUsedForLoopBack")
exp.run_reward_code(self.context, self.action, self.reward)
""",
    },
    "online_marketing_experiment": {
        "get_context": """\
from scipy import stats
self.context["maxpercentage"] = np.asscalar(stats.uniform.rvs(loc=1, scale=9))
""",
        "get_action": """\
split = np.random.uniform(0, 1)
self.action = {"split": split, "discount": split * self.context["maxpercentage"]}
""",
        "get_reward": """\
self.reward["revenue"] = sp.stats.uniform.rvs(0, 100)
""",
        "set_reward": """\
self.log_data({"context": self.context, "action": self.action, "reward": self.reward})
""",
    },
    "parallel_evaluation": {
        "get_context": EMPTY,
        "get_action": """\
self.action["treatment"] = random.choice(["control", "treatment"])
self.action["propensity"] = .5
""",
        "get_reward": NORMAL_4_6,
        "set_reward": """\
policies = ["FIRST_ID", "SECOND_ID"]
for policy in policies:
    exp = Experiment(policy, key="notUsedForLoopBack")
    suggested = exp.run_action_code(self.context)
    if suggested["treatment"] == self.action["treatment"]:
        mean = base.Mean(self.get_theta(key="policy_means", value=policy))
        mean.update(self.reward["value"])
        self.set_theta(mean, key="policy_means", value=policy)
        exp.run_reward_code(self.context, suggested, self.reward)
""",
    },
    "social_science_experiment": {
        "get_context": """\
self.context = {"userid": "21234", "scenario": 1}
""",
        "get_action": """\
theta = self.get_theta(key="userid", value=self.context["userid"])
if theta == {}:
    condition = np.random.choice(["baseline", "random", "lockin"])
    self.set_theta({"condition": condition}, key="userid", value=self.context["userid"])
    self.action["note"] = "First allocation"
    theta = self.get_theta(key="userid", value=self.context["userid"])
self.action["condition"] = theta["condition"]
""",
        "get_reward": """\
self.reward["value"] = np.random.binomial(1, .5)
""",
        "set_reward": EMPTY,
    },
    "thompson_bayesian_linear_regression": {
        "get_context": EMPTY,
        "get_action": """\
import numpy as np
theta = self.get_theta(key="simulation", value="simulation")
if theta == {}:
    theta = {"J": np.matrix([1, 1, 1]), "P": np.identity(3), "err": 1}
model = tbl.ThompsonBayesianLinear(theta)
betas = model.sample()
self.action["x"] = np.asscalar(-betas[1] / (2 * betas[2]))
""",
        "get_reward": """\
x = self.action["x"]
self.reward["y"] = -(x - 5) ** 2 + 10 + np.random.normal(0, .1)
""",
        "set_reward": """\
theta = self.get_theta(key="simulation", value="simulation")
if theta == {}:
    theta = {"J": np.matrix([1, 1, 1]), "P": np.identity(3), "err": 1}
model = tbl.ThompsonBayesianLinear(theta)
x = self.action["x"]
model.update(self.reward["y"], np.matrix([1, x, x ** 2]))
self.set_theta(model, key="simulation", value="simulation")
""",
    },
    "thompson_optimal_sampling": {
        "get_context": EMPTY,
        "get_action": """\
var_list = thmp.ThompsonVarList(self.get_theta(key="treatment"), ["control", "treatment"])
self.action["treatment"] = var_list.experimentThompson()
""",
        "get_reward": """\
if self.action["treatment"] == "control":
    self.reward["value"] = np.random.normal(0, 1)
else:
    self.reward["value"] = np.random.normal(1, 5)
""",
        "set_reward": """\
variance = base.Variance(self.get_theta(key="treatment", value=self.action["treatment"]))
variance.update(self.reward["value"])
self.set_theta(variance, key="treatment", value=self.action["treatment"])
""",
    },
    "thompson_sampling_k_armed_bernoulli": {
        "get_context": EMPTY,
        "get_action": """\
arms = ["1", "2", "3", "4"]
BB = thmp.BBThompsonList(self.get_theta(key="treatment"), arms)
self.action["treatment"] = BB.thompson()
self.action["propensity"] = np.float(BB.propensity(self.action["treatment"]))
""",
        "get_reward": """\
self.reward["value"] = np.random.binomial(1, .2 * np.int(self.action["treatment"]))
""",
        "set_reward": """\
prop = base.Proportion(self.get_theta(key="treatment", value=self.action["treatment"]))
prop.update(self.reward["value"])
self.set_theta(prop, key="treatment", value=self.action["treatment"])
""",
    },
    "estimators": {
        "get_context": """\
x = np.random.normal(0, 1)
self.context = {"x": x, "user": np.random.randint(1, 4)}
""",
        "get_action": """\
def predict(x):
    model = lm.LM(self.get_theta(key="model"), add_intercept=True)
    return np.trace(model.predict([x]))
count = base.Count(self.get_theta(key="calls"))
count + 1
self.set_theta(count, key="calls")
self.action = {"prediction": predict(self.context["x"]), "calls": np.int(count.get_value())}
""",
        "get_reward": """\
self.reward = {"y": 2 * self.context["x"] + 1 + np.random.normal(0, .5)}
""",
        "set_reward": """\
pair = {"x": self.context["x"], "y": self.reward["y"]}
covariance = base.Covariance(self.get_theta(key="pair", value="cov", name="stats"))
covariance.update(pair)
correlation = base.Correlation(self.get_theta(key="pair", value="cor", name="stats"))
correlation.update(pair)
self.set_theta(covariance, key="pair", value="cov", name="stats")
self.set_theta(correlation, key="pair", value="cor", name="stats")
model = lm.LM(self.get_theta(key="model"), add_intercept=True)
model.update(self.reward["y"], [self.context["x"]])
self.set_theta(model, key="model")
users = base.List(self.get_theta(key="user"), base.Count, [1, 2, 3])
users.base_list[self.context["user"]].increment()
self.set_theta(users.base_list[self.context["user"]], key="user", value=self.context["user"])
if not np.alltrue(np.isfinite([covariance.get_value(), np.float_(model.n)])):
    self.delete_theta(key="model")
""",
    },
}
"""Name → the four hooks of each fixture experiment."""
