import { AuditChainDocument } from "@accord/shared/gql";
import { Button, ErrorAlert, formatDateTime, Loading, toProblem } from "@accord/shared/ui";
import { useQuery } from "urql";
import { t } from "../../strings";
import { useViewerZone } from "../common/hooks";

const s = t.pages.audit;

/** Whether the organisation's audit chain verifies from its first event to its head, checked by the server now. */
export function ChainStatus() {
  const zone = useViewerZone();
  const [{ data, fetching, error }, recheck] = useQuery({ query: AuditChainDocument, requestPolicy: "network-only" });
  const c = data?.auditChain;
  const again = () => recheck({ requestPolicy: "network-only" });
  return (
    <section className={`card alert ${c ? (c.verified ? "alert-ok" : "alert-error") : "alert-info"}`} aria-labelledby="audit-chain" aria-busy={fetching || undefined}>
      <h2 id="audit-chain">{s.chain}</h2>
      {error ? <ErrorAlert problem={toProblem(error)} onRetry={again} /> : null}
      {!c && fetching ? <Loading /> : null}
      {c ? (
        <div className="chain">
          <span className="chain-mark" aria-hidden="true">
            {c.verified ? "✓" : "✗"}
          </span>
          <div>
            <p role={c.verified ? undefined : "alert"}>
              <strong>{c.verified ? s.chainOk(c.events) : s.chainBroken(c.brokenAtSeq)}</strong>
              {!c.verified && c.problem ? ` ${c.problem}` : null}
            </p>
            <p className="muted">{s.checkedAt(formatDateTime(c.checkedAt, { timeZone: zone }))}</p>
            <Button small onClick={again} busy={fetching}>
              {s.recheck}
            </Button>
          </div>
        </div>
      ) : null}
    </section>
  );
}
