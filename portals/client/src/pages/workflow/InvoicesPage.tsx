// A party's invoices: their own share of each invoice and credit note issued
// on their cases (the API shows nothing of other parties' shares), each
// downloadable as a PDF that also shows only their share.

import { MyInvoicesDocument } from "@accord/shared/gql";
import { Badge, Card, Empty, ErrorAlert, formatDate, Loading, PageTitle, toProblem } from "@accord/shared/ui";
import { useQuery } from "urql";
import { wf } from "./strings";

const s = wf.invoices;

function money(minor: number, currency: string): string {
  const digits = ["JPY", "KRW", "ISK", "CLP", "VND"].includes(currency) ? 0 : 2;
  const sign = minor < 0 ? "-" : "";
  const abs = Math.abs(minor);
  return digits === 0 ? `${sign}${abs} ${currency}` : `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")} ${currency}`;
}

export function InvoicesPage() {
  const [{ data, error, fetching }, refetch] = useQuery({ query: MyInvoicesDocument, requestPolicy: "cache-and-network" });
  return (
    <>
      <PageTitle>{s.title}</PageTitle>
      <p className="muted">{s.intro}</p>
      {error && !data ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && fetching ? <Loading /> : null}
      {data && data.myInvoices.length === 0 ? <Empty>{s.none}</Empty> : null}
      {(data?.myInvoices ?? []).map((i) => {
        const mine = i.shares[0];
        return (
          <Card key={i.id} title={`${i.label ?? ""} · ${s.caseRef(i.caseReference)}`}>
            <p>
              <Badge kind={i.status === "PAID" ? "ok" : i.status === "VOID" ? "danger" : "warn"}>{s.status[i.status]}</Badge>
              {i.kind === "CREDIT_NOTE" ? <span className="muted"> · {s.creditNote}</span> : null}
            </p>
            <dl className="facts">
              <dt>{s.yourShare}</dt>
              <dd>
                <strong>{mine ? money(mine.amountMinor, i.currency) : "—"}</strong>
                {mine ? <span className="muted"> · {s.share((mine.basisPoints / 100).toFixed(mine.basisPoints % 100 === 0 ? 0 : 2))}</span> : null}
              </dd>
              <dt>{s.total}</dt>
              <dd>{i.totalText}</dd>
              {i.issuedAt ? (
                <>
                  <dt>{s.issued}</dt>
                  <dd>{formatDate(i.issuedAt)}</dd>
                </>
              ) : null}
              {i.paidAt ? (
                <>
                  <dt>{s.paidOn}</dt>
                  <dd>{formatDate(i.paidAt)}</dd>
                </>
              ) : null}
            </dl>
            <p>
              <a className="btn btn-small" href={`/invoices/${encodeURIComponent(i.id)}/pdf`} download>
                {s.pdf(i.label ?? "")}
              </a>
            </p>
            <h3>{s.lines}</h3>
            <ul>
              {i.lines.map((l, n) => (
                <li key={n}>
                  {l.description}: {money(l.amountMinor, i.currency)}
                </li>
              ))}
            </ul>
          </Card>
        );
      })}
    </>
  );
}
