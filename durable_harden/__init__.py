"""durable-harden: find and fix what keeps Cloudflare Durable Objects from surviving production.

The one import package of the distribution. In the repository its subpackages stay at the top
(`analyzers/`, `codeactions/`, `server/`: the design card's layout); `durable_harden/` links to
them, and the wheel installs them as `durable_harden.analyzers`, `durable_harden.codeactions`
and `durable_harden.server`, so nothing named `server` or `analyzers` lands in site-packages.
"""

__version__ = "0.1.0"
