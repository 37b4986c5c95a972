"""Inkling programs used across the compiler tests: the two of spec §6 and two that use every feature."""

# Spec §6 "Inkling used by the scenarios": find-the-center.
FIND_THE_CENTER = """\
schema GameState
    Int8 value
end

schema PlayerMove
    Int8{-1, 0, 1} delta
end

schema SimConfig
    Int8 dummy
end

concept find_the_center is classifier
    predicts (PlayerMove)
    follows input(GameState)
    feeds output
end

simulator find_the_center_sim(SimConfig)
    action (PlayerMove)
    state (GameState)
end

curriculum find_the_center_curriculum
    train find_the_center
    with simulator find_the_center_sim
    objective time_at_goal
        lesson seek_center
            configure
                constrain dummy with Int8{-1}
            until
                maximize time_at_goal
end
"""

# Spec §6: cartpole, "the same shape": 4 x Float32 state, Int8{0, 1} command, Int8/UInt8 config.
CARTPOLE = """\
# Balance a pole on a cart (OpenAI gym CartPole).
schema GameState
    Float32 position,
    Float32 velocity,
    Float32 angle,
    Float32 rotation
end

schema Action
    Int8{0, 1} command
end

schema CartPoleConfig
    Int8 episode_length,
    UInt8 deque_size
end

simulator the_simulator(CartPoleConfig)
    action (Action)
    state (GameState)
end

concept balance is classifier
    predicts (Action)
    follows input(GameState)
    feeds output
end

curriculum balance_curriculum
    train balance
    with simulator the_simulator
    objective open_ai_gym_default_objective
        lesson balancing
            configure
                constrain episode_length with Int8{-1},
                constrain deque_size with UInt8{1}
            until
                maximize open_ai_gym_default_objective
end
"""

# A classifier using constants, every primitive type, Luminance, a global algorithm and two lessons.
FULL_CLASSIFIER = """\
# Everything the supported subset offers, in one classifier BRAIN.
constant Int8 max_speed = 3
constant Float32 ratio = 0.5
constant String fast = "fast"

schema Observation
    Float32 x,
    Float64 y,
    Double z,
    Int16{-100:100} depth,
    UInt32 ticks,
    Int64 stamp,
    UInt64 counter,
    Bool ready,
    String{"fast", "slow"} mode,
    Luminance(8, 4) camera
end

schema Move
    Int8{0:max_speed} speed,
    Bool brake,
    String{fast, "slow", "fast"} gear,
    Float32{0..1:3} throttle
end

schema Config
    UInt8{1:10} level,
    Float32{0.0:1.0} friction,
    Int64 seed_value,
    UInt16 width
end

concept drive is classifier
    predicts (Move)
    follows input(Observation)
    feeds output
end

simulator car_sim(Config)
    control (Move)
    state (Observation)
end

algorithm my_dqn is DQN
    q_learning_rate => 0.001,
    hidden_layer_size_descriptor => [64, 64]
    gamma => 0.99
end

curriculum drive_curriculum
    train drive
    with simulator car_sim
    objective reach_goal
    using algorithm my_dqn
        gamma => 0.95, exploration_decay => 0.0001
    end
    lesson full follows warm_up
        configure
            constrain level with UInt8{1:10},
            constrain friction with Float32{0:0.25:1}
        until
            maximize reach_goal
    lesson warm_up
        configure Config
            constrain level with UInt8{1:2},
            constrain friction with Float32{ratio},
            constrain width with UInt16{0..100:5}
        until
            reach_goal >= 10
end
"""

# An estimator with anonymous schemas, a mapped algorithm and clauses that only warn.
ESTIMATOR = """\
schema Sensors
    Float32 position,
    Float32 velocity
end

concept balance is estimator
    predicts (Float32{-2.5:2.5} force, Float64 torque)
    follows input(Sensors)
    feeds output
end

simulator pendulum(Float32{0:1} gravity)
    action (Float32 force, Float64{-1:1} torque)
    state (Sensors)
end

curriculum keep_upright
    train balance
    with simulator pendulum(Float32{0:1} gravity)
    objective upright
    using algorithm TRPO
        gamma => 0.9
        samples_per_train => 512
    end
    lesson only
        configure
            constrain gravity with Float32{0.1:0.5}
        test from frame in frames select frame send balance
        until
            maximize upright
end
"""

EXAMPLES = {
    "find_the_center": FIND_THE_CENTER,
    "cartpole": CARTPOLE,
    "full_classifier": FULL_CLASSIFIER,
    "estimator": ESTIMATOR,
}
