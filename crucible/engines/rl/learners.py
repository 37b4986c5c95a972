"""Stable-Baselines3 learners driven one transition at a time by remote simulators (spec §4.8.4).

SB3's `learn()` steps a local environment. Here the environment is many remote simulators that each
report one state at a time, so the learners below drive SB3's policies, buffers and `train()` methods
directly: every simulator is an independent actor with its own pending transition.

- On-policy (PPO): each simulator accumulates its own segment; once the segments hold `n_steps`
  transitions in total, GAE is computed per segment (bootstrapping from V(next obs) unless the
  segment ended on a terminal state) and `n_epochs` of updates run.
- Off-policy (DQN, SAC, DDPG): every transition goes into one replay buffer; after every `train_freq`
  transitions, once `learning_starts` are stored, `gradient_steps` updates run.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import DDPG, DQN, PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.policies import BasePolicy

from crucible.engines.rl.inference import MirroredActorCritic, MirroredQNetwork, mirror
from crucible.engines.rl.plan import TrainingPlan
from crucible.engines.rl.spaces import Spaces

ALGORITHM_CLASSES: dict[str, type[BaseAlgorithm]] = {"PPO": PPO, "DQN": DQN, "SAC": SAC, "DDPG": DDPG}
ACTIVATIONS: dict[str, type[th.nn.Module]] = {
    "relu": th.nn.ReLU,
    "tanh": th.nn.Tanh,
    "elu": th.nn.ELU,
    "linear": th.nn.Identity,
    "logistic": th.nn.Sigmoid,
}


def constructor_keywords(hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """Plan hyperparameters (JSON) as SB3 keywords: activation names become torch classes."""
    kwargs = dict(hyperparameters)
    policy_kwargs = dict(kwargs.get("policy_kwargs") or {})
    if isinstance(policy_kwargs.get("activation_fn"), str):
        policy_kwargs["activation_fn"] = ACTIVATIONS[policy_kwargs["activation_fn"]]
    if policy_kwargs:
        kwargs["policy_kwargs"] = policy_kwargs
    return kwargs


class RemoteEnv(gym.Env[Any, Any]):
    """Stands in for the environment SB3 wants at construction: it only carries the spaces.
    The real environment is the simulators on the other end of the websockets."""

    def __init__(self, observation_space: gym.Space[Any], action_space: gym.Space[Any]) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        raise RuntimeError("remote simulators step this environment")

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        raise RuntimeError("remote simulators step this environment")


def policy_name(spaces: Spaces) -> str:
    if isinstance(spaces.observation_space, gym.spaces.Dict):
        return "MultiInputPolicy"
    if spaces.image_field is not None:
        return "CnnPolicy"
    return "MlpPolicy"


def as_tensor(observation: Any) -> Any:
    """One observation as a batch of one, for a policy's forward pass."""
    if isinstance(observation, dict):
        return {key: th.as_tensor(value).unsqueeze(0) for key, value in observation.items()}
    return th.as_tensor(observation).unsqueeze(0)


def deterministic_action(policy: BasePolicy, observation: Any) -> np.ndarray:
    """The greedy / mean action of `policy`, in the environment's units (Box actions clipped)."""
    with th.no_grad():
        action = policy._predict(as_tensor(observation), deterministic=True).cpu().numpy()[0]
    if isinstance(policy.action_space, gym.spaces.Box):
        if policy.squash_output:
            action = policy.unscale_action(action)
        action = np.clip(action, policy.action_space.low, policy.action_space.high)
    return action


def save_policy(policy: BasePolicy, path: Path) -> None:
    """A policy alone (weights and constructor arguments), for serving predictions."""
    th.save(
        {"class": type(policy), "policy": policy.state_dict(), "data": policy._get_constructor_parameters()},
        path,
    )


def load_policy(path: Path) -> BasePolicy:
    saved = th.load(path, map_location="cpu", weights_only=False)
    policy: BasePolicy = saved["class"](**saved["data"])
    policy.load_state_dict(saved["policy"])
    policy.set_training_mode(False)
    return policy


@dataclass
class FrozenPolicy:
    """A copy of the policy that no update touches (test passes, best model), with its NumPy mirror."""

    policy: BasePolicy
    mirror: MirroredActorCritic | MirroredQNetwork | None


@dataclass
class Segment:
    """Consecutive transitions of one simulator (PPO)."""

    observations: list[Any] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    log_probs: list[float] = field(default_factory=list)
    last_value: float | None = None  # set when the segment is closed (0.0 after a terminal state)
    next_observation: Any = None  # the observation after the last transition (for bootstrapping)


@dataclass
class Pending:
    """The action a simulator was told to take and has not yet reported the outcome of."""

    observation: Any
    action: np.ndarray  # as stored in the buffer (PPO: raw sample; SAC/DDPG: scaled to [-1, 1])
    value: float = 0.0
    log_prob: float = 0.0


class Learner:
    """Common to every learner: the SB3 model, the transition count, per-simulator pending actions."""

    def __init__(self, plan: TrainingPlan, model: BaseAlgorithm | None = None) -> None:
        self.plan = plan
        self.spaces = Spaces(plan.spaces)
        self.env = RemoteEnv(self.spaces.observation_space, self.spaces.action_space)
        if model is None:
            kwargs = constructor_keywords(plan.hyperparameters)
            model = ALGORITHM_CLASSES[plan.learner](
                policy_name(self.spaces), self.env, device="cpu", seed=plan.seed, **kwargs
            )
        model.set_logger(Logger(folder=None, output_formats=[]))
        self.model = model
        self.transitions = 0  # training transitions stored (all simulators)
        self.pending: dict[int, Pending] = {}
        self.rng = random.Random(plan.seed)
        self.np_random = np.random.default_rng(plan.seed)
        self.fast = mirror(model.policy)

    def refresh(self) -> None:
        """After an update: copy the new weights into the NumPy mirror used for acting."""
        self.model.policy.set_training_mode(False)
        if self.fast is not None:
            self.fast = mirror(self.model.policy)

    # --- acting ----------------------------------------------------------------------------------

    def act(self, sim: int, observation: Any) -> np.ndarray:
        """The exploring action for `observation`, remembered as `sim`'s pending transition."""
        raise NotImplementedError

    def observe(self, sim: int, reward: float, observation: Any, *, terminal: bool, truncated: bool) -> None:
        """Complete `sim`'s pending transition with its reward and the observation it led to."""
        raise NotImplementedError

    def drop(self, sim: int) -> None:
        """The simulator's episode ended without an outcome for its pending action (abort, disconnect)."""
        self.pending.pop(sim, None)

    def greedy(self, observation: Any, frozen: FrozenPolicy | None = None) -> np.ndarray:
        """The deterministic action of the current policy, or of a frozen one."""
        fast = frozen.mirror if frozen is not None else self.fast
        policy = frozen.policy if frozen is not None else self.model.policy
        if fast is None:
            return deterministic_action(policy, observation)
        action = fast.greedy(observation)
        space = self.spaces.action_space
        if isinstance(space, gym.spaces.Box):
            return np.clip(action, space.low, space.high)
        return action

    def snapshot(self) -> FrozenPolicy:
        """A frozen copy of the current policy (test passes, best model)."""
        policy = self.model.policy
        frozen = type(policy)(**policy._get_constructor_parameters())
        frozen.load_state_dict(policy.state_dict())
        frozen.set_training_mode(False)
        return FrozenPolicy(frozen, mirror(frozen))

    # --- state -----------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "transitions": self.transitions,
            "rng": self.rng.getstate(),
            "np_random": self.np_random.bit_generator.state,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.transitions = int(state.get("transitions", 0))
        if "rng" in state:
            self.rng.setstate(_as_rng_state(state["rng"]))
        if "np_random" in state:
            self.np_random.bit_generator.state = state["np_random"]

    def replay_buffer_bytes(self) -> int:
        return 0


def _as_rng_state(value: Any) -> tuple[Any, ...]:
    version, internal, gauss = value
    return (version, tuple(internal), gauss)


class PPOLearner(Learner):
    def __init__(self, plan: TrainingPlan, model: BaseAlgorithm | None = None) -> None:
        super().__init__(plan, model)
        assert isinstance(self.model, PPO)
        self.ppo: PPO = self.model
        self.open_segments: dict[int, Segment] = {}
        self.closed_segments: list[Segment] = []
        self.segment_transitions = 0

    def act(self, sim: int, observation: Any) -> np.ndarray:
        if isinstance(self.fast, MirroredActorCritic):
            raw, value, log_prob = self.fast.act(observation, self.np_random)
            self.pending[sim] = Pending(observation, raw, value, log_prob)
        else:
            with th.no_grad():
                action, values, log_probs = self.ppo.policy(as_tensor(observation))
            raw = action.cpu().numpy()[0]
            self.pending[sim] = Pending(observation, raw, float(values.item()), float(log_probs.item()))
        if isinstance(self.spaces.action_space, gym.spaces.Box):
            return np.clip(raw, self.spaces.action_space.low, self.spaces.action_space.high)
        return raw

    def observe(self, sim: int, reward: float, observation: Any, *, terminal: bool, truncated: bool) -> None:
        pending = self.pending.pop(sim, None)
        if pending is None:
            return
        segment = self.open_segments.setdefault(sim, Segment())
        segment.observations.append(pending.observation)
        segment.actions.append(pending.action)
        segment.rewards.append(reward)
        segment.values.append(pending.value)
        segment.log_probs.append(pending.log_prob)
        segment.next_observation = observation
        self.transitions += 1
        self.segment_transitions += 1
        if terminal:
            self._close(sim, 0.0)
        elif truncated:
            self._close(sim, self._value(observation))
        if self.segment_transitions >= self.ppo.n_steps:
            self._train()

    def drop(self, sim: int) -> None:
        """The last stored transition counts as truncated: bootstrap from its next observation."""
        super().drop(sim)
        segment = self.open_segments.get(sim)
        if segment is not None:
            self._close(sim, self._value(segment.next_observation))

    def _close(self, sim: int, last_value: float) -> None:
        segment = self.open_segments.pop(sim, None)
        if segment is not None and segment.rewards:
            segment.last_value = last_value
            self.closed_segments.append(segment)

    def _value(self, observation: Any) -> float:
        if isinstance(self.fast, MirroredActorCritic):
            return self.fast.value_of(observation)
        with th.no_grad():
            return float(self.ppo.policy.predict_values(as_tensor(observation)).item())

    def _train(self) -> None:
        for sim in list(self.open_segments):
            segment = self.open_segments[sim]
            self._close(sim, self._value(segment.next_observation))
        segments, self.closed_segments = self.closed_segments, []
        self.segment_transitions = 0
        size = sum(len(segment.rewards) for segment in segments)
        buffer = RolloutBuffer(
            size,
            self.ppo.observation_space,
            self.ppo.action_space,
            device="cpu",
            gamma=self.ppo.gamma,
            gae_lambda=self.ppo.gae_lambda,
            n_envs=1,
        )
        row = 0
        for segment in segments:
            advantages = self._advantages(segment)
            for index in range(len(segment.rewards)):
                observation = segment.observations[index]
                if isinstance(observation, dict):
                    for key, value in observation.items():
                        buffer.observations[key][row, 0] = value  # type: ignore[index]
                else:
                    buffer.observations[row, 0] = observation
                buffer.actions[row, 0] = np.asarray(segment.actions[index]).reshape(buffer.action_dim)
                buffer.rewards[row, 0] = segment.rewards[index]
                buffer.values[row, 0] = segment.values[index]
                buffer.log_probs[row, 0] = segment.log_probs[index]
                buffer.advantages[row, 0] = advantages[index]
                buffer.episode_starts[row, 0] = 1.0 if index == 0 else 0.0
                row += 1
        buffer.returns = buffer.advantages + buffer.values
        buffer.pos = size
        buffer.full = True
        self.ppo.rollout_buffer = buffer
        self.ppo.train()
        self.refresh()

    def _advantages(self, segment: Segment) -> np.ndarray:
        gamma, lam = self.ppo.gamma, self.ppo.gae_lambda
        count = len(segment.rewards)
        advantages = np.zeros(count, dtype=np.float32)
        running = 0.0
        for index in reversed(range(count)):
            next_value = segment.last_value if index == count - 1 else segment.values[index + 1]
            delta = segment.rewards[index] + gamma * float(next_value or 0.0) - segment.values[index]
            running = delta + gamma * lam * running
            advantages[index] = running
        return advantages


class OffPolicyLearner(Learner):
    """DQN (epsilon-greedy), SAC (stochastic actor) and DDPG (Gaussian action noise)."""

    def __init__(self, plan: TrainingPlan, model: BaseAlgorithm | None = None) -> None:
        super().__init__(plan, model)
        hyper = plan.hyperparameters
        self.train_every = int(_frequency(hyper.get("train_freq", getattr(self.model, "train_freq", 1))))
        self.gradient_steps = int(hyper.get("gradient_steps", getattr(self.model, "gradient_steps", 1)))
        self.learning_starts = int(getattr(self.model, "learning_starts", 100))
        self.batch_size = int(getattr(self.model, "batch_size", 256))
        self.is_dqn = isinstance(self.model, DQN)
        self.final_epsilon = float(hyper.get("exploration_final_eps", 0.04))
        self.noise_sigma = 0.2  # DDPG: 0.1·(hi−lo) in environment units is 0.2 in SB3's [-1, 1] units

    @property
    def epsilon(self) -> float:
        progress = min(1.0, self.transitions / max(1, self.plan.exploration_steps))
        return 1.0 + (self.final_epsilon - 1.0) * progress

    def act(self, sim: int, observation: Any) -> np.ndarray:
        policy = self.model.policy
        space = self.spaces.action_space
        if self.is_dqn:
            if self.rng.random() < self.epsilon:
                action = np.array(self.rng.randrange(int(space.n)))  # type: ignore[attr-defined]
            else:
                action = self.greedy(observation)
            self.pending[sim] = Pending(observation, np.asarray(action).reshape(1))
            return action
        if self.transitions < self.learning_starts:
            scaled = self.np_random.uniform(-1.0, 1.0, size=space.shape).astype(np.float32)
        else:
            with th.no_grad():
                deterministic = isinstance(self.model, DDPG)
                scaled = policy._predict(as_tensor(observation), deterministic=deterministic).cpu().numpy()[0]
            if isinstance(self.model, DDPG):
                scaled = np.clip(
                    scaled + self.np_random.normal(0.0, self.noise_sigma, size=scaled.shape), -1, 1
                )
        self.pending[sim] = Pending(observation, np.asarray(scaled, dtype=np.float32))
        return np.clip(policy.unscale_action(scaled), space.low, space.high)  # type: ignore[attr-defined]

    def observe(self, sim: int, reward: float, observation: Any, *, terminal: bool, truncated: bool) -> None:
        pending = self.pending.pop(sim, None)
        if pending is None:
            return
        buffer = self.model.replay_buffer  # type: ignore[attr-defined]
        buffer.add(
            _batch(pending.observation),
            _batch(observation),
            pending.action.reshape(1, -1),
            np.array([reward], dtype=np.float32),
            np.array([terminal or truncated]),
            [{"TimeLimit.truncated": truncated and not terminal}],
        )
        self.transitions += 1
        if self.is_dqn:
            self.model._on_step()  # target network updates every `target_update_interval` transitions
        if self.transitions >= self.learning_starts and self.transitions % self.train_every == 0:
            self.model.train(gradient_steps=self.gradient_steps, batch_size=self.batch_size)  # type: ignore[attr-defined]
            self.refresh()

    def replay_buffer_bytes(self) -> int:
        buffer = self.model.replay_buffer  # type: ignore[attr-defined]
        total = 0
        for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
            value = getattr(buffer, name, None)
            if isinstance(value, dict):
                total += sum(item.nbytes for item in value.values())
            elif value is not None:
                total += value.nbytes
        return total


def _frequency(value: Any) -> int:
    if isinstance(value, list | tuple):
        return int(value[0])
    return int(getattr(value, "frequency", value))


def _batch(observation: Any) -> Any:
    if isinstance(observation, dict):
        return {key: np.asarray(value)[None] for key, value in observation.items()}
    return np.asarray(observation)[None]


def build_learner(plan: TrainingPlan, model: BaseAlgorithm | None = None) -> Learner:
    if plan.learner == "PPO":
        return PPOLearner(plan, model)
    return OffPolicyLearner(plan, model)
