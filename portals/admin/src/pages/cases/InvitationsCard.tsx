// Per person on a case, where their invite link stands (sent, delivered,
// opened, redeemed, failed, expired) and whether a device is registered,
// with "Resend" (a fresh link; the device stays) and "Re-invite" (the device
// revoked, then a fresh link). For the case's mediator and org admins.

import { CaseInvitationsDocument, ReinvitePartyDocument, ResendInvitationDocument, type CaseInvitationsQuery, type InvitationStatus } from "@accord/shared/gql";
import { Badge, Button, ConfirmButton, ErrorAlert, Loading, formatDateTime, toProblem, type Problem } from "@accord/shared/ui";
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { t } from "../../strings";
import type { CaseData } from "../CaseDetail";

const s = t.invitations;

type Invitation = CaseInvitationsQuery["caseInvitations"][number];
type Person = CaseData["parties"][number];

const KIND: Record<InvitationStatus, "ok" | "warn" | "danger" | undefined> = {
  QUEUED: undefined,
  SENT: undefined,
  DELIVERED: undefined,
  OPENED: "warn",
  REDEEMED: "ok",
  FAILED: "danger",
  BOUNCED: "danger",
  EXPIRED: "warn",
};

export function InvitationsCard({ caseId, people, onNotice }: { caseId: string; people: readonly Person[]; onNotice: (n: string) => void }) {
  const [{ data, fetching, error }, refetch] = useQuery({ query: CaseInvitationsDocument, variables: { caseId }, requestPolicy: "cache-and-network" });
  const reload = () => refetch({ requestPolicy: "network-only" });
  if (people.length === 0) return null;
  const byParty = new Map((data?.caseInvitations ?? []).map((i) => [i.partyId, i]));
  return (
    <section aria-labelledby="invitations-title" className="invitations">
      <h3 id="invitations-title">{s.title}</h3>
      <p className="muted">{s.intro}</p>
      {fetching && !data ? <Loading label={s.loading} /> : null}
      {error ? <ErrorAlert problem={toProblem(error)} onRetry={reload} /> : null}
      {data ? (
        <table className="data">
          <thead>
            <tr>
              <th scope="col">{s.colPerson}</th>
              <th scope="col">{s.colStatus}</th>
              <th scope="col">{s.colDevice}</th>
              <th scope="col">{s.colActions}</th>
            </tr>
          </thead>
          <tbody>
            {people.map((p) => (
              <InvitationRow key={p.id} person={p} invitation={byParty.get(p.id)} onChanged={reload} onNotice={onNotice} />
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function InvitationRow({ person, invitation, onChanged, onNotice }: { person: Person; invitation: Invitation | undefined; onChanged: () => void; onNotice: (n: string) => void }) {
  const [problem, setProblem] = useState<Problem | null>(null);
  const [resending, resend] = useMutation(ResendInvitationDocument);
  const [reinviting, reinvite] = useMutation(ReinvitePartyDocument);
  const name = person.displayName;
  const run = async (action: typeof resend | typeof reinvite, notice: string) => {
    setProblem(null);
    const r = await action({ partyId: person.id });
    if (r.error) {
      setProblem(toProblem(r.error));
      return;
    }
    onChanged();
    onNotice(notice);
  };
  return (
    <tr>
      <td data-label={s.colPerson}>{name}</td>
      <td data-label={s.colStatus}>
        {invitation ? (
          <>
            <Badge kind={KIND[invitation.status]}>{s.status[invitation.status]}</Badge>
            <div className="muted">
              {invitation.redeemedAt ? s.redeemed(formatDateTime(invitation.redeemedAt)) : s.expires(formatDateTime(invitation.expiresAt))}
            </div>
            {invitation.deliveryDetail && (invitation.status === "FAILED" || invitation.status === "BOUNCED") ? <div className="muted">{invitation.deliveryDetail}</div> : null}
          </>
        ) : (
          <span className="muted">{s.notInvited}</span>
        )}
      </td>
      <td data-label={s.colDevice}>{s.device(invitation?.deviceRegistered ?? false)}</td>
      <td data-label={s.colActions}>
        <div className="row-actions">
          <Button small aria-label={s.resendLabel(name)} busy={resending.fetching} onClick={() => void run(resend, s.resent(name))}>
            {invitation ? s.resend : s.send}
          </Button>
          {invitation?.deviceRegistered ? (
            <ConfirmButton
              label={s.reinviteLabel(name)}
              question={s.reinviteQuestion(name)}
              confirm={s.reinviteConfirm}
              cancel={s.cancel}
              busy={reinviting.fetching}
              onConfirm={() => run(reinvite, s.reinvited(name))}
            >
              {s.reinvite}
            </ConfirmButton>
          ) : null}
        </div>
        <ErrorAlert problem={problem} />
      </td>
    </tr>
  );
}
