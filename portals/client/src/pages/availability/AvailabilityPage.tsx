// The availability picker: a person on a case gives the times they are free,
// day by day on their own clock. Each change is saved at once; the list shows
// what the API holds. Native date, time and select controls only, so every
// step works from the keyboard.

import { MyAvailabilityDocument, SetMyAvailabilityDocument } from "@accord/shared/gql";
import { addWindow, Alert, Button, Card, describeWindow, draftToWindow, Empty, ErrorAlert, Loading, normalize, PageTitle, removeWindow, SelectField, TextField, todayIn, toProblem, viewerTimeZone, type Draft, type LocalWindow, type Problem } from "@accord/shared/ui";
import { useMemo, useRef, useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { useMutation, useQuery } from "urql";
import { t } from "../../strings";
import "./availability.css";

const s = t.availability;

function zones(current: string): string[] {
  const all = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return all.includes(current) ? all : [current, ...all];
}

export function AvailabilityPage() {
  const { id = "" } = useParams();
  const [{ data, fetching, error }, refetch] = useQuery({ query: MyAvailabilityDocument, variables: { caseId: id } });
  const [saving, save] = useMutation(SetMyAvailabilityDocument);
  const [chosenZone, setChosenZone] = useState<string | null>(null);
  const [draft, setDraft] = useState<Draft>({ date: "", from: "09:00", to: "12:00" });
  const [draftProblem, setDraftProblem] = useState<string | null>(null);
  const [saveProblem, setSaveProblem] = useState<Problem | null>(null);
  const [saved, setSaved] = useState(false);
  const statusRef = useRef<HTMLDivElement>(null);

  const mine = data?.myAvailability;
  const zone = chosenZone ?? mine?.timeZone ?? data?.viewer.timeZone ?? viewerTimeZone();
  const windows: LocalWindow[] = useMemo(() => normalize(mine?.windows ?? []), [mine]);
  const zoneOptions = useMemo(() => zones(zone), [zone]);
  const problem = error ? toProblem(error) : null;

  async function store(next: LocalWindow[], timeZone: string): Promise<boolean> {
    setSaved(false);
    setSaveProblem(null);
    const result = await save({ caseId: id, windows: next, timeZone });
    if (result.error) {
      setSaveProblem(toProblem(result.error));
      return false;
    }
    setSaved(true);
    statusRef.current?.focus();
    return true;
  }

  async function onAdd(e: FormEvent) {
    e.preventDefault();
    const result = draftToWindow(draft, windows, todayIn(zone));
    if (typeof result === "string") {
      setDraftProblem(s.problems[result]);
      return;
    }
    setDraftProblem(null);
    if (await store(addWindow(windows, result), zone)) setDraft({ ...draft, date: "" });
  }

  if (!mine) {
    return (
      <>
        <PageTitle>{s.title}</PageTitle>
        {fetching ? <Loading label={s.loading} /> : null}
        <ErrorAlert problem={problem} onRetry={() => refetch({ requestPolicy: "network-only" })} />
        <p>
          <Link to={`/cases/${id}`}>{s.back}</Link>
        </p>
      </>
    );
  }

  return (
    <>
      <PageTitle>{data?.case ? s.titleFor(data.case.reference) : s.title}</PageTitle>
      <p>
        <Link to={`/cases/${id}`}>{s.back}</Link>
      </p>
      <p>{s.intro}</p>
      <div ref={statusRef} tabIndex={-1}>
        <ErrorAlert problem={saveProblem} />
        {saved ? (
          <Alert kind="ok" live>
            {s.saved}
          </Alert>
        ) : null}
      </div>
      <Card title={s.add}>
        <SelectField
          label={s.zone}
          hint={s.zoneHint}
          value={zone}
          onChange={(e) => {
            const next = e.target.value;
            setChosenZone(next);
            if (windows.length > 0) void store(windows, next);
          }}
        >
          {zoneOptions.map((z) => (
            <option key={z} value={z}>
              {z}
            </option>
          ))}
        </SelectField>
        <form className="availability-form" onSubmit={onAdd} noValidate>
          <TextField label={s.date} type="date" required value={draft.date} min={todayIn(zone)} onChange={(e) => setDraft({ ...draft, date: e.target.value })} />
          <TextField label={s.from} type="time" required step={300} value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
          <TextField label={s.to} type="time" required step={300} value={draft.to} error={draftProblem ?? undefined} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
          <Button type="submit" variant="primary" busy={saving.fetching}>
            {s.addButton}
          </Button>
        </form>
      </Card>
      <Card title={s.list}>
        {windows.length === 0 ? (
          <Empty>{s.none}</Empty>
        ) : (
          <ul className="availability-list" aria-label={s.list}>
            {windows.map((w) => {
              const d = describeWindow(w);
              return (
                <li key={w.start}>
                  <span>
                    <strong>{d.day}</strong> {s.window(d.from, d.to)}
                  </span>{" "}
                  <Button small variant="danger" aria-label={s.removeLabel(d.day, d.from, d.to)} disabled={saving.fetching} onClick={() => void store(removeWindow(windows, w.start), zone)}>
                    {s.remove}
                  </Button>
                </li>
              );
            })}
          </ul>
        )}
      </Card>
    </>
  );
}
