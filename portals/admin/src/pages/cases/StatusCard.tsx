import { UpdateCaseStatusDocument, type CaseStatus } from "@accord/shared/gql";
import { Card, ConfirmButton, ErrorAlert, toProblem, type Problem, type Role } from "@accord/shared/ui";
import { useState } from "react";
import { useMutation } from "urql";
import { t } from "../../strings";
import type { CaseData } from "../CaseDetail";
import { can } from "../common/permissions";
import { nextStatuses } from "./status";

const s = t.pages.caseDetail;

export function StatusCard({ c, role, onNotice }: { c: CaseData; role: Role; onNotice: (n: string) => void }) {
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, update] = useMutation(UpdateCaseStatusDocument);
  const [moving, setMoving] = useState<CaseStatus | null>(null);
  const next = nextStatuses(c.status);
  const mayMove = can(role, "updateCaseStatus");

  const move = async (to: CaseStatus) => {
    setProblem(null);
    setMoving(to);
    const r = await update({ id: c.id, status: to });
    setMoving(null);
    if (r.error) setProblem(toProblem(r.error));
    else onNotice(s.moved(t.pages.caseStatus[to]));
  };

  return (
    <Card title={s.status}>
      <p>{s.statusNow(t.pages.caseStatus[c.status])}</p>
      {c.status === "CLOSED" ? <p className="muted">{s.closedForGood}</p> : null}
      {c.status === "SETTLED" ? <p className="muted">{s.settledOnly}</p> : null}
      {mayMove && next.length > 0 ? (
        <div className="row">
          {next.map((to) =>
            to === "SETTLED" || to === "CLOSED" ? (
              <ConfirmButton
                key={to}
                small={false}
                question={s.moveQuestion[to]}
                confirm={s.moveConfirm[to]}
                cancel={t.pages.common.cancel}
                busy={fetching && moving === to}
                disabled={fetching}
                onConfirm={() => move(to)}
              >
                {t.pages.moveTo[to]}
              </ConfirmButton>
            ) : (
              <button key={to} type="button" className="btn" disabled={fetching} aria-busy={(fetching && moving === to) || undefined} onClick={() => void move(to)}>
                {t.pages.moveTo[to]}
              </button>
            ),
          )}
        </div>
      ) : null}
      <ErrorAlert problem={problem} />
    </Card>
  );
}
