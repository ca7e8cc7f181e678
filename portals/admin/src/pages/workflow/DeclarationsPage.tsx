// A mediator's declared relationships (their own; org admins pick any
// mediator): organisations, people by email, email domains.

import { AddDeclarationDocument, MyDeclarationsDocument, RemoveDeclarationDocument, type GqlDeclarationKind } from "@accord/shared/gql";
import { Alert, Button, Card, Empty, ErrorAlert, Loading, PageTitle, SelectField, TextField, toProblem, useSession, type Problem } from "@accord/shared/ui";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { useMediators } from "../cases/useMediators";
import { wf } from "./strings";

const s = wf.declarations;

export function DeclarationsPage() {
  const session = useSession();
  const admin = session.role === "org_admin";
  const { mediators } = useMediators(!admin);
  const [chosen, setChosen] = useState("");
  const mediatorId = admin ? chosen || null : null;
  return (
    <>
      <PageTitle>{s.title}</PageTitle>
      <p className="muted">{s.intro}</p>
      {admin ? (
        <Card>
          <SelectField label={s.mediator} value={chosen} onChange={(e) => setChosen(e.target.value)}>
            <option value="">—</option>
            {(mediators ?? []).map((m) => (
              <option key={m.id} value={m.id}>
                {m.name}
              </option>
            ))}
          </SelectField>
        </Card>
      ) : null}
      {!admin || mediatorId ? <Declarations key={mediatorId ?? "me"} mediatorId={mediatorId} /> : null}
    </>
  );
}

function Declarations({ mediatorId }: { mediatorId: string | null }) {
  const [{ data, error, fetching }, refetch] = useQuery({ query: MyDeclarationsDocument, variables: { mediatorId }, requestPolicy: "cache-and-network" });
  const [kind, setKind] = useState<GqlDeclarationKind>("ORGANIZATION");
  const [value, setValue] = useState("");
  const [notice, setNotice] = useState<string | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [{ fetching: adding }, add] = useMutation(AddDeclarationDocument);
  const [, remove] = useMutation(RemoveDeclarationDocument);
  const reload = () => refetch({ requestPolicy: "network-only" });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    const r = await add({ mediatorId, kind, value });
    if (r.error) setProblem(toProblem(r.error));
    else {
      setValue("");
      setNotice(s.added);
      reload();
    }
  };
  const rows = data?.mediatorDeclarations ?? [];
  return (
    <>
      <div aria-live="polite">{notice ? <Alert kind="ok">{notice}</Alert> : null}</div>
      <Card>
        <form className="inline-form" onSubmit={(e) => void submit(e)}>
          <SelectField label={s.kind} value={kind} onChange={(e) => setKind(e.target.value as GqlDeclarationKind)}>
            {(["ORGANIZATION", "PERSON", "EMAIL_DOMAIN"] as const).map((k) => (
              <option key={k} value={k}>
                {s.kinds[k]}
              </option>
            ))}
          </SelectField>
          <TextField label={s.value} required value={value} onChange={(e) => setValue(e.target.value)} />
          <Button type="submit" variant="primary" busy={adding}>
            {s.add}
          </Button>
          <ErrorAlert problem={problem} />
        </form>
      </Card>
      {error && !data ? <ErrorAlert problem={toProblem(error)} onRetry={reload} /> : null}
      {!data && fetching ? <Loading /> : null}
      {data && rows.length === 0 ? <Empty>{s.none}</Empty> : null}
      {rows.length > 0 ? (
        <section className="card" aria-label={s.title}>
          <table className="data">
            <thead>
              <tr>
                <th scope="col">{s.colKind}</th>
                <th scope="col">{s.colValue}</th>
                <th scope="col">{s.colAction}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <tr key={d.id}>
                  <td data-label={s.colKind}>{s.kinds[d.kind]}</td>
                  <td data-label={s.colValue}>{d.label}</td>
                  <td data-label={s.colAction}>
                    <Button
                      small
                      aria-label={s.removeOf(d.label)}
                      onClick={async () => {
                        const r = await remove({ id: d.id });
                        if (r.error) setProblem(toProblem(r.error));
                        else {
                          setNotice(s.removed);
                          reload();
                        }
                      }}
                    >
                      {s.remove}
                    </Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
    </>
  );
}
