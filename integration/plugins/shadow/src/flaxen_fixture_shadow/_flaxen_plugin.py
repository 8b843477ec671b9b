from flaxen.plugins import hookimpl


def good_double(x):
    return x + x


@hookimpl
def flaxen_linen_exports(register):
    register("shadow_only", abs)
    register("good_double", good_double)
