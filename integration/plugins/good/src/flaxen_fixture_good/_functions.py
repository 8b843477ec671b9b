def good_double(x):
    """Returns ``2 * x``; exported as ``flaxen.linen.good_double``."""
    return 2 * x
