import { MediatorsDocument } from "@accord/shared/gql";
import { toProblem, type Problem } from "@accord/shared/ui";
import { useQuery } from "urql";

export type MediatorChoice = { id: string; name: string };

/** The organisation's members with the mediator role, by name. */
export function useMediators(pause = false): { mediators: MediatorChoice[] | null; problem: Problem | null } {
  const [{ data, error }] = useQuery({ query: MediatorsDocument, pause });
  const mediators = data
    ? data.members
        .filter((m) => m.role === "MEDIATOR")
        .map((m) => ({ id: m.user.id, name: m.user.displayName }))
        .sort((a, b) => a.name.localeCompare(b.name))
    : null;
  return { mediators, problem: error ? toProblem(error) : null };
}
