import { AddPartyDocument, AddPartyWithOverrideDocument, PartyConflictsDocument, RemovePartyDocument, SetPartyOrganizationDocument, type PartyConflictsQuery, type PartyKind } from "@accord/shared/gql";
import { Button, Card, ConfirmButton, Empty, ErrorAlert, SelectField, TextField, toProblem, type Problem, type Role } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useClient, useMutation } from "urql";
import { t } from "../../strings";
import type { CaseData } from "../CaseDetail";
import { fieldErrors } from "../common/fieldErrors";
import { can } from "../common/permissions";
import { wf } from "../workflow/strings";
import { InvitationsCard } from "./InvitationsCard";

const s = t.pages.caseDetail;
const KINDS: readonly PartyKind[] = ["PARTY", "COUNSEL", "INTERPRETER"];

type Props = { c: CaseData; role: Role; onNotice: (n: string) => void };

export function PartiesCard({ c, role, onNotice }: Props) {
  const mayManage = can(role, "manageParties");
  const showEmail = can(role, "viewPartyContacts");
  const organizations = new Map(c.partyOrganizations.map((o) => [o.partyId, o.organization]));
  return (
    <Card title={s.parties}>
      {c.parties.length === 0 ? (
        <Empty>{s.partiesNone}</Empty>
      ) : (
        <table className="data" aria-label={s.parties}>
          <thead>
            <tr>
              <th scope="col">{s.colName}</th>
              <th scope="col">{s.colKind}</th>
              {showEmail ? <th scope="col">{s.colEmail}</th> : null}
              <th scope="col">{s.colAccount}</th>
              {showEmail ? <th scope="col">{s.colOrganization}</th> : null}
              {mayManage ? <th scope="col">{t.pages.members.colActions}</th> : null}
            </tr>
          </thead>
          <tbody>
            {c.parties.map((p) => (
              <PartyRow key={p.id} caseId={c.id} party={p} organization={organizations.get(p.id) ?? null} showEmail={showEmail} mayManage={mayManage} admin={role === "org_admin"} onNotice={onNotice} />
            ))}
          </tbody>
        </table>
      )}
      {mayManage ? <InvitationsCard caseId={c.id} people={c.parties} onNotice={onNotice} /> : null}
      {mayManage ? <AddPartyForm caseId={c.id} admin={role === "org_admin"} onNotice={onNotice} /> : null}
    </Card>
  );
}

function PartyRow({
  caseId,
  party,
  organization,
  showEmail,
  mayManage,
  admin,
  onNotice,
}: {
  caseId: string;
  party: CaseData["parties"][number];
  organization: string | null;
  showEmail: boolean;
  mayManage: boolean;
  admin: boolean;
  onNotice: (n: string) => void;
}) {
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, remove] = useMutation(RemovePartyDocument);
  const name = party.displayName;
  const doRemove = async () => {
    setProblem(null);
    const r = await remove({ partyId: party.id });
    if (r.error) {
      setProblem(toProblem(r.error));
      return;
    }
    onNotice(s.partyRemoved(name));
  };
  return (
    <tr>
      <td data-label={s.colName}>{name}</td>
      <td data-label={s.colKind}>{t.pages.partyKind[party.kind]}</td>
      {showEmail ? <td data-label={s.colEmail}>{party.email ?? ""}</td> : null}
      <td data-label={s.colAccount}>{party.userId ? s.hasAccount : <span className="muted">{s.noAccount}</span>}</td>
      {showEmail ? (
        <td data-label={s.colOrganization}>
          {mayManage ? <OrganizationForm caseId={caseId} party={party} saved={organization} admin={admin} onNotice={onNotice} /> : (organization ?? "")}
        </td>
      ) : null}
      {mayManage ? (
        <td data-label={t.pages.members.colActions}>
          <ConfirmButton label={s.removeLabel(name)} question={s.removeQuestion(name)} confirm={s.removeConfirm} cancel={t.pages.common.cancel} busy={fetching} onConfirm={doRemove}>
            {s.remove}
          </ConfirmButton>
          <ErrorAlert problem={problem} />
        </td>
      ) : null}
    </tr>
  );
}

type Found = PartyConflictsQuery["partyConflicts"];

/**
 * The organisation a person is on the case for, edited in place. A value
 * that meets the mediator's declared relationships is refused; the matches
 * are shown, and an org admin may save it with a written reason.
 */
function OrganizationForm({ caseId, party, saved, admin, onNotice }: { caseId: string; party: CaseData["parties"][number]; saved: string | null; admin: boolean; onNotice: (n: string) => void }) {
  const w = wf.conflicts;
  const [value, setValue] = useState(saved ?? "");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [found, setFound] = useState<Found | null>(null);
  const client = useClient();
  const [{ fetching }, save] = useMutation(SetPartyOrganizationDocument);
  const name = party.displayName;
  const organization = value.trim() || null;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    setFound(null);
    const r = await save({ partyId: party.id, organization });
    if (!r.error) {
      onNotice(s.organizationSaved(name));
      return;
    }
    const p = toProblem(r.error);
    if (p.code === "CONFLICT" && party.email && organization) {
      const q = await client.query(PartyConflictsDocument, { caseId, email: party.email, organization }, { requestPolicy: "network-only" }).toPromise();
      if (q.data && q.data.partyConflicts.length > 0) {
        setFound(q.data.partyConflicts);
        return;
      }
    }
    setProblem(p);
  };
  return (
    <form onSubmit={submit} noValidate className="inline-form">
      <TextField label={s.organizationOf(name)} hint={s.organizationHint} autoComplete="organization" maxLength={200} value={value} onChange={(e) => setValue(e.target.value)} />
      <Button type="submit" small busy={fetching} aria-label={s.saveOrganizationOf(name)}>
        {s.saveOrganization}
      </Button>
      <ErrorAlert problem={problem} />
      {found ? (
        <ConflictsFound
          found={found}
          admin={admin}
          heading={w.orgFound(found.length)}
          intro={w.orgIntro}
          reasonLabel={w.orgReason}
          overrideLabel={w.orgOverride}
          askAdmin={w.orgAskAdmin}
          onOverride={async (reason) => {
            const r = await save({ partyId: party.id, organization, overrideReason: reason });
            if (r.error) return toProblem(r.error);
            setFound(null);
            onNotice(w.orgOverridden(name));
            return null;
          }}
        />
      ) : null}
    </form>
  );
}

function AddPartyForm({ caseId, admin, onNotice }: { caseId: string; admin: boolean; onNotice: (n: string) => void }) {
  const [kind, setKind] = useState<PartyKind>("PARTY");
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  // Conflicts with the case's mediator met by the last attempt to add.
  const [found, setFound] = useState<Found | null>(null);
  const client = useClient();
  const [{ fetching }, add] = useMutation(AddPartyDocument);
  const added = (words?: string) => {
    onNotice(words ?? s.added(name.trim()));
    setName("");
    setEmail("");
    setFound(null);
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    setFound(null);
    const input = { caseId, kind, displayName: name.trim(), email: email.trim() };
    const r = await add({ input });
    if (r.error) {
      const p = toProblem(r.error);
      if (p.code === "CONFLICT") {
        const q = await client.query(PartyConflictsDocument, { caseId, email: input.email }, { requestPolicy: "network-only" }).toPromise();
        if (q.data && q.data.partyConflicts.length > 0) {
          setFound(q.data.partyConflicts);
          return;
        }
      }
      setProblem(p);
      return;
    }
    added();
  };
  const { at, rest } = fieldErrors(problem, ["kind", "displayName", "email"]);
  return (
    <form onSubmit={submit} noValidate className="inline-form" aria-labelledby="add-party">
      <h3 id="add-party">{s.addParty}</h3>
      <p className="muted">{s.addPartyHint}</p>
      <div className="form-grid">
        <SelectField label={s.kind} value={kind} onChange={(e) => setKind(KINDS.find((k) => k === e.target.value) ?? "PARTY")}>
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {t.pages.partyKind[k]}
            </option>
          ))}
        </SelectField>
        <TextField label={s.name} autoComplete="off" required value={name} onChange={(e) => setName(e.target.value)} error={at("displayName")} />
        <TextField label={s.email} type="email" autoComplete="off" required value={email} onChange={(e) => setEmail(e.target.value)} error={at("email")} />
      </div>
      <ErrorAlert problem={rest} />
      <Button type="submit" variant="primary" busy={fetching}>
        {s.addPartySubmit}
      </Button>
      {found ? <PartyConflicts found={found} admin={admin} input={{ caseId, kind, displayName: name.trim(), email: email.trim() }} onAdded={added} /> : null}
    </form>
  );
}

function PartyConflicts({
  found,
  admin,
  input,
  onAdded,
}: {
  found: Found;
  admin: boolean;
  input: { caseId: string; kind: PartyKind; displayName: string; email: string };
  onAdded: (words: string) => void;
}) {
  const w = wf.conflicts;
  const [, override] = useMutation(AddPartyWithOverrideDocument);
  return (
    <ConflictsFound
      found={found}
      admin={admin}
      heading={w.partyFound(found.length)}
      intro={w.partyIntro}
      reasonLabel={w.partyReason}
      overrideLabel={w.partyOverride}
      askAdmin={w.partyAskAdmin}
      onOverride={async (reason) => {
        const r = await override({ input, reason });
        if (r.error) return toProblem(r.error);
        onAdded(w.partyOverridden(input.displayName));
        return null;
      }}
    />
  );
}

/** What matched, and for org admins a reason and an override button. */
function ConflictsFound({
  found,
  admin,
  heading,
  intro,
  reasonLabel,
  overrideLabel,
  askAdmin,
  onOverride,
}: {
  found: Found;
  admin: boolean;
  heading: string;
  intro: string;
  reasonLabel: string;
  overrideLabel: string;
  askAdmin: string;
  onOverride: (reason: string) => Promise<Problem | null>;
}) {
  const w = wf.conflicts;
  const [reason, setReason] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  const doOverride = async () => {
    setProblem(null);
    setBusy(true);
    try {
      setProblem(await onOverride(reason));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div role="group" aria-label={heading}>
      <h4 aria-live="polite">{heading}</h4>
      <table className="data" aria-label={heading}>
        <thead>
          <tr>
            <th scope="col">{w.colWhy}</th>
            <th scope="col">{w.colMatched}</th>
          </tr>
        </thead>
        <tbody>
          {found.map((f, i) => (
            <tr key={i}>
              <td data-label={w.colWhy}>{w.kinds[f.kind] ?? f.kind}</td>
              <td data-label={w.colMatched} className="mono">
                {f.matched}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {admin ? (
        <>
          <p className="muted">{intro}</p>
          <TextField label={reasonLabel} hint={w.reasonHint} value={reason} onChange={(e) => setReason(e.target.value)} minLength={10} maxLength={2000} />
          <Button variant="primary" busy={busy} onClick={() => void doOverride()}>
            {overrideLabel}
          </Button>
          <ErrorAlert problem={problem} />
        </>
      ) : (
        <p className="muted">{askAdmin}</p>
      )}
    </div>
  );
}
