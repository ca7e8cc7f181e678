// Date, start time, time zone and length of a session, with what that time
// is for the viewer, in the session's zone and for each person on the case.

import { Button, ErrorAlert, SelectField, TextField, type Problem } from "@accord/shared/ui";
import { useMemo, useState, type FormEvent } from "react";
import { t } from "../../strings";
import { fieldErrors } from "../common/fieldErrors";
import { formatZoned, planInstant, schedulePreview, zoneChoices, zoneOptionLabel, type Attendee } from "../common/time";

const s = t.pages.caseDetail;
const DURATIONS = [15, 30, 45, 60, 90, 120, 150, 180, 240, 300, 360, 480, 600, 720];

export type Plan = { startsAt: string; timeZone: string; durationMinutes: number };
export type PlanInput = { date: string; time: string; zone: string; duration: number };

type Props = {
  initial: PlanInput;
  viewerZone: string;
  attendees: readonly Attendee[];
  submitLabel: string;
  onSubmit: (plan: Plan) => Promise<Problem | null>;
  onCancel?: () => void;
};

export function ScheduleForm({ initial, viewerZone, attendees, submitLabel, onSubmit, onCancel }: Props) {
  const [date, setDate] = useState(initial.date);
  const [time, setTime] = useState(initial.time);
  const [zone, setZone] = useState(initial.zone);
  const [duration, setDuration] = useState(initial.duration);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [busy, setBusy] = useState(false);
  // The zone list is long; build it once per form.
  const zones = useMemo(() => zoneChoices(viewerZone, initial.zone), [viewerZone, initial.zone]);
  const durations = DURATIONS.includes(initial.duration) ? DURATIONS : [...DURATIONS, initial.duration].sort((a, b) => a - b);

  const planned = planInstant(date, time, zone);
  const preview = planned ? schedulePreview(planned.instant, zone, viewerZone, attendees) : null;
  const past = planned ? Date.parse(planned.instant) <= Date.now() : false;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    if (!planned) {
      setProblem({ code: "BAD_USER_INPUT", message: s.incomplete });
      return;
    }
    if (past) {
      setProblem({ code: "BAD_USER_INPUT", message: s.inPast, field: "startsAt" });
      return;
    }
    setBusy(true);
    const p = await onSubmit({ startsAt: planned.instant, timeZone: zone, durationMinutes: duration });
    setBusy(false);
    setProblem(p);
  };

  const { at, rest } = fieldErrors(problem, ["startsAt", "timeZone", "durationMinutes"]);
  return (
    <form onSubmit={submit} noValidate>
      <div className="form-grid">
        <TextField label={s.date} type="date" required value={date} onChange={(e) => setDate(e.target.value)} error={at("startsAt")} />
        <TextField label={s.time} type="time" required step={300} value={time} onChange={(e) => setTime(e.target.value)} />
        <SelectField label={s.zone} hint={s.zoneHint} value={zone} onChange={(e) => setZone(e.target.value)} error={at("timeZone")}>
          <optgroup label={s.zonesCommon}>
            {zones.common.map((z) => (
              <option key={z} value={z}>
                {zoneOptionLabel(z)}
              </option>
            ))}
          </optgroup>
          {zones.other.length > 0 ? (
            <optgroup label={s.zonesAll}>
              {zones.other.map((z) => (
                <option key={z} value={z}>
                  {zoneOptionLabel(z)}
                </option>
              ))}
            </optgroup>
          ) : null}
        </SelectField>
        <SelectField label={s.duration} value={String(duration)} onChange={(e) => setDuration(Number(e.target.value))} error={at("durationMinutes")}>
          {durations.map((m) => (
            <option key={m} value={m}>
              {s.durationMinutes(m)}
            </option>
          ))}
        </SelectField>
      </div>
      <div className="preview">
        <h4>{s.preview}</h4>
        {!planned || !preview ? (
          <p className="muted">{s.incomplete}</p>
        ) : (
          <>
            {planned.skipped ? <p className="alert alert-warn">{s.skipped(formatZoned(planned.instant, zone))}</p> : null}
            {planned.ambiguous ? <p className="alert alert-warn">{s.ambiguous(formatZoned(planned.instant, zone))}</p> : null}
            {past ? <p className="alert alert-warn">{s.inPast}</p> : null}
            <dl className="kv">
              <dt>{s.previewYou}</dt>
              <dd>{preview.viewer}</dd>
              {preview.session ? (
                <>
                  <dt>{s.previewZone}</dt>
                  <dd>{preview.session}</dd>
                </>
              ) : null}
            </dl>
            <p className="muted">{s.previewPeople}</p>
            {preview.attendees.length === 0 ? (
              <p className="muted">{s.previewNobody}</p>
            ) : (
              <ul className="people">
                {preview.attendees.map((a, i) => (
                  <li key={`${a.name}-${i}`}>
                    {a.name}: {a.text}
                    {a.assumed ? " *" : ""}
                  </li>
                ))}
              </ul>
            )}
            {preview.assumedAny ? <p className="muted">* {s.previewAssumedNote}</p> : null}
          </>
        )}
      </div>
      <ErrorAlert problem={rest} />
      <div className="row">
        <Button type="submit" variant="primary" busy={busy}>
          {submitLabel}
        </Button>
        {onCancel ? <Button onClick={onCancel}>{t.pages.common.cancel}</Button> : null}
      </div>
    </form>
  );
}
