import { describe, expect, it } from "vitest";
import { ApiError } from "../src/api";
import { safeNext } from "../src/ui/auth";
import { describe as words, toProblem } from "../src/ui/errors";
import { tokenFromHash } from "../src/ui/screens/Password";
import { waitWords } from "../src/ui/strings";

describe("API errors as words", () => {
  it("uses the server's words for input and conflict errors", () => {
    const p = toProblem(new ApiError("CONFLICT", "a case with this reference already exists", 409));
    expect(p.message).toBe("A case with this reference already exists.");
  });

  it("never shows an internal error's text", () => {
    const p = toProblem(new ApiError("INTERNAL", "db pool timed out at src/x.rs:12", 500));
    expect(p.message).not.toContain("src/x.rs");
    expect(p.message).toMatch(/went wrong/);
  });

  it("says how long to wait when rate limited or locked out", () => {
    expect(toProblem(new ApiError("RATE_LIMITED", "too many", 429, 125)).message).toBe("Too many attempts. Try again in 2 minutes.");
    expect(words("RATE_LIMITED", undefined, 1)).toMatch(/1 second\.$/);
    expect(waitWords(7200)).toBe("2 hours");
  });

  it("reads a GraphQL error's extensions", () => {
    const combined = { graphQLErrors: [{ message: "no such case", extensions: { code: "NOT_FOUND" } }], networkError: undefined };
    expect(toProblem(combined).code).toBe("NOT_FOUND");
    expect(toProblem(combined).message).toMatch(/^Not found/);
    expect(toProblem({ graphQLErrors: [], networkError: new TypeError("fetch failed") }).code).toBe("NETWORK");
  });

  it("keeps the field an input error is about", () => {
    const p = toProblem(new ApiError("BAD_USER_INPUT", "too short", 400, undefined, "password"));
    expect(p.field).toBe("password");
  });
});

describe("links", () => {
  it("reads a password link's token from the fragment only when it looks like one", () => {
    expect(tokenFromHash("#token=abcdefghijklmnopqrstuvwxyz_-0123")).toBe("abcdefghijklmnopqrstuvwxyz_-0123");
    expect(tokenFromHash("#token=")).toBeNull();
    expect(tokenFromHash("#token=<script>")).toBeNull();
    expect(tokenFromHash("")).toBeNull();
  });

  it("sends a signed-in browser back only to a path of this origin", () => {
    expect(safeNext("/cases/1?x=2")).toBe("/cases/1?x=2");
    expect(safeNext("//evil.example/")).toBe("/");
    expect(safeNext("/\\evil.example")).toBe("/");
    expect(safeNext("https://evil.example/")).toBe("/");
    expect(safeNext(null, "/home")).toBe("/home");
  });
});
