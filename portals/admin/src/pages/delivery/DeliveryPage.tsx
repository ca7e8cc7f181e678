// Outgoing mail (org admins): what waits for the mail server and what failed,
// with the server's reason, and "Retry now" for a failed message.

import { MailDeliveriesDocument, RetryMailDeliveryDocument, type MailDeliveriesQuery, type MailDeliveryStatus } from "@accord/shared/gql";
import { Alert, Badge, Button, Empty, ErrorAlert, formatDateTime, Loading, PageTitle, SelectField, toProblem, useSession } from "@accord/shared/ui";
import { useRef, useState } from "react";
import { useMutation, useQuery } from "urql";
import { t } from "../../strings";
import { OnlyAdmins } from "../common/Forbidden";
import { useViewerZone } from "../common/hooks";
import "../pages.css";

const s = t.delivery;

type Row = MailDeliveriesQuery["mailDeliveries"][number];
type Show = "open" | "failed" | "sent" | "cancelled";

/** The statuses each choice of the "Show" menu lists. */
export const SHOWN: Record<Show, MailDeliveryStatus[]> = {
  open: ["PENDING", "RUNNING", "FAILED"],
  failed: ["FAILED"],
  sent: ["SENT"],
  cancelled: ["CANCELLED"],
};

export function DeliveryPage() {
  const session = useSession();
  if (session.role !== "org_admin") return <OnlyAdmins title={s.title} body={s.onlyAdmins} />;
  return <Deliveries />;
}

function Deliveries() {
  const [show, setShow] = useState<Show>("open");
  const [notice, setNotice] = useState<string | null>(null);
  const noticeRef = useRef<HTMLDivElement>(null);
  return (
    <>
      <PageTitle>{s.title}</PageTitle>
      <p className="muted">{s.intro}</p>
      <div className="card">
        <SelectField
          label={s.show}
          value={show}
          onChange={(e) => {
            setShow(e.target.value as Show);
            setNotice(null);
          }}
        >
          <option value="open">{s.showOpen}</option>
          <option value="failed">{s.showFailed}</option>
          <option value="sent">{s.showSent}</option>
          <option value="cancelled">{s.showCancelled}</option>
        </SelectField>
      </div>
      <div ref={noticeRef} tabIndex={-1}>
        {notice ? (
          <Alert kind="ok" live>
            {notice}
          </Alert>
        ) : null}
      </div>
      <DeliveryTable
        show={show}
        onRetried={(to) => {
          setNotice(s.retried(to));
          // The retried row's button is gone: focus the notice that says what happened.
          setTimeout(() => noticeRef.current?.focus(), 0);
        }}
      />
    </>
  );
}

function DeliveryTable({ show, onRetried }: { show: Show; onRetried: (to: string) => void }) {
  const zone = useViewerZone();
  const [{ data, fetching, error }, refetch] = useQuery({ query: MailDeliveriesDocument, variables: { statuses: SHOWN[show] }, requestPolicy: "cache-and-network" });
  const [retry, runRetry] = useMutation(RetryMailDeliveryDocument);
  const [retrying, setRetrying] = useState<string | null>(null);
  if (error && !data) return <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} />;
  if (!data && fetching) return <Loading />;
  const rows: Row[] = data?.mailDeliveries ?? [];
  if (rows.length === 0) {
    const empty = { open: s.none, failed: s.noneFailed, sent: s.noneSent, cancelled: s.noneCancelled }[show];
    return <Empty>{empty}</Empty>;
  }
  const doRetry = async (row: Row) => {
    setRetrying(row.id);
    const result = await runRetry({ id: row.id });
    setRetrying(null);
    if (!result.error) {
      onRetried(row.recipient);
      refetch({ requestPolicy: "network-only" });
    }
  };
  return (
    <section className="card" aria-label={s.title}>
      {retry.error ? <ErrorAlert problem={toProblem(retry.error)} /> : null}
      <table className="data">
        <thead>
          <tr>
            <th scope="col">{s.colTo}</th>
            <th scope="col">{s.colSubject}</th>
            <th scope="col">{s.colStatus}</th>
            <th scope="col">{s.colAttempts}</th>
            <th scope="col">{s.colWhen}</th>
            <th scope="col">{s.colError}</th>
            <th scope="col">{s.colAction}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id}>
              <td data-label={s.colTo} className="mono">
                {row.recipient}
              </td>
              <td data-label={s.colSubject}>
                {row.subject}
                <br />
                <span className="muted">{s.kinds[row.kind] ?? row.kind}</span>
              </td>
              <td data-label={s.colStatus}>
                <Badge kind={row.status === "FAILED" ? "danger" : row.status === "SENT" ? "ok" : row.status === "CANCELLED" ? undefined : "warn"}>{s.status[row.status]}</Badge>
              </td>
              <td data-label={s.colAttempts}>{s.attemptsOf(row.attempts, row.maxAttempts)}</td>
              <td data-label={s.colWhen}>{formatDateTime(row.status === "PENDING" ? row.runAt : row.updatedAt, { timeZone: zone })}</td>
              <td data-label={s.colError} className="mono">
                {row.lastError ?? ""}
              </td>
              <td data-label={s.colAction}>
                {row.status === "FAILED" ? (
                  <Button small busy={retrying === row.id} aria-label={s.retryOf(row.recipient)} onClick={() => void doRetry(row)}>
                    {s.retry}
                  </Button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
