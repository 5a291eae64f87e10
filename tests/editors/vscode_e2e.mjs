// End-to-end check of the packaged extension in real VS Code (code-server), driven through
// Debian's chromium with puppeteer-core. Run by tests/editors/test_vscode_extension.py:
//   node vscode_e2e.mjs <puppeteer-core dir> <code-server URL> <project folder> <chromium> <mode>
// Opens wrangler.jsonc, then
// - mode `disabled` (durableHarden.enable false): the language status says "disabled" and the
//   Problems panel has no durable-harden row; stops there.
// Otherwise waits for a durable-harden diagnostic, checks the command palette lists the
// extension's commands, then
// - mode `diagnostic`: stops there;
// - mode `restart`: sets durableHarden.interpreter in the folder's settings and waits for the
//   extension's log to show the server restarted with it;
// - mode `save`: types a newline and saves: `editor.codeActionsOnSave` with
//   `source.fixAll.durable-harden` must write the missing migration to disk;
// - mode `quickfix`: checks the language status item (version, "running; N findings"), goes to
//   the ExportJob binding, opens the quick fix menu (Ctrl+.), picks
//   "Append a migration creating `ExportJob`" and saves: the migration must be on disk.
// Exit code 1 on failure.
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";

const [puppeteerDir, url, folder, chromium, mode = "save"] = process.argv.slice(2);
const require = createRequire(path.join(puppeteerDir, "package.json"));
const puppeteer = require("puppeteer-core");

const config = path.join(folder, "wrangler.jsonc");
const steps = [];
function step(message) {
  steps.push(message);
  process.stdout.write(`${message}\n`);
}
function fail(message) {
  process.stderr.write(`FAIL: ${message}\n`);
  process.exitCode = 1;
}

async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function chord(page, key, modifiers = ["Control"]) {
  for (const m of modifiers) await page.keyboard.down(m);
  await page.keyboard.press(key);
  for (const m of [...modifiers].reverse()) await page.keyboard.up(m);
}

const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900"],
  defaultViewport: { width: 1400, height: 900 },
});
try {
  const page = await browser.newPage();
  await page.goto(`${url}/?folder=${encodeURIComponent(folder)}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector(".monaco-workbench", { timeout: 60000 });
  step("workbench loaded");

  // open wrangler.jsonc through Quick Open
  await waitFor(
    "wrangler.jsonc in an editor",
    async () => {
      await page.keyboard.press("Escape");
      await chord(page, "KeyP");
      const input = await page.waitForSelector(".quick-input-widget input", { timeout: 5000 });
      await input.type("wrangler.jsonc");
      await new Promise((r) => setTimeout(r, 800));
      await page.keyboard.press("Enter");
      await new Promise((r) => setTimeout(r, 800));
      return page.$(".tab.active[aria-label*='wrangler.jsonc'], .tab.active[title*='wrangler.jsonc']");
    },
    30000,
  );
  step("wrangler.jsonc opened");
  flow: {

    if (mode === "disabled") {
      // durableHarden.enable = false for the folder: the status says so and nothing is reported
      await page.click(".monaco-editor .view-lines");
      await waitFor(
        "the language status saying disabled",
        async () => {
          const item = await page.$("#status\\.languageStatus");
          if (item === null) return null;
          await item.hover();
          await new Promise((r) => setTimeout(r, 500));
          const text = await page.$$eval(".monaco-hover, .workbench-hover", (els) =>
            els.map((e) => e.textContent || "").join(" | "),
          );
          return /Durable Harden.*disabled; 0 findings/.test(text) ? text : null;
        },
        20000,
      );
      step("language status: disabled");
      await page.mouse.move(10, 10);
      await chord(page, "KeyM", ["Control", "Shift"]);
      await new Promise((r) => setTimeout(r, 3000));
      const rows = await page.$$eval(".markers-panel .monaco-list-row", (els) =>
        els.map((e) => `${e.getAttribute("aria-label") || ""} ${e.textContent || ""}`),
      );
      if (rows.some((r) => r.includes("durable-harden"))) {
        throw new Error(`durable-harden problems while disabled: ${JSON.stringify(rows)}`);
      }
      step("no durable-harden problems");
      break flow;
    }

    // a diagnostic from the server in the Problems panel (the JSON service reports there too)
    await chord(page, "KeyM", ["Control", "Shift"]);
    const problem = await waitFor(
      "a durable-harden diagnostic in the Problems panel",
      async () => {
        const rows = await page.$$eval(".markers-panel .monaco-list-row", (els) =>
          els.map((e) => `${e.getAttribute("aria-label") || ""} ${e.textContent || ""}`),
        );
        return rows.find((r) => r.includes("durable-harden") && r.includes("ExportJob"));
      },
      60000,
    );
    step(`diagnostic shown: ${problem.slice(0, 120)}`);
    await page.click(".monaco-editor .view-lines");

    // the contributed commands in the command palette
    await page.keyboard.press("F1");
    const palette = await page.waitForSelector(".quick-input-widget input", { timeout: 5000 });
    await palette.type("Durable Harden");
    const labels = await waitFor(
      "Durable Harden commands in the palette",
      async () => {
        const rows = await page.$$eval(".quick-input-list .monaco-list-row", (els) =>
          els.map((e) => e.getAttribute("aria-label") || e.textContent || ""),
        );
        return rows.length >= 3 ? rows : null;
      },
      10000,
    );
    for (const title of ["Harden all Durable Objects", "Restart server", "Show output"]) {
      if (!labels.some((l) => l.includes(`Durable Harden: ${title}`))) {
        fail(`command palette lacks "Durable Harden: ${title}" (has ${JSON.stringify(labels)})`);
      }
    }
    step(`palette: ${labels.filter((l) => l.includes("Durable Harden")).length} commands`);
    await page.keyboard.press("Escape");

    if (mode === "diagnostic") break flow; // the diagnostic and the palette are enough
    if (mode === "restart") {
      // a changed durableHarden.interpreter restarts the server with it: write it into the
      // folder's .vscode/settings.json and wait for the extension's log (under DH_DATA) to say so
      const python = process.env.DH_RESTART_PYTHON;
      fs.mkdirSync(path.join(folder, ".vscode"), { recursive: true });
      fs.writeFileSync(
        path.join(folder, ".vscode", "settings.json"),
        JSON.stringify({ "durableHarden.interpreter": python }),
      );
      const logFile = () => {
        const stack = [process.env.DH_DATA];
        while (stack.length) {
          const dir = stack.pop();
          for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) stack.push(full);
            else if (entry.name === "Durable Harden.log") return full;
          }
        }
        return null;
      };
      await waitFor(
        "the server restarted with the new interpreter",
        () => {
          const file = logFile();
          const text = file ? fs.readFileSync(file, "utf8") : "";
          const after = text.split("restarting")[1] ?? "";
          return after.includes(`starting ${python} -I`) && after.includes("running");
        },
        30000,
      );
      step("restarted with the new interpreter");
      break flow;
    }
    const fixed = () => /"new_sqlite_classes":\s*\["ExportJob"\]/.test(fs.readFileSync(config, "utf8"));
    if (mode === "quickfix") {
      // the language status item ({} in the status bar): server state, version, findings
      await page.click(".monaco-editor .view-lines");
      const status = await waitFor(
        "the Durable Harden language status",
        async () => {
          const item = await page.$("#status\\.languageStatus");
          if (item === null) return null;
          await item.hover();
          await new Promise((r) => setTimeout(r, 500));
          const text = await page.$$eval(".monaco-hover, .workbench-hover", (els) =>
            els.map((e) => e.textContent || "").join(" | "),
          );
          return /Durable Harden \d+\.\d+\.\d+/.test(text) && /running; \d+ findings?/.test(text)
            ? text
            : null;
        },
        20000,
      );
      const shown = status.match(/Durable Harden \d+\.\d+\.\d+.*?running; \d+ findings?/);
      step(`language status: ${shown ? shown[0] : status.slice(0, 200)}`);
      await page.mouse.move(10, 10);

      // the ExportJob binding (line 24, column 23) carries binding-missing-migration
      const title = "Append a migration creating `ExportJob`";
      let attempt = 0;
      while (!fixed() && attempt < 3) {
        attempt += 1;
        await page.click(".monaco-editor .view-lines");
        await chord(page, "KeyG");
        const goto = await page.waitForSelector(".quick-input-widget input", { timeout: 5000 });
        await goto.type("24:25");
        await page.keyboard.press("Enter");
        await new Promise((r) => setTimeout(r, 500));
        await chord(page, "Period");
        const row = await waitFor(
          `"${title}" in the quick fix menu`,
          async () => {
            const rows = await page.$$(".action-widget .monaco-list-row");
            for (const r of rows) {
              const text = await r.evaluate((e) => e.textContent || "");
              if (text.includes(title)) return r;
            }
            return null;
          },
          15000,
        ).catch(() => null);
        if (row === null) {
          const shown = await page.$$eval(".action-widget .monaco-list-row", (els) =>
            els.map((e) => e.textContent),
          );
          step(`quick fix menu ${attempt}: ${JSON.stringify(shown)}`);
          await page.keyboard.press("Escape");
          continue;
        }
        await row.click();
        await new Promise((r) => setTimeout(r, 500));
        await chord(page, "KeyS");
        await waitFor("the quick fix saved to disk", fixed, 10000).catch(() => undefined);
        step(`quick fix ${attempt}: ${fixed() ? "applied" : "not applied"}`);
      }
      if (!fixed()) throw new Error("the quick fix was not applied");
      step("quick fix applied");
    } else {
      // edit and save: the fix-all code action on save adds the missing migration. Now and then
      // (under load) VS Code saves without asking the code action providers at all (no request
      // reaches the server; seen in the LSP trace), so an unchanged file gets a second save.
      const before = fs.readFileSync(config, "utf8");
      let attempt = 0;
      while (!fixed() && attempt < 3) {
        attempt += 1;
        await page.click(".monaco-editor .view-lines");
        await chord(page, "End");
        await page.keyboard.type("\n");
        await new Promise((r) => setTimeout(r, 500));
        await chord(page, "KeyS");
        await waitFor("the file saved", () => fs.readFileSync(config, "utf8") !== before, 15000).catch(
          () => undefined,
        );
        await waitFor("the fix-all on save written to disk", fixed, 10000).catch(() => undefined);
        step(`save ${attempt}: ${fixed() ? "fixed" : "not fixed"}`);
      }
      if (!fixed()) throw new Error("the fix-all on save was not written to disk");
      step("fix-all on save applied");
    }
  } // flow
} catch (error) {
  fail(`${error.message} (after: ${steps.join(" / ")})`);
  process.stderr.write(`wrangler.jsonc now:\n${fs.readFileSync(config, "utf8")}\n`);
} finally {
  await browser.close();
}
