"""The flaxen-checkpoint plugin: what this distribution registers with flaxen.

Registered through the same entry-point group and hooks a third-party package
uses (see ``flaxen.plugins``).
"""
