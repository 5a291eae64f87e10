// verifies: id-name-undefined
// ExportJob objects come from newUniqueId(): ctx.id.name is undefined there, so
// the export's object key must not be built from it.
import { expect, it } from "vitest";
import { runExport } from "./flows";

it("the export's R2 key names the job, not `undefined`", async () => {
  const status = await runExport("user-y", "10.2.0.2");
  expect(status.status).toBe("done");
  expect(status.objectKey).toMatch(/^exports\/user-y\//);
  expect(status.objectKey).not.toContain("undefined");
});
