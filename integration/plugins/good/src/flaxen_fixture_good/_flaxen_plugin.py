import argparse

from flaxen.plugins import hookimpl, lazy


class HelloCommand:
    help = "Say hello (fixture command)."

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("who", nargs="?", default="world")

    def run(self, args: argparse.Namespace) -> int:
        print(f"hello, {args.who}")
        return 0


@hookimpl
def flaxen_linen_exports(register):
    register("good_double", lazy("flaxen_fixture_good._functions:good_double"))


@hookimpl
def flaxen_cli_commands(register):
    register("fixture_hello", HelloCommand())
