// Documents attached to secure messages: a message may carry a document of
// its case shared exactly like its thread (the whole case's documents for
// the whole case's thread; a person's private documents for their private
// thread with the mediator), which the API checks again. The same pieces
// serve both portals' message screens.

import { useId } from "react";
import { useQuery } from "urql";
import { CaseDocumentsDocument, type CaseDocumentsQuery } from "../gql/graphql";
import { d } from "./strings";

type Doc = CaseDocumentsQuery["caseDocuments"][number];

/**
 * The case's documents as the viewer may see them, and those a message in a
 * thread may carry: `threadUserId` is null for the whole case's thread, the
 * person's user id for their private thread (an empty string, for someone
 * with no account yet, matches no document).
 */
export function useThreadAttachments(caseId: string, threadUserId: string | null): { fitting: Doc[]; byId: Map<string, Doc>; refresh: () => void } {
  const [{ data }, refetch] = useQuery({ query: CaseDocumentsDocument, variables: { caseId }, requestPolicy: "cache-and-network" });
  const all = data?.caseDocuments ?? [];
  const fitting = all.filter(
    (doc) =>
      (doc.latest.scanState === "CLEAN" || doc.latest.scanState === "NOT_SCANNED") &&
      (threadUserId === null ? doc.visibility === "CASE" : doc.visibility === "PARTY" && doc.partyUserId === threadUserId),
  );
  return { fitting, byId: new Map(all.map((doc) => [doc.id, doc])), refresh: () => refetch({ requestPolicy: "network-only" }) };
}

/** Choosing a document to attach (or none). */
export function AttachmentField({ docs, value, onChange }: { docs: readonly Doc[]; value: string; onChange: (id: string) => void }) {
  const id = useId();
  const hint = `${id}-hint`;
  return (
    <div className="field">
      <label htmlFor={id}>{d.attach}</label>
      <select id={id} value={value} aria-describedby={hint} onChange={(e) => onChange(e.target.value)}>
        <option value="">{d.attachNone}</option>
        {docs.map((doc) => (
          <option key={doc.id} value={doc.id}>
            {doc.name}
          </option>
        ))}
      </select>
      <p id={hint} className="muted">
        {docs.length === 0 ? d.attachNothing : d.attachHint}
      </p>
    </div>
  );
}

/** A message's attachment: a download link, or why there is none. */
export function AttachmentLink({ doc }: { doc: Doc | undefined }) {
  if (!doc || !doc.latest.downloadPath) return <p className="muted">{d.attachmentUnavailable}</p>;
  return (
    <p>
      <a href={doc.latest.downloadPath} download aria-label={d.downloadOf(doc.name)}>
        {d.attached(doc.name)}
      </a>
    </p>
  );
}
