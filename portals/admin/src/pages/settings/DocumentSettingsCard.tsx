// The organisation's document rules (org admins, on the settings page): the
// largest upload, and whether documents are erased some days after their
// case closes (a legal hold on a case still keeps everything).

import { limitToMiB, MAX_LIMIT_MIB, MAX_RETENTION_DAYS, parseLimitMiB, parseRetentionDays } from "@accord/shared/documents";
import { DocumentSettingsDocument, SetDocumentSettingsDocument, type DocumentSettingsQuery } from "@accord/shared/gql";
import { Alert, Button, Card, ErrorAlert, Loading, TextField, toProblem, type Problem } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { fieldErrors } from "../common/fieldErrors";
import "./settings.css";

const s = {
  title: "Documents",
  loading: "Loading the document settings…",
  intro: "Documents are encrypted and scanned for viruses as they arrive. These rules apply to every case of the organisation.",
  limit: "Largest upload (MiB)",
  limitHint: `From 0.01 to ${MAX_LIMIT_MIB} MiB (16 GiB). Files already stored are kept.`,
  limitInvalid: `Enter a size in MiB from 0.01 to ${MAX_LIMIT_MIB}, with at most two decimals.`,
  erase: "Erase documents after a case closes",
  days: "Days after the case closes",
  daysHint: "Documents of a case under legal hold are kept until the hold is lifted. Erasure cannot be undone.",
  daysInvalid: `Enter a whole number of days from 1 to ${MAX_RETENTION_DAYS}.`,
  keep: "Documents are kept until someone erases them.",
  save: "Save document settings",
  saved: "The document settings are saved.",
} as const;

const FIELDS = ["maxUploadBytes", "retentionDays"] as const;

type Settings = DocumentSettingsQuery["documentSettings"];

export function DocumentSettingsCard() {
  const [{ data, fetching, error }, refetch] = useQuery({ query: DocumentSettingsDocument });
  if (!data) {
    return (
      <Card title={s.title}>
        {fetching ? <Loading label={s.loading} /> : null}
        {error ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      </Card>
    );
  }
  return <DocumentSettingsForm settings={data.documentSettings} />;
}

function DocumentSettingsForm({ settings }: { settings: Settings }) {
  const [limit, setLimit] = useState(limitToMiB(settings.maxUploadBytes));
  const [erase, setErase] = useState(settings.retentionDays != null);
  const [days, setDays] = useState(settings.retentionDays != null ? String(settings.retentionDays) : "365");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [local, setLocal] = useState<{ limit?: string; days?: string }>({});
  const [saved, setSaved] = useState(false);
  const [{ fetching }, save] = useMutation(SetDocumentSettingsDocument);
  const errors = fieldErrors(problem, FIELDS);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    setProblem(null);
    const bytes = parseLimitMiB(limit);
    const retention = erase ? parseRetentionDays(days) : null;
    const invalid = { limit: bytes == null ? s.limitInvalid : undefined, days: erase && retention == null ? s.daysInvalid : undefined };
    setLocal(invalid);
    if (invalid.limit || invalid.days || bytes == null) return;
    const result = await save({ maxUploadBytes: bytes, retentionDays: retention });
    if (result.error) setProblem(toProblem(result.error));
    else {
      const now = result.data?.setDocumentSettings;
      if (now) setLimit(limitToMiB(now.maxUploadBytes));
      setSaved(true);
    }
  };

  return (
    <Card title={s.title}>
      <p>{s.intro}</p>
      <form className="stack" onSubmit={submit} noValidate aria-label={s.title}>
        <TextField
          label={s.limit}
          hint={s.limitHint}
          inputMode="decimal"
          required
          value={limit}
          onChange={(e) => setLimit(e.target.value)}
          error={local.limit ?? errors.at("maxUploadBytes")}
        />
        <label className="check">
          <input type="checkbox" checked={erase} onChange={(e) => setErase(e.target.checked)} /> {s.erase}
        </label>
        {erase ? (
          <TextField
            label={s.days}
            hint={s.daysHint}
            type="number"
            inputMode="numeric"
            min={1}
            max={MAX_RETENTION_DAYS}
            required
            value={days}
            onChange={(e) => setDays(e.target.value)}
            error={local.days ?? errors.at("retentionDays")}
          />
        ) : (
          <p className="muted">{s.keep}</p>
        )}
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
