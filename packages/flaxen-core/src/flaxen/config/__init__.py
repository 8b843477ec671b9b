"""Global configuration options of flaxen.

Read a flag as an attribute and change it with :func:`update`:

>>> from flaxen import config
>>> config.flaxen_return_frozendict
False
>>> config.update('flaxen_return_frozendict', True)
>>> config.flaxen_return_frozendict
True
>>> config.update('flaxen_return_frozendict', False)

Every flag also reads the environment variable ``FLAXEN_<NAME>`` at start-up.
"""

from typing import Any

from flaxen.configurations._flags import config as _config

update = _config.update
temp_flip_flag = _config.temp_flip_flag
describe = _config.describe


def __getattr__(name: str) -> Any:
    return getattr(_config, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(_config)))
