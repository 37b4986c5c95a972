"""NumPy forward passes for small MLP policies, used to act between updates.

A simulator step needs one forward pass on one observation. Through PyTorch (and SB3's distribution
objects) that costs several hundred microseconds, mostly per-operation overhead; the same arithmetic
in NumPy on a [64, 64] network takes a few. The weights are copied from the torch policy after every
update (`refresh`). Policies that are not plain MLPs on a flat observation (images, dict observations)
return None from `mirror`, and the learners keep using torch for them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.dqn.policies import DQNPolicy

Layer = tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]

ACTIVATIONS: dict[type[th.nn.Module], Callable[[np.ndarray], np.ndarray]] = {
    th.nn.Tanh: np.tanh,
    th.nn.ReLU: lambda x: np.maximum(x, 0.0),
    th.nn.ELU: lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    th.nn.Identity: lambda x: x,
    th.nn.Sigmoid: lambda x: 1.0 / (1.0 + np.exp(-x)),
}
HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _layers(module: th.nn.Module) -> list[Layer] | None:
    """A Sequential of Linear layers and known activations as (weight, bias, activation) triples."""
    modules = list(module) if isinstance(module, th.nn.Sequential) else [module]
    layers: list[Layer] = []
    for item in modules:
        if isinstance(item, th.nn.Linear):
            weight = item.weight.detach().cpu().numpy().astype(np.float64).T.copy()
            bias = item.bias.detach().cpu().numpy().astype(np.float64).copy()
            layers.append((weight, bias, _identity))
        elif type(item) in ACTIVATIONS and layers:
            weight, bias, _ = layers[-1]
            layers[-1] = (weight, bias, ACTIVATIONS[type(item)])
        elif type(item) in ACTIVATIONS:
            return None  # an activation before any layer: not a shape we mirror
        else:
            return None
    return layers


def _forward(layers: list[Layer], x: np.ndarray) -> np.ndarray:
    for weight, bias, activation in layers:
        x = activation(x @ weight + bias)
    return x


class MirroredActorCritic:
    """PPO's MlpPolicy: latent nets, action and value heads; Discrete or Box actions."""

    def __init__(
        self,
        policy: ActorCriticPolicy,
        pi: list[Layer],
        vf: list[Layer],
        action: list[Layer],
        value: list[Layer],
    ) -> None:
        self.policy = policy
        self.pi, self.vf, self.action, self.value = pi, vf, action, value
        self.discrete = isinstance(policy.action_space, spaces.Discrete)
        self.log_std = None if self.discrete else policy.log_std.detach().cpu().numpy().astype(np.float64)

    def act(self, observation: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float, float]:
        """(action, value, log probability) for one observation, sampling the policy."""
        x = np.asarray(observation, dtype=np.float64).reshape(-1)
        head = _forward(self.action, _forward(self.pi, x))
        value = float(_forward(self.value, _forward(self.vf, x))[0])
        if self.discrete:
            logits = head - head.max()
            probabilities = np.exp(logits)
            probabilities /= probabilities.sum()
            index = int(
                min(
                    np.searchsorted(np.cumsum(probabilities), rng.random(), side="right"),
                    len(probabilities) - 1,
                )
            )
            return np.array(index), value, float(np.log(max(probabilities[index], 1e-30)))
        assert self.log_std is not None
        std = np.exp(self.log_std)
        sample = head + std * rng.standard_normal(head.shape)
        log_prob = float(np.sum(-0.5 * ((sample - head) / std) ** 2 - self.log_std - HALF_LOG_TWO_PI))
        return sample.astype(np.float32), value, log_prob

    def value_of(self, observation: np.ndarray) -> float:
        x = np.asarray(observation, dtype=np.float64).reshape(-1)
        return float(_forward(self.value, _forward(self.vf, x))[0])

    def greedy(self, observation: np.ndarray) -> np.ndarray:
        x = np.asarray(observation, dtype=np.float64).reshape(-1)
        head = _forward(self.action, _forward(self.pi, x))
        if self.discrete:
            return np.array(int(np.argmax(head)))
        return head.astype(np.float32)


class MirroredQNetwork:
    """DQN's MlpPolicy: argmax of the Q network."""

    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers

    def greedy(self, observation: np.ndarray) -> np.ndarray:
        q_values = _forward(self.layers, np.asarray(observation, dtype=np.float64).reshape(-1))
        return np.array(int(np.argmax(q_values)))


def mirror(policy: BasePolicy) -> MirroredActorCritic | MirroredQNetwork | None:
    """A NumPy copy of `policy`, or None when it is not a plain MLP on a flat Box observation."""
    if not isinstance(policy.observation_space, spaces.Box) or len(policy.observation_space.shape) != 1:
        return None
    if isinstance(policy, DQNPolicy):
        q_net = policy.q_net
        if not isinstance(q_net.features_extractor, FlattenExtractor):
            return None
        layers = _layers(q_net.q_net)
        return MirroredQNetwork(layers) if layers else None
    if isinstance(policy, ActorCriticPolicy):
        if not isinstance(policy.features_extractor, FlattenExtractor) or policy.squash_output:
            return None
        if not isinstance(policy.action_space, spaces.Discrete | spaces.Box) or getattr(
            policy, "use_sde", False
        ):
            return None
        extractor = policy.mlp_extractor
        parts = [
            _layers(extractor.policy_net),
            _layers(extractor.value_net),
            _layers(policy.action_net),
            _layers(policy.value_net),
        ]
        if any(part is None for part in parts):
            return None
        pi, vf, action, value = parts
        return MirroredActorCritic(policy, pi or [], vf or [], action or [], value or [])  # type: ignore[arg-type]
    return None


def check(mirrored: Any, policy: BasePolicy, observation: np.ndarray) -> bool:
    """Whether the mirror's greedy action equals the torch policy's (used by the tests)."""
    with th.no_grad():
        expected = (
            policy._predict(th.as_tensor(observation).unsqueeze(0), deterministic=True).cpu().numpy()[0]
        )
    return bool(np.allclose(mirrored.greedy(observation), expected, atol=1e-4))
