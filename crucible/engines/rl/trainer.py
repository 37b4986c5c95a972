"""The training loop as seen from the simulators (spec §4.8.4–§4.8.6), without any I/O.

A Trainer owns a learner and the version's counters. Simulators (identified by an integer) begin
episodes, report states and sometimes vanish; the Trainer answers with configs and actions, and
returns progress events (episode ended, test pass, iteration mark, lesson change, checkpoint,
completed) for the caller to persist. It decides which episodes are test episodes, when a lesson
ends, when training is complete and when to checkpoint.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from crucible.engines.rl import checkpoints
from crucible.engines.rl.learners import FrozenPolicy, Learner
from crucible.engines.rl.plan import LessonPlan, TrainingPlan

OBJECTIVE_WINDOW = 10  # objective_score = mean of the last 10 test pass values
LENGTH_WINDOW = 10  # episode_length = mean length of the last 10 episodes
ITERATION_MARK = 100

Event = dict[str, Any]


@dataclass
class Progress:
    """Counters carried across checkpoints and resumes."""

    episode: int = 0  # completed episodes on training sockets (training and test episodes)
    iteration: int = 0  # transitions on training sockets
    training_episodes: int = 0  # completed training (non-test) episodes, for test scheduling
    lesson_index: int = 0
    lesson_iterations: int = 0
    lesson_passes: list[float] = field(default_factory=list)
    test_passes: list[float] = field(default_factory=list)
    best_test_pass_value: float | None = None
    best_objective: float | None = None
    passes_without_improvement: int = 0
    episodes_since_test: int = 0
    recent_lengths: list[int] = field(default_factory=list)
    completed: bool = False

    @property
    def objective_score(self) -> float:
        recent = self.test_passes[-OBJECTIVE_WINDOW:]
        return float(np.mean(recent)) if recent else 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Progress:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


@dataclass
class Episode:
    """One simulator's episode in progress."""

    test: bool
    lesson: str
    steps: int = 0
    value: float = 0.0
    started: bool = False  # the initial state has been reported


@dataclass
class TestPass:
    policy: FrozenPolicy
    started_at_episode: int
    to_hand_out: int
    values: list[float] = field(default_factory=list)


@dataclass
class StepResult:
    action: Any = None  # the action to send (None when the episode ends)
    stop: bool = False  # end the episode (terminal state or episode cap)
    finished: bool = False  # training is complete: send FINISHED
    events: list[Event] = field(default_factory=list)


class Trainer:
    def __init__(
        self,
        plan: TrainingPlan,
        learner: Learner,
        checkpoint_root: Path,
        progress: Progress | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self.plan = plan
        self.learner = learner
        self.checkpoint_root = checkpoint_root
        self.progress = progress or Progress()
        self.clock = clock
        self.episodes: dict[int, Episode] = {}
        self.test_pass: TestPass | None = None
        self.rng = random.Random(plan.seed)
        self.last_checkpoint_iteration = self.progress.iteration
        self.last_checkpoint_time = clock()

    @property
    def lesson(self) -> LessonPlan:
        index = min(self.progress.lesson_index, len(self.plan.lessons) - 1)
        return self.plan.lessons[index]

    # --- episodes ---------------------------------------------------------------------------------

    def begin_episode(self, sim: int) -> dict[str, Any]:
        """What SET_PROPERTIES carries for `sim`'s next episode: config values, test or not, lesson."""
        self.episodes.pop(sim, None)
        test = False
        if self.test_pass is not None and self.test_pass.to_hand_out > 0:
            self.test_pass.to_hand_out -= 1
            test = True
        lesson = self.lesson
        config = {choice.field: choice.sample(self.rng) for choice in lesson.config}
        self.episodes[sim] = Episode(test=test, lesson=lesson.name)
        return {"config": config, "test": test, "lesson": lesson.name}

    def step(self, sim: int, observation: Any, reward: float, terminal: bool) -> StepResult:
        """A STATE from `sim`: store the transition, then pick the next action or end the episode."""
        episode = self.episodes.get(sim)
        if episode is None:  # a STATE outside an episode: begin one implicitly
            self.begin_episode(sim)
            episode = self.episodes[sim]
        result = StepResult()
        if not episode.started:
            episode.started = True
            if terminal:  # an episode over before it began: nothing to learn, nothing to record
                result.stop = True
                self._finish_episode(sim, episode, result, record=False)
                return result
        else:
            episode.steps += 1
            episode.value += reward
            self.progress.iteration += 1
            self.progress.lesson_iterations += 1
            if self.progress.iteration % ITERATION_MARK == 0:
                result.events.append({"type": "iterations", "value": self.progress.iteration})
            capped = episode.steps >= self.plan.schedule.max_episode_steps
            if not episode.test:
                self.learner.observe(
                    sim, reward, observation, terminal=terminal, truncated=capped and not terminal
                )
            if terminal or capped:
                result.stop = True
                self._finish_episode(sim, episode, result, record=True)
                return result
        if episode.test:
            assert self.test_pass is not None
            result.action = self.learner.greedy(observation, self.test_pass.policy)
        else:
            result.action = self.learner.act(sim, observation)
        self._maybe_checkpoint(result, due_to_time_only=False)
        return result

    def abort(self, sim: int) -> list[Event]:
        """`sim` left mid-episode or was stopped while held: no metric point; a test episode is re-run."""
        episode = self.episodes.pop(sim, None)
        if episode is None:
            return []
        if episode.test and self.test_pass is not None:
            self.test_pass.to_hand_out += 1
        elif episode.started:
            self.learner.drop(sim)
        return []

    def predict(self, observation: Any) -> Any:
        return self.learner.greedy(observation)

    # --- progress ---------------------------------------------------------------------------------

    def _finish_episode(self, sim: int, episode: Episode, result: StepResult, *, record: bool) -> None:
        self.episodes.pop(sim, None)
        if not record:
            if episode.test and self.test_pass is not None:
                self.test_pass.to_hand_out += 1
            return
        progress = self.progress
        progress.episode += 1
        progress.recent_lengths = [*progress.recent_lengths, episode.steps][-LENGTH_WINDOW:]
        result.events.append(
            {
                "type": "episode",
                "episode": progress.episode,
                "value": episode.value,
                "iteration": progress.iteration,
                "lesson": episode.lesson,
                "test": episode.test,
                "episode_length": int(np.mean(progress.recent_lengths)),
            }
        )
        if episode.test:
            self._test_episode_done(episode.value, result)
        else:
            progress.training_episodes += 1
            progress.episodes_since_test += 1
            if (
                self.test_pass is None
                and progress.episodes_since_test >= self.plan.schedule.test_every_episodes
            ):
                progress.episodes_since_test = 0
                self.test_pass = TestPass(
                    policy=self.learner.snapshot(),
                    started_at_episode=progress.episode,
                    to_hand_out=self.plan.schedule.test_episodes,
                )
        if progress.iteration >= self.plan.schedule.max_iterations:
            self._complete(result)
        else:
            self._maybe_checkpoint(result, due_to_time_only=False)

    def _test_episode_done(self, value: float, result: StepResult) -> None:
        test_pass = self.test_pass
        assert test_pass is not None
        test_pass.values.append(value)
        if len(test_pass.values) < self.plan.schedule.test_episodes:
            return
        self.test_pass = None
        progress = self.progress
        pass_value = float(np.mean(test_pass.values))
        progress.test_passes = [*progress.test_passes, pass_value][-1000:]
        progress.lesson_passes = [*progress.lesson_passes, pass_value][-1000:]
        is_best = progress.best_test_pass_value is None or pass_value > progress.best_test_pass_value
        result.events.append(
            {
                "type": "test_pass",
                "value": pass_value,
                "episode": test_pass.started_at_episode,
                "iteration": progress.iteration,
                "lesson": self.lesson.name,
                "objective_score": progress.objective_score,
                "best": is_best,
            }
        )
        if is_best:
            progress.best_test_pass_value = pass_value
            path = checkpoints.write_best_model(
                self.checkpoint_root, test_pass.policy.policy, progress.iteration
            )
            result.events.append(self._checkpoint_event(path, "best"))
        self._update_lesson(result)

    def _update_lesson(self, result: StepResult) -> None:
        progress = self.progress
        lesson = self.lesson
        score = progress.objective_score
        if lesson.goal == "threshold":
            recent = progress.lesson_passes[-OBJECTIVE_WINDOW:]
            done = len(recent) >= OBJECTIVE_WINDOW and lesson.threshold_met(float(np.mean(recent)))
        else:
            best = progress.best_objective
            sign = 1.0 if lesson.goal == "maximize" else -1.0
            margin = max(1e-6, 0.01 * abs(best)) if best is not None else 0.0
            if best is None or sign * (score - best) > margin:
                progress.best_objective = score
                progress.passes_without_improvement = 0
            else:
                progress.passes_without_improvement += 1
            done = (
                progress.lesson_iterations >= self.plan.schedule.min_lesson_iterations
                and progress.passes_without_improvement >= self.plan.schedule.lesson_patience
            )
        if not done:
            return
        if progress.lesson_index + 1 >= len(self.plan.lessons):
            self._complete(result)
            return
        progress.lesson_index += 1
        progress.lesson_iterations = 0
        progress.lesson_passes = []
        progress.best_objective = None
        progress.passes_without_improvement = 0
        result.events.append({"type": "lesson", "lesson": self.lesson.name})
        self.checkpoint(result.events)

    def _complete(self, result: StepResult) -> None:
        if self.progress.completed:
            return
        self.progress.completed = True
        self.checkpoint(result.events)
        result.events.append({"type": "completed"})
        result.finished = True

    # --- checkpoints ------------------------------------------------------------------------------

    def _maybe_checkpoint(self, result: StepResult, *, due_to_time_only: bool) -> None:
        schedule = self.plan.schedule
        by_iterations = (
            self.progress.iteration - self.last_checkpoint_iteration >= schedule.checkpoint_iterations
        )
        by_time = self.clock() - self.last_checkpoint_time >= schedule.checkpoint_seconds
        if by_time or (by_iterations and not due_to_time_only):
            self.checkpoint(result.events)

    def checkpoint(self, events: list[Event]) -> None:
        path = checkpoints.write_checkpoint(self.checkpoint_root, self.learner, asdict(self.progress))
        self.last_checkpoint_iteration = self.progress.iteration
        self.last_checkpoint_time = self.clock()
        events.append(self._checkpoint_event(path, "latest"))

    def _checkpoint_event(self, path: Path, kind: str) -> Event:
        return {
            "type": "checkpoint",
            "kind": kind,
            "path": str(path),
            "iteration": self.progress.iteration,
            "episode": self.progress.episode,
        }

    def status(self) -> dict[str, Any]:
        return {
            "episode": self.progress.episode,
            "iteration": self.progress.iteration,
            "lesson": self.lesson.name,
            "objective_score": self.progress.objective_score,
            "best_test_pass_value": self.progress.best_test_pass_value,
            "completed": self.progress.completed,
        }
