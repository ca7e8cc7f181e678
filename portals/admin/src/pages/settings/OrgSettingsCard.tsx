// The organisation's time zone and date format for mail, how long invite
// links last and when reminders go out (org admins, on the settings page).

import { OrganizationSettingsDocument, SetOrganizationSettingsDocument, type OrganizationSettingsQuery } from "@accord/shared/gql";
import { Alert, Button, Card, ErrorAlert, Loading, SelectField, TextField, toProblem, type Problem } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { fieldErrors } from "../common/fieldErrors";
import { leadChoices, leadWords, settingsStrings } from "./strings";
import "./settings.css";

const s = settingsStrings.org;
const FIELDS = ["timeZone", "locale", "inviteLinkLifetimeDays", "reminderLeadMinutes"] as const;
const LOCALE_NAMES: Record<string, string> = {
  "en-GB": "English (United Kingdom)",
  "en-US": "English (United States)",
  "fr-FR": "Français (France)",
  "de-DE": "Deutsch (Deutschland)",
};

type Settings = OrganizationSettingsQuery["organizationSettings"];

function zones(keep: string | null): string[] {
  const known = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const all = Array.from(new Set(["UTC", ...known])).sort();
  return keep && !all.includes(keep) ? [keep, ...all] : all;
}

function example(locale: string, zone: string): string {
  try {
    return new Intl.DateTimeFormat(locale, { dateStyle: "full", timeStyle: "short", timeZone: zone || undefined }).format(new Date());
  } catch {
    return "";
  }
}

export function OrgSettingsCard() {
  const [{ data, fetching, error }, refetch] = useQuery({ query: OrganizationSettingsDocument });
  if (!data) {
    return (
      <Card title={s.title}>
        {fetching ? <Loading label={s.loading} /> : null}
        {error ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      </Card>
    );
  }
  // Not keyed on the data: a save refetches it, and remounting would drop the "saved" notice.
  return <SettingsForm settings={data.organizationSettings} />;
}

function SettingsForm({ settings }: { settings: Settings }) {
  const [zone, setZone] = useState(settings.timeZone ?? "");
  const [locale, setLocale] = useState(settings.locale ?? "");
  const [days, setDays] = useState(String(settings.inviteLinkLifetimeDays));
  const [leads, setLeads] = useState<number[]>(settings.reminderLeadMinutes);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [saved, setSaved] = useState(false);
  const [{ fetching }, save] = useMutation(SetOrganizationSettingsDocument);
  const errors = fieldErrors(problem, FIELDS);
  const sample = locale ? example(locale, zone) : "";

  const toggle = (minutes: number, on: boolean) => setLeads((all) => (on ? [...all, minutes] : all.filter((m) => m !== minutes)));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    setProblem(null);
    const result = await save({
      input: {
        timeZone: zone || null,
        locale: locale || null,
        inviteLinkLifetimeDays: Number.parseInt(days, 10) || 0,
        reminderLeadMinutes: leads,
      },
    });
    if (result.error) setProblem(toProblem(result.error));
    else setSaved(true);
  };

  return (
    <Card title={s.title}>
      <p>{s.intro}</p>
      <form className="stack" onSubmit={submit} noValidate>
        <SelectField label={s.zone} value={zone} onChange={(e) => setZone(e.target.value)} error={errors.at("timeZone")}>
          <option value="">{s.zoneUnset}</option>
          {zones(settings.timeZone).map((z) => (
            <option key={z} value={z}>
              {z}
            </option>
          ))}
        </SelectField>
        <SelectField label={s.locale} value={locale} onChange={(e) => setLocale(e.target.value)} hint={sample ? s.example(sample) : undefined} error={errors.at("locale")}>
          <option value="">{s.localeUnset}</option>
          {settings.availableLocales.map((l) => (
            <option key={l} value={l}>
              {LOCALE_NAMES[l] ?? l}
            </option>
          ))}
        </SelectField>
        <TextField
          label={s.lifetime}
          hint={s.lifetimeHint}
          type="number"
          inputMode="numeric"
          min={1}
          max={90}
          required
          value={days}
          onChange={(e) => setDays(e.target.value)}
          error={errors.at("inviteLinkLifetimeDays")}
        />
        <fieldset className="reminder-leads" aria-describedby="reminder-leads-hint">
          <legend>{s.reminders}</legend>
          <p id="reminder-leads-hint" className="muted">
            {s.remindersHint}
          </p>
          {leadChoices(settings.reminderLeadMinutes).map((m) => (
            <label key={m} className="check">
              <input type="checkbox" checked={leads.includes(m)} onChange={(e) => toggle(m, e.target.checked)} /> {leadWords(m)}
            </label>
          ))}
          {errors.at("reminderLeadMinutes") ? (
            <p className="error" role="alert">
              {errors.at("reminderLeadMinutes")}
            </p>
          ) : null}
        </fieldset>
        <ErrorAlert problem={errors.rest} />
        {saved ? (
          <Alert kind="ok" live>
            {s.saved}
          </Alert>
        ) : null}
        <div>
          <Button type="submit" variant="primary" busy={fetching}>
            {s.save}
          </Button>
        </div>
      </form>
    </Card>
  );
}
