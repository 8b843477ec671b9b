"""A flaxen plugin that claims a name another plugin owns (test fixture)."""
