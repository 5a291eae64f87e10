  # JSON / JSONC: drop comments and trailing commas, keep migrations and exports (top level and
  # every env section), print them as one line of JSON
  # shellcheck disable=SC2016  # JavaScript, not shell: nothing to expand
  node -e '
    let src = "";
    process.stdin.on("data", (chunk) => (src += chunk));
    process.stdin.on("end", () => {
      let out = "";
      let quote = null;
      for (let i = 0; i < src.length; i++) {
        const c = src[i];
        if (quote) {
          out += c;
          if (c === "\\") out += src[++i] ?? "";
          else if (c === quote) quote = null;
        } else if (c === "\"" || c === "'\''") {
          quote = c;
          out += c;
        } else if (c === "/" && src[i + 1] === "/") {
          while (i < src.length && src[i] !== "\n") i++;
          out += "\n";
        } else if (c === "/" && src[i + 1] === "*") {
          const end = src.indexOf("*/", i + 2);
          i = end < 0 ? src.length : end + 1;
        } else {
          out += c;
        }
      }
      const config = src.trim() ? JSON.parse(out.replace(/,(\s*[}\]])/g, "$1")) : {};
      const pick = (section) => ({ migrations: section.migrations ?? null, exports: section.exports ?? null });
      const envs = Object.entries(config.env ?? {}).map(([name, section]) => [name, pick(section)]);
      console.log(JSON.stringify({ ...pick(config), env: Object.fromEntries(envs) }));
    });'
