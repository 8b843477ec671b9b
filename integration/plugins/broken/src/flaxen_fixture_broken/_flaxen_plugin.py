import flaxen_fixture_this_module_does_not_exist  # noqa: F401  (the point of the fixture)
