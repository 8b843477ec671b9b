"""A flaxen plugin that cannot be imported (test fixture)."""
