import { describe, expect, it } from "vitest";
import { formatBytes, fraction, uploadError, uploadForm } from "../src/documents/upload";

describe("document uploads", () => {
  it("sends the fields before the file, and a visibility only for new documents", () => {
    const file = Object.assign(new Blob(["%PDF-1.7"]), { name: "brief.pdf" });
    const fresh = uploadForm({ caseId: "c", file, visibility: "party" });
    expect([...fresh.keys()]).toEqual(["caseId", "visibility", "file"]);
    expect(fresh.get("visibility")).toBe("party");
    const next = uploadForm({ caseId: "c", file, documentId: "d" });
    expect([...next.keys()]).toEqual(["caseId", "documentId", "file"]);
    expect((next.get("file") as File).name).toBe("brief.pdf");
  });

  it("reads the API's error body, and a bare 413", () => {
    const e = uploadError(400, JSON.stringify({ error: { code: "BAD_USER_INPUT", message: "the file name must not contain / or \\", field: "filename" } }));
    expect([e.code, e.field, e.status]).toEqual(["BAD_USER_INPUT", "filename", 400]);
    expect(uploadError(413, "<html>").field).toBe("file");
    expect(uploadError(0, "").code).toBe("NETWORK");
    expect(uploadError(502, "bad gateway").code).toBe("INTERNAL");
  });

  it("measures progress and sizes", () => {
    expect(fraction(50, 200)).toBe(0.25);
    expect(fraction(300, 200)).toBe(1);
    expect(fraction(5, 0)).toBeNull();
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(1500)).toBe("1.5 kB");
    expect(formatBytes(104_857_600)).toBe("105 MB");
    expect(formatBytes(999_960)).toBe("1.0 MB");
    expect(formatBytes(-1)).toBe("");
  });
});
