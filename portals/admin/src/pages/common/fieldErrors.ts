import type { Problem } from "@accord/shared/ui";

/**
 * Splits a problem between a form's fields: `at(field)` is its message when
 * it concerns that field, `rest` is the problem when it concerns none of
 * `fields` (shown above the submit button).
 */
export function fieldErrors(problem: Problem | null, fields: readonly string[]): { at: (field: string) => string | undefined; rest: Problem | null } {
  const inline = problem?.field !== undefined && fields.includes(problem.field);
  return {
    at: (field) => (inline && problem?.field === field ? problem.message : undefined),
    rest: inline ? null : problem,
  };
}
