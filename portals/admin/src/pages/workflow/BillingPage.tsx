// Billing settings (org admins): the fee schedule (currency, admin fee per
// case), each mediator's rate, whether parties are told of overridden
// conflicts of interest, and whether people who have not signed the
// agreement to mediate may join live sessions.

import { FeeScheduleDocument, SetAdmitUnsignedParticipantsDocument, SetHopByHopAllowedDocument, SetConflictDisclosureDocument, SetFeeScheduleDocument, SetMediatorRateDocument, type FeeScheduleQuery, type GqlFeeBasis } from "@accord/shared/gql";
import { Alert, Button, Card, ErrorAlert, Loading, PageTitle, SelectField, TextField, toProblem, useSession, type Problem } from "@accord/shared/ui";
import { useId, useState, type FormEvent } from "react";
import { useMutation, useQuery, type CombinedError } from "urql";
import { OnlyAdmins } from "../common/Forbidden";
import { formatMinor, parseMajor } from "./money";
import { wf } from "./strings";

const s = wf.fees;

export function BillingPage() {
  const session = useSession();
  if (session.role !== "org_admin") return <OnlyAdmins title={s.title} body={s.onlyAdmins} />;
  return <Billing />;
}

function Billing() {
  const [{ data, error, fetching }, refetch] = useQuery({ query: FeeScheduleDocument, requestPolicy: "cache-and-network" });
  const [notice, setNotice] = useState<string | null>(null);
  const changed = (words: string) => {
    setNotice(words);
    refetch({ requestPolicy: "network-only" });
  };
  return (
    <>
      <PageTitle>{s.title}</PageTitle>
      <div aria-live="polite">{notice ? <Alert kind="ok">{notice}</Alert> : null}</div>
      {error && !data ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && fetching ? <Loading /> : null}
      {data ? (
        <>
          <ScheduleCard schedule={data.feeSchedule} onNotice={changed} />
          <Card title={s.rates}>
            {data.feeSchedule.currency ? (
              data.feeSchedule.mediators.map((m) => <RateForm key={m.mediatorId} m={m} currency={data.feeSchedule.currency ?? "EUR"} onNotice={changed} />)
            ) : (
              <p className="muted">{s.setCurrencyFirst}</p>
            )}
          </Card>
          <DisclosureCard disclose={data.conflictDisclosure} onNotice={changed} />
          <AdmissionCard admit={data.admitUnsignedParticipants} hopByHop={data.hopByHopAllowed} onNotice={changed} />
        </>
      ) : null}
    </>
  );
}

function ScheduleCard({ schedule, onNotice }: { schedule: FeeScheduleQuery["feeSchedule"]; onNotice: (n: string) => void }) {
  const [currency, setCurrency] = useState(schedule.currency ?? "EUR");
  const [fee, setFee] = useState(formatMinor(schedule.adminFeeMinor, schedule.currency ?? "EUR"));
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, save] = useMutation(SetFeeScheduleDocument);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const code = currency.trim().toUpperCase();
    const minor = parseMajor(fee, code);
    if (minor === null) {
      setProblem({ code: "BAD_USER_INPUT", message: s.amountBad } as Problem);
      return;
    }
    setProblem(null);
    const r = await save({ currency: code, adminFeeMinor: minor });
    if (r.error) setProblem(toProblem(r.error));
    else onNotice(s.scheduleSaved);
  };
  return (
    <Card title={s.schedule}>
      <form className="inline-form" onSubmit={(e) => void submit(e)}>
        <TextField label={s.currency} value={currency} maxLength={3} required onChange={(e) => setCurrency(e.target.value)} />
        <TextField label={s.adminFee} inputMode="decimal" value={fee} required onChange={(e) => setFee(e.target.value)} />
        <Button type="submit" variant="primary" busy={fetching}>
          {s.saveSchedule}
        </Button>
        <ErrorAlert problem={problem} />
      </form>
    </Card>
  );
}

function RateForm({ m, currency, onNotice }: { m: FeeScheduleQuery["feeSchedule"]["mediators"][number]; currency: string; onNotice: (n: string) => void }) {
  const [basis, setBasis] = useState<GqlFeeBasis>(m.basis ?? "HOURLY");
  const [rate, setRate] = useState(m.rateMinor === null ? "" : formatMinor(m.rateMinor, currency));
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, save] = useMutation(SetMediatorRateDocument);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const minor = parseMajor(rate, currency);
    if (minor === null) {
      setProblem({ code: "BAD_USER_INPUT", message: s.amountBad } as Problem);
      return;
    }
    setProblem(null);
    const r = await save({ mediatorId: m.mediatorId, basis, rateMinor: minor });
    if (r.error) setProblem(toProblem(r.error));
    else onNotice(s.rateSaved(m.mediatorName));
  };
  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)}>
      <SelectField label={s.basisOf(m.mediatorName)} value={basis} onChange={(e) => setBasis(e.target.value as GqlFeeBasis)}>
        <option value="HOURLY">{s.hourly}</option>
        <option value="PER_SESSION">{s.perSession}</option>
      </SelectField>
      <TextField label={s.rateOf(m.mediatorName)} inputMode="decimal" required value={rate} onChange={(e) => setRate(e.target.value)} />
      <Button type="submit" busy={fetching}>
        {s.saveRate}
      </Button>
      <ErrorAlert problem={problem} />
    </form>
  );
}

/**
 * An org switch saved as soon as it is flipped: shown as chosen at once, put
 * back if the server refuses (the error shown), a notice once saved.
 */
function Switch({ label, help, value, save, saved, onNotice }: { label: string; help?: string; value: boolean; save: (next: boolean) => Promise<{ error?: CombinedError }>; saved: string; onNotice: (n: string) => void }) {
  const [on, setOn] = useState(value);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  const helpId = useId();
  return (
    <>
      <label className="check">
        <input
          type="checkbox"
          checked={on}
          disabled={busy}
          aria-describedby={help ? helpId : undefined}
          onChange={async (e) => {
            const next = e.target.checked;
            setOn(next);
            setBusy(true);
            setProblem(null);
            const r = await save(next);
            setBusy(false);
            if (r.error) {
              setOn(!next);
              setProblem(toProblem(r.error));
            } else onNotice(saved);
          }}
        />{" "}
        {label}
      </label>
      {help ? (
        <p id={helpId} className="muted">
          {help}
        </p>
      ) : null}
      <ErrorAlert problem={problem} />
    </>
  );
}

function DisclosureCard({ disclose, onNotice }: { disclose: boolean; onNotice: (n: string) => void }) {
  const [, save] = useMutation(SetConflictDisclosureDocument);
  return (
    <Card title={s.disclosure}>
      <Switch label={s.discloseLabel} value={disclose} save={(next) => save({ disclose: next })} saved={s.disclosureSaved} onNotice={onNotice} />
    </Card>
  );
}

function AdmissionCard({ admit, hopByHop, onNotice }: { admit: boolean; hopByHop: boolean; onNotice: (n: string) => void }) {
  const [, saveAdmit] = useMutation(SetAdmitUnsignedParticipantsDocument);
  const [, saveHop] = useMutation(SetHopByHopAllowedDocument);
  return (
    <Card title={s.admission}>
      <Switch label={s.admitUnsignedLabel} help={s.admitUnsignedHelp} value={admit} save={(next) => saveAdmit({ admit: next })} saved={s.admissionSaved} onNotice={onNotice} />
      <Switch label={s.hopByHopLabel} help={s.hopByHopHelp} value={hopByHop} save={(next) => saveHop({ allowed: next })} saved={s.hopByHopSaved} onNotice={onNotice} />
    </Card>
  );
}
