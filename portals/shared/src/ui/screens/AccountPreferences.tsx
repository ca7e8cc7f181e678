// "Time and language" on the account page of both portals: the person's own
// time zone (portals show times on it; mail gives times in it) and locale
// (how mail writes dates). Unset, mail follows the organisation's.

import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { MyPreferencesDocument, SetMyPreferencesDocument } from "../../gql/graphql";
import { Alert, Button, Card, ErrorAlert, Loading, SelectField } from "../components";
import { toProblem, type Problem } from "../errors";
import { localeExample, localeName, zoneChoices } from "./AccountZones";

const t = {
  title: "Time and language",
  loading: "Loading your time zone and language…",
  intro: "Times in mail from Accord are given in your time zone and written the way your language does. Left unset, your organisation's choice applies.",
  zone: "Your time zone",
  zoneUnset: "Not set (use the organisation's)",
  locale: "Date format in mail",
  localeUnset: "Not set (use the organisation's)",
  example: (s: string) => `For example: ${s}`,
  save: "Save time and language",
  saved: "Your time zone and language are saved.",
};

type Prefs = { timeZone: string | null; locale: string | null; availableLocales: string[] };

export function AccountPreferences() {
  const [{ data, fetching, error }, refetch] = useQuery({ query: MyPreferencesDocument });
  if (!data) {
    return (
      <Card title={t.title}>
        {fetching ? <Loading label={t.loading} /> : null}
        {error ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      </Card>
    );
  }
  // Not keyed on the data: a save refetches it, and remounting would drop the "saved" notice.
  return <PreferencesForm prefs={data.myPreferences} />;
}

function PreferencesForm({ prefs }: { prefs: Prefs }) {
  const [zone, setZone] = useState(prefs.timeZone ?? "");
  const [locale, setLocale] = useState(prefs.locale ?? "");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [saved, setSaved] = useState(false);
  const [{ fetching }, save] = useMutation(SetMyPreferencesDocument);
  const zones = zoneChoices(prefs.timeZone);
  const field = problem?.field;
  const example = locale ? localeExample(locale, zone || undefined, new Date()) : "";

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    setProblem(null);
    const result = await save({ timeZone: zone || null, locale: locale || null });
    if (result.error) setProblem(toProblem(result.error));
    else setSaved(true);
  };

  return (
    <Card title={t.title}>
      <p>{t.intro}</p>
      <form className="stack" onSubmit={submit} noValidate>
        <SelectField label={t.zone} value={zone} onChange={(e) => setZone(e.target.value)} error={field === "timeZone" ? problem?.message : undefined}>
          <option value="">{t.zoneUnset}</option>
          {zones.map((z) => (
            <option key={z} value={z}>
              {z}
            </option>
          ))}
        </SelectField>
        <SelectField
          label={t.locale}
          value={locale}
          onChange={(e) => setLocale(e.target.value)}
          hint={example ? t.example(example) : undefined}
          error={field === "locale" ? problem?.message : undefined}
        >
          <option value="">{t.localeUnset}</option>
          {prefs.availableLocales.map((l) => (
            <option key={l} value={l}>
              {localeName(l)}
            </option>
          ))}
        </SelectField>
        <ErrorAlert problem={field === "timeZone" || field === "locale" ? null : problem} />
        {saved ? (
          <Alert kind="ok" live>
            {t.saved}
          </Alert>
        ) : null}
        <div>
          <Button type="submit" variant="primary" busy={fetching}>
            {t.save}
          </Button>
        </div>
      </form>
    </Card>
  );
}
