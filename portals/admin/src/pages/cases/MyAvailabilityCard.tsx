// The mediator's own availability on a case, beside the slot finder: the
// same windows parties give in the client portal, on the mediator's clock.

import { MediatorAvailabilityDocument, SetMediatorAvailabilityDocument } from "@accord/shared/gql";
import { addWindow, Alert, Button, Card, describeWindow, draftToWindow, Empty, ErrorAlert, Loading, normalize, removeWindow, SelectField, TextField, todayIn, toProblem, type Draft, type LocalWindow, type Problem } from "@accord/shared/ui";
import { useMemo, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { t } from "../../strings";
import { useViewerZone } from "../common/hooks";

const s = t.slots.mine;

export function MyAvailabilityCard({ caseId, onChange }: { caseId: string; onChange: () => void }) {
  const viewerZone = useViewerZone();
  const [{ data, fetching, error }, refetch] = useQuery({ query: MediatorAvailabilityDocument, variables: { caseId } });
  const [saving, save] = useMutation(SetMediatorAvailabilityDocument);
  const [chosenZone, setChosenZone] = useState<string | null>(null);
  const [draft, setDraft] = useState<Draft>({ date: "", from: "09:00", to: "12:00" });
  const [draftProblem, setDraftProblem] = useState<string | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [saved, setSaved] = useState(false);

  const mine = data?.myAvailability;
  const zone = chosenZone ?? mine?.timeZone ?? viewerZone;
  const windows: LocalWindow[] = useMemo(() => normalize(mine?.windows ?? []), [mine]);
  const zones = useMemo(() => {
    const all = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
    return all.includes(zone) ? all : [zone, ...all];
  }, [zone]);

  async function store(next: LocalWindow[], timeZone: string): Promise<boolean> {
    setSaved(false);
    setProblem(null);
    const result = await save({ caseId, windows: next, timeZone });
    if (result.error) {
      setProblem(toProblem(result.error));
      return false;
    }
    setSaved(true);
    onChange();
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
      <Card title={s.title} headingLevel={3}>
        {fetching ? <Loading label={s.loading} /> : null}
        {error ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      </Card>
    );
  }
  return (
    <Card title={s.title} headingLevel={3}>
      <p>{s.intro}</p>
      <ErrorAlert problem={problem} />
      {saved ? (
        <Alert kind="ok" live>
          {s.saved}
        </Alert>
      ) : null}
      <SelectField
        label={s.zone}
        value={zone}
        onChange={(e) => {
          setChosenZone(e.target.value);
          if (windows.length > 0) void store(windows, e.target.value);
        }}
      >
        {zones.map((z) => (
          <option key={z} value={z}>
            {z}
          </option>
        ))}
      </SelectField>
      <form onSubmit={onAdd} noValidate>
        <div className="form-grid">
          <TextField label={s.date} type="date" required value={draft.date} min={todayIn(zone)} onChange={(e) => setDraft({ ...draft, date: e.target.value })} />
          <TextField label={s.from} type="time" required step={300} value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
          <TextField label={s.to} type="time" required step={300} value={draft.to} error={draftProblem ?? undefined} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
        </div>
        <Button type="submit" busy={saving.fetching}>
          {s.add}
        </Button>
      </form>
      {windows.length === 0 ? (
        <Empty>{s.none}</Empty>
      ) : (
        <ul className="slot-people" aria-label={s.list}>
          {windows.map((w) => {
            const d = describeWindow(w);
            return (
              <li key={w.start}>
                <strong>{d.day}</strong> {s.window(d.from, d.to)}{" "}
                <Button small variant="danger" aria-label={s.removeLabel(d.day, d.from, d.to)} disabled={saving.fetching} onClick={() => void store(removeWindow(windows, w.start), zone)}>
                  {s.remove}
                </Button>
              </li>
            );
          })}
        </ul>
      )}
    </Card>
  );
}
