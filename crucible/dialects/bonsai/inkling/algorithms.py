"""Inkling algorithm names and parameters, and what the server runs for them (spec §4.8.2, §4.8.3).

The compiler only classifies: which Stable-Baselines3 class an Inkling algorithm runs as, whether it
suits the concept kind (E409), whether it is mapped to another one (W502), and which parameter names
are known (W501) or accepted but unsupported (W503). Turning parameters into constructor arguments
is the learning engine's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Learner = Literal["PPO", "DQN", "SAC", "DDPG"]


@dataclass(frozen=True)
class AlgorithmSpec:
    runs: Learner
    concept_kinds: frozenset[str]  # the concept kinds it can train (E409 otherwise)
    mapped: bool = False  # the written name differs from the learner that runs (W502)


_CLASSIFIER = frozenset({"classifier"})
_ESTIMATOR = frozenset({"estimator"})

ALGORITHMS: dict[str, AlgorithmSpec] = {
    "PPO": AlgorithmSpec("PPO", _CLASSIFIER | _ESTIMATOR),
    "DQN": AlgorithmSpec("DQN", _CLASSIFIER),
    "QTable": AlgorithmSpec("DQN", _CLASSIFIER, mapped=True),
    "DiscreteDDPG": AlgorithmSpec("DQN", _CLASSIFIER, mapped=True),
    "SAC": AlgorithmSpec("SAC", _ESTIMATOR),
    "TRPO": AlgorithmSpec("PPO", _ESTIMATOR, mapped=True),
    "DDPG": AlgorithmSpec("DDPG", _ESTIMATOR),
}

DEFAULT_LEARNER: dict[str, Learner] = {"classifier": "PPO", "estimator": "SAC"}

INKLING_PARAMETERS = frozenset(
    {
        "q_learning_rate",
        "mu_learning_rate",
        "gamma",
        "exploration_decay",
        "samples_per_train",
        "hidden_layer_size_descriptor",
        "hidden_layer_activation_descriptor",
    }
)

EXTENSION_PARAMETERS = frozenset(
    {
        "max_episode_steps",
        "max_iterations",
        "test_every_episodes",
        "test_episodes",
        "min_lesson_iterations",
        "lesson_patience",
        "seed",
    }
)

# Keyword arguments of the Stable-Baselines3 2.x constructors that a user may pass through verbatim.
# (policy, env, device, verbose, tensorboard_log and _init_setup_model belong to the server.)
_OFF_POLICY_COMMON = frozenset(
    {
        "learning_rate",
        "buffer_size",
        "learning_starts",
        "batch_size",
        "tau",
        "gamma",
        "train_freq",
        "gradient_steps",
        "replay_buffer_class",
        "replay_buffer_kwargs",
        "optimize_memory_usage",
        "n_steps",
        "policy_kwargs",
        "seed",
    }
)
LEARNER_KEYWORDS: dict[Learner, frozenset[str]] = {
    "PPO": frozenset(
        {
            "learning_rate",
            "n_steps",
            "batch_size",
            "n_epochs",
            "gamma",
            "gae_lambda",
            "clip_range",
            "clip_range_vf",
            "normalize_advantage",
            "ent_coef",
            "vf_coef",
            "max_grad_norm",
            "use_sde",
            "sde_sample_freq",
            "rollout_buffer_class",
            "rollout_buffer_kwargs",
            "target_kl",
            "stats_window_size",
            "policy_kwargs",
            "seed",
        }
    ),
    "DQN": _OFF_POLICY_COMMON
    | {
        "target_update_interval",
        "exploration_fraction",
        "exploration_initial_eps",
        "exploration_final_eps",
        "max_grad_norm",
        "stats_window_size",
    },
    "SAC": _OFF_POLICY_COMMON
    | {
        "action_noise",
        "ent_coef",
        "target_update_interval",
        "target_entropy",
        "use_sde",
        "sde_sample_freq",
        "use_sde_at_warmup",
        "stats_window_size",
    },
    "DDPG": _OFF_POLICY_COMMON | {"action_noise"},
}

ParameterVerdict = Literal["known", "unknown", "unsupported"]


def classify_parameter(name: str, learner: Learner) -> ParameterVerdict:
    """`unsupported` (W503) for convolution settings, `unknown` (W501) for names nobody reads."""
    if name.startswith("conv_"):
        return "unsupported"
    if name in INKLING_PARAMETERS or name in EXTENSION_PARAMETERS or name in LEARNER_KEYWORDS[learner]:
        return "known"
    return "unknown"
