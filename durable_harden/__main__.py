"""`python -m durable_harden …` is the `durable-harden` console script."""

from durable_harden.server.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
