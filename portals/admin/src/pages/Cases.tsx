// Cases: a filtered, cursor-paged list (status and search kept in the URL's
// query string, so a link or the back button brings the same view back) and,
// for org admins, opening a new case.

import type { CaseStatus } from "@accord/shared/gql";
import { Button, Card, PageTitle, SelectField, TextField, useSession } from "@accord/shared/ui";
import { useEffect, useState } from "react";
import { useSearchParams } from "react-router";
import { t } from "../strings";
import { CaseResults } from "./cases/CaseResults";
import { CreateCaseForm } from "./cases/CreateCaseForm";
import { CASE_STATUSES, parseCaseStatus } from "./cases/status";
import { useDebounced } from "./common/hooks";
import { can } from "./common/permissions";
import "./pages.css";

const s = t.pages.cases;

export function CasesPage() {
  const session = useSession();
  const [params, setParams] = useSearchParams();
  const status = parseCaseStatus(params.get("status"));
  const urlSearch = params.get("q") ?? "";
  const [text, setText] = useState(urlSearch);
  const settled = useDebounced(text, 300).trim();
  const [creating, setCreating] = useState(false);

  // The back button changes the URL under the field: follow it.
  const [seenUrlSearch, setSeenUrlSearch] = useState(urlSearch);
  if (urlSearch !== seenUrlSearch) {
    setSeenUrlSearch(urlSearch);
    if (urlSearch !== text.trim()) setText(urlSearch);
  }

  useEffect(() => {
    if (settled === urlSearch) return;
    setParams(
      (p) => {
        const next = new URLSearchParams(p);
        if (settled) next.set("q", settled);
        else next.delete("q");
        return next;
      },
      { replace: true },
    );
    // Only a settled change of the text writes the URL.
  }, [settled]);

  const setStatus = (value: CaseStatus | null) => {
    setParams((p) => {
      const next = new URLSearchParams(p);
      if (value) next.set("status", value);
      else next.delete("status");
      return next;
    });
  };

  const mayCreate = can(session.role, "createCase");
  return (
    <>
      <PageTitle
        actions={
          mayCreate ? (
            <Button variant={creating ? "plain" : "primary"} aria-expanded={creating} aria-controls="new-case" onClick={() => setCreating((c) => !c)}>
              {s.create}
            </Button>
          ) : undefined
        }
      >
        {s.title}
      </PageTitle>
      {mayCreate && creating ? (
        <div id="new-case">
          <Card title={s.createTitle}>
            <CreateCaseForm onCancel={() => setCreating(false)} />
          </Card>
        </div>
      ) : null}
      <form role="search" className="filters" aria-label={s.filters} onSubmit={(e) => e.preventDefault()}>
        <SelectField label={s.status} value={status ?? ""} onChange={(e) => setStatus(parseCaseStatus(e.target.value))}>
          <option value="">{s.anyStatus}</option>
          {CASE_STATUSES.map((st) => (
            <option key={st} value={st}>
              {t.pages.caseStatus[st]}
            </option>
          ))}
        </SelectField>
        <TextField label={s.search} type="search" value={text} onChange={(e) => setText(e.target.value)} hint={s.searchHint} maxLength={200} />
      </form>
      <CaseResults status={status} search={urlSearch || null} />
    </>
  );
}
