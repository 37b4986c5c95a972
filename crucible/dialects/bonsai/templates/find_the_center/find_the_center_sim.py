"""find-the-center: move `value` to 1 and keep it there (a bonsai-ai 2.0.x simulator).

`value` starts uniform in {0, 1, 2}; each step adds `delta`; `goal_count` counts the steps that end
on 1, and the reward of every step is `goal_count`. The episode ends when `value` leaves [0, 2] or
`goal_count` exceeds 3. Runs with bonsai-ai 2.0.0 and 2.0.20 alike.

    python find_the_center_sim.py [--episodes N] [--max-iterations N] [bonsai-ai flags, e.g. --predict]

It stops after N episodes (or once it has made N steps), when the server asks for the next one, and prints its
per-episode rewards as JSON. Prediction episodes end after 1000 steps.
"""

import argparse
import json
import random
import sys

import bonsai_ai

# bonsai-ai 2.0.0 has no episode_finish callback and calls episode_start right after a terminal state.
OLD_CLIENT = not hasattr(bonsai_ai.Simulator, "episode_finish")

PREDICTION_EPISODE_STEPS = 1000


class FindTheCenter(bonsai_ai.Simulator):
    def __init__(self, brain, name):
        super().__init__(brain, name)
        self.rewards = []
        self.steps = 0
        self.value = 0
        self.goal_count = 0
        self.episode_steps = 0
        self.episode_value = 0.0
        self.open = False
        self.limit = None  # (episodes, iterations) after which to stop
        self.stop_requested = False
        self.synthetic_start = False

    def _close_episode(self):
        if self.open and self.episode_steps > 0:
            self.rewards.append(self.episode_value)
        self.open = False

    def episode_start(self, parameters=None):
        if self.synthetic_start:  # bonsai-ai < 2.0.7 restarts locally after a terminal state
            self.synthetic_start = False
            self.value, self.goal_count, self.episode_steps = random.randint(0, 2), 0, 0
            return {"value": self.value}
        self._close_episode()
        self._check_limit()
        self.value = random.randint(0, 2)
        self.goal_count = 0
        self.episode_steps = 0
        self.episode_value = 0.0
        self.open = True
        return {"value": self.value}

    def simulate(self, action, state=None):
        self.value += int(action["delta"])
        self.steps += 1
        self.episode_steps += 1
        if self.value == 1:
            self.goal_count += 1
        reward = float(self.goal_count)
        self.episode_value += reward
        terminal = self.value < 0 or self.value > 2 or self.goal_count > 3
        if self.predict and self.episode_steps >= PREDICTION_EPISODE_STEPS:
            terminal = True
        if terminal:
            self._close_episode()
            self.synthetic_start = OLD_CLIENT and not self.predict
        return {"value": self.value}, reward, terminal

    def _check_limit(self):
        """Stop once the server has taken the last episode's terminal state (we are asked for a new one)."""
        episodes, iterations = self.limit
        if len(self.rewards) >= episodes or (iterations and self.steps >= iterations):
            self.stop_requested = True

    def episode_finish(self):
        self._close_episode()


def main():
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--episodes", type=int, default=1000000)
    parser.add_argument("--max-iterations", type=int, default=0)
    ours, rest = parser.parse_known_args(sys.argv[1:])
    brain = bonsai_ai.Brain(bonsai_ai.Config([sys.argv[0], *rest]))
    sim = FindTheCenter(brain, "find_the_center_sim")
    sim.limit = (ours.episodes, ours.max_iterations)
    while sim.run():
        if sim.stop_requested or (sim.predict and len(sim.rewards) >= ours.episodes):
            break
    print(json.dumps({"rewards": sim.rewards, "steps": sim.steps}), flush=True)


if __name__ == "__main__":
    main()
