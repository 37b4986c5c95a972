"""StreamingBandit dialect: bandit experiments whose policies are user Python code (spec/streamingbandit.md)."""
