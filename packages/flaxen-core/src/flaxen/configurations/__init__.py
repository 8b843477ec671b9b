"""Global configuration flags of flaxen (the machinery behind :mod:`flaxen.config`).

Every flag is named ``flaxen_<name>``, can be set before start-up with the
environment variable ``FLAXEN_<NAME>``, and at run time with
``flaxen.config.update('flaxen_<name>', value)``.
"""

from ._flags import Config as Config
from ._flags import FlagHolder as FlagHolder
from ._flags import bool_flag as bool_flag
from ._flags import config as config
from ._flags import flaxen_filter_frames as flaxen_filter_frames
from ._flags import flaxen_fix_rng_separator as flaxen_fix_rng_separator
from ._flags import flaxen_max_repr_depth as flaxen_max_repr_depth
from ._flags import flaxen_preserve_adopted_names as flaxen_preserve_adopted_names
from ._flags import flaxen_profile as flaxen_profile
from ._flags import flaxen_return_frozendict as flaxen_return_frozendict
from ._flags import flaxen_use_orbax_checkpointing as flaxen_use_orbax_checkpointing
from ._flags import int_flag as int_flag
from ._flags import static_bool_env as static_bool_env
from ._flags import static_int_env as static_int_env

define_bool_state = bool_flag
