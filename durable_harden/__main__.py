"""`python -m durable_harden …` is the `durable-harden` console script."""

from durable_harden.server.cli import run

if __name__ == "__main__":
    run()
