"""gymnasium's CartPole-v1 as a bonsai-ai 2.0.x simulator named `the_simulator`.

    python cartpole_sim.py [--episodes N] [--max-iterations N] [--seed S] [bonsai-ai flags, e.g. --predict]

It stops after N episodes (or once it has made N steps), when the server asks for the next one, and prints its
per-episode rewards as JSON.
"""

import argparse
import json
import sys

import bonsai_ai
import gymnasium

# bonsai-ai 2.0.0 has no episode_finish callback and calls episode_start right after a terminal state.
OLD_CLIENT = not hasattr(bonsai_ai.Simulator, "episode_finish")


class CartPole(bonsai_ai.Simulator):
    def __init__(self, brain, name, seed=None):
        super().__init__(brain, name)
        self.env = gymnasium.make("CartPole-v1")
        self.seed = seed
        self.rewards = []
        self.steps = 0
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

    def _state(self, observation):
        position, velocity, angle, rotation = (float(value) for value in observation)
        return {"position": position, "velocity": velocity, "angle": angle, "rotation": rotation}

    def episode_start(self, parameters=None):
        if self.synthetic_start:  # bonsai-ai < 2.0.7 restarts locally after a terminal state
            self.synthetic_start = False
            return self._state(self.env.reset()[0])
        self._close_episode()
        self._check_limit()
        observation, _info = self.env.reset(seed=self.seed)
        self.seed = None  # seed the first episode only
        self.episode_steps = 0
        self.episode_value = 0.0
        self.open = True
        return self._state(observation)

    def simulate(self, action, state=None):
        observation, reward, terminated, truncated, _info = self.env.step(int(action["command"]))
        self.steps += 1
        self.episode_steps += 1
        self.episode_value += float(reward)
        terminal = bool(terminated or truncated)
        if terminal:
            self._close_episode()
            self.synthetic_start = OLD_CLIENT and not self.predict
        return self._state(observation), float(reward), terminal

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
    parser.add_argument("--seed", type=int, default=None)
    ours, rest = parser.parse_known_args(sys.argv[1:])
    brain = bonsai_ai.Brain(bonsai_ai.Config([sys.argv[0], *rest]))
    sim = CartPole(brain, "the_simulator", ours.seed)
    sim.limit = (ours.episodes, ours.max_iterations)
    while sim.run():
        if sim.stop_requested or (sim.predict and len(sim.rewards) >= ours.episodes):
            break
    print(json.dumps({"rewards": sim.rewards, "steps": sim.steps}), flush=True)


if __name__ == "__main__":
    main()
