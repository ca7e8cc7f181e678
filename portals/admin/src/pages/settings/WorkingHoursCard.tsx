// Org working hours (org admins, on the settings page): the days and hours in
// which the slot finder proposes sessions, on one clock.

import { OrgWorkingHoursDocument, SetOrgWorkingHoursDocument, type Weekday } from "@accord/shared/gql";
import { Alert, Button, Card, ErrorAlert, Loading, SelectField, TextField, toProblem, type Problem } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { t } from "../../strings";
import "../cases/slots.css";

const s = t.slots.hours;
const WEEK: Weekday[] = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"];

type Day = { open: boolean; start: string; end: string };
type Hours = { timeZone: string; days: { weekday: Weekday; start: string; end: string }[] };

function toForm(hours: Hours): Record<Weekday, Day> {
  const form = {} as Record<Weekday, Day>;
  for (const w of WEEK) {
    const d = hours.days.find((x) => x.weekday === w);
    form[w] = d ? { open: true, start: d.start, end: d.end } : { open: false, start: "09:00", end: "17:00" };
  }
  return form;
}

export function WorkingHoursCard() {
  const [{ data, fetching, error }, refetch] = useQuery({ query: OrgWorkingHoursDocument });
  // Kept here: the form below starts afresh from the saved hours once they
  // come back, and the notice must outlive that.
  const [saved, setSaved] = useState(false);
  if (!data) {
    return (
      <Card title={s.title}>
        {fetching ? <Loading label={s.loading} /> : null}
        {error ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      </Card>
    );
  }
  return <HoursForm key={JSON.stringify(data.orgWorkingHours)} hours={data.orgWorkingHours} saved={saved} setSaved={setSaved} />;
}

function HoursForm({ hours, saved, setSaved }: { hours: Hours; saved: boolean; setSaved: (saved: boolean) => void }) {
  const [zone, setZone] = useState(hours.timeZone);
  const [days, setDays] = useState(() => toForm(hours));
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching }, save] = useMutation(SetOrgWorkingHoursDocument);
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const zoneList = zones.includes(zone) ? zones : [zone, ...zones];

  const set = (w: Weekday, patch: Partial<Day>) => setDays((all) => ({ ...all, [w]: { ...all[w], ...patch } }));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    setProblem(null);
    const open = WEEK.filter((w) => days[w].open).map((w) => ({ weekday: w, start: days[w].start, end: days[w].end }));
    const result = await save({ timeZone: zone, days: open });
    if (result.error) setProblem(toProblem(result.error));
    else setSaved(true);
  };

  return (
    <Card title={s.title}>
      <p>{s.intro}</p>
      <form onSubmit={submit} noValidate>
        <SelectField label={s.zone} value={zone} onChange={(e) => setZone(e.target.value)}>
          {zoneList.map((z) => (
            <option key={z} value={z}>
              {z}
            </option>
          ))}
        </SelectField>
        <div className="hours-days">
          {WEEK.map((w) => {
            const name = s.days[w] ?? w;
            const d = days[w];
            return (
              <fieldset key={w} className="hours-day">
                <legend className="visually-hidden">{name}</legend>
                <label className="check">
                  <input type="checkbox" checked={d.open} onChange={(e) => set(w, { open: e.target.checked })} /> {s.open(name)}
                </label>
                <TextField label={s.from(name)} type="time" step={900} value={d.start} disabled={!d.open} onChange={(e) => set(w, { start: e.target.value })} />
                <TextField label={s.to(name)} type="time" step={900} value={d.end} disabled={!d.open} onChange={(e) => set(w, { end: e.target.value })} />
              </fieldset>
            );
          })}
        </div>
        <ErrorAlert problem={problem} />
        {saved ? (
          <Alert kind="ok" live>
            {s.saved}
          </Alert>
        ) : null}
        <Button type="submit" variant="primary" busy={fetching}>
          {s.save}
        </Button>
      </form>
    </Card>
  );
}
