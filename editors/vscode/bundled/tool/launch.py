"""Starts the durable-harden language server for the VS Code extension.

The extension runs `<python> -I <extension>/bundled/tool/launch.py [--from-environment] serve`
with the extension's own folder as current directory. `-I` (isolated mode) keeps the current
directory, the script's folder, PYTHONPATH and the user site-packages off sys.path, so nothing
of the workspace (a `server/` package, a `durable_harden.py`) can be imported in place of the
server; this file then puts exactly one durable-harden on sys.path:

- default (`durableHarden.importStrategy` = `useBundled`): the bundled copy, `bundled/libs`
  plus `bundled/libs-cp3XX` (the dependencies with one wheel per CPython version);
- `--from-environment` (`fromEnvironment`): the durable-harden installed in this interpreter's
  environment (site-packages, and the user site-packages that `-I` left out), falling back to
  the bundled copy with a message on stderr when there is none.
"""

import importlib.util
import os
import site
import sys

MINIMUM = (3, 11)
HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLED = os.path.dirname(HERE)


def fail(message):
    sys.stderr.write("durable-harden: " + message + "\n")
    raise SystemExit(2)


def use_bundled():
    libs = os.path.join(BUNDLED, "libs")
    tagged = os.path.join(BUNDLED, "libs-cp%d%d" % sys.version_info[:2])
    if not os.path.isdir(libs):
        fail("the extension has no bundled server (%s is missing)" % libs)
    if not os.path.isdir(tagged):
        have = sorted(n[5:] for n in os.listdir(BUNDLED) if n.startswith("libs-cp"))
        fail(
            "the bundled server has no build for Python %d.%d (it has %s); set "
            "durableHarden.interpreter to one of those"
            % (sys.version_info[:2] + (", ".join(have),))
        )
    sys.path[0:0] = [tagged, libs]


def main():
    if sys.version_info < MINIMUM:
        fail(
            "needs Python %d.%d or newer; %s is %d.%d (set durableHarden.interpreter)"
            % (MINIMUM + (sys.executable,) + sys.version_info[:2])
        )
    # -I put neither '' nor this folder on sys.path; drop this folder anyway if a caller forgot -I
    sys.path[:] = [p for p in sys.path if p not in ("", HERE, os.getcwd())]
    args = sys.argv[1:]
    if args[:1] == ["--from-environment"]:
        args = args[1:]
        user_site = site.getusersitepackages()  # `pip install --user`, which -I hides
        if os.path.isdir(user_site) and user_site not in sys.path:
            site.addsitedir(user_site)
        if importlib.util.find_spec("durable_harden") is None:
            sys.stderr.write(
                "durable-harden: not installed in %s's environment; using the bundled server\n"
                % sys.executable
            )
            use_bundled()
    else:
        use_bundled()
    from durable_harden.server.cli import main as cli_main

    sys.argv = ["durable-harden", *args]
    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
