"""A well-behaved third-party flaxen plugin (test fixture)."""
