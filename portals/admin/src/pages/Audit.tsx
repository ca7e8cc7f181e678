// The audit log (org admins): whether its hash chain verifies, then the
// events newest first, filtered and paged back with "Older".

import { AuditActorsDocument } from "@accord/shared/gql";
import { Button, PageTitle, SelectField, TextField, useSession } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";
import { useQuery } from "urql";
import { t } from "../strings";
import { AuditEvents } from "./audit/AuditEvents";
import { ChainStatus } from "./audit/ChainStatus";
import { filtersFromParams, filtersToParams, hasFilters, isUuid, NO_FILTERS, type AuditFilters } from "./audit/filters";
import { OnlyAdmins } from "./common/Forbidden";
import { can } from "./common/permissions";
import "./pages.css";

const s = t.pages.audit;

export function AuditPage() {
  const session = useSession();
  if (!can(session.role, "readAuditLog")) return <OnlyAdmins title={s.title} body={s.onlyAdmins} />;
  return <AuditLog />;
}

function AuditLog() {
  const [params, setParams] = useSearchParams();
  const applied = filtersFromParams(params);
  return (
    <>
      <PageTitle>{s.title}</PageTitle>
      <ChainStatus />
      <FilterForm applied={applied} onApply={(f) => setParams(filtersToParams(f))} />
      <AuditEvents filters={applied} />
    </>
  );
}

function FilterForm({ applied, onApply }: { applied: AuditFilters; onApply: (f: AuditFilters) => void }) {
  const [f, setF] = useState(applied);
  // The back button (or an object's link) changes the filters under the form: follow them.
  const appliedKey = filtersToParams(applied).toString();
  const [seen, setSeen] = useState(appliedKey);
  if (seen !== appliedKey) {
    setSeen(appliedKey);
    setF(applied);
  }
  const [{ data }] = useQuery({ query: AuditActorsDocument });
  const people = (data?.members ?? []).map((m) => ({ id: m.user.id, name: m.user.displayName })).sort((a, b) => a.name.localeCompare(b.name));
  const badId = f.targetId.trim() !== "" && !isUuid(f.targetId.trim());
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (badId) return;
    onApply(f);
  };
  const set = (k: keyof AuditFilters) => (v: string) => setF((old) => ({ ...old, [k]: v }));
  return (
    <form className="card" role="search" aria-labelledby="audit-filters" onSubmit={submit} noValidate>
      <h2 id="audit-filters">{s.filters}</h2>
      <div className="form-grid">
        <SelectField label={s.actor} value={f.actor} onChange={(e) => set("actor")(e.target.value)}>
          <option value="">{s.anyActor}</option>
          {f.actor && !people.some((p) => p.id === f.actor) ? <option value={f.actor}>{f.actor}</option> : null}
          {people.map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </SelectField>
        <TextField label={s.action} hint={s.actionHint} autoComplete="off" value={f.action} onChange={(e) => set("action")(e.target.value)} />
        <TextField label={s.targetType} hint={s.targetTypeHint} autoComplete="off" value={f.targetType} onChange={(e) => set("targetType")(e.target.value)} />
        <TextField label={s.targetId} autoComplete="off" spellCheck={false} value={f.targetId} onChange={(e) => set("targetId")(e.target.value)} error={badId ? s.invalidId : undefined} />
      </div>
      <div className="row">
        <Button type="submit" variant="primary">
          {s.apply}
        </Button>
        {hasFilters(applied) || hasFilters(f) ? (
          <Button
            onClick={() => {
              setF(NO_FILTERS);
              onApply(NO_FILTERS);
            }}
          >
            {s.clear}
          </Button>
        ) : null}
      </div>
    </form>
  );
}
