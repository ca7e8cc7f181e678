// A case's documents: drag-and-drop upload with a progress bar, who may see
// each document, its virus scan, its versions, download, and (for the
// case's mediator and org admins) sharing a private document with the
// whole case. The same panel serves both portals.

import { useRef, useState, type DragEvent } from "react";
import { useMutation, useQuery } from "urql";
import { CaseDocumentsDocument, SetDocumentVisibilityDocument } from "../gql/graphql";
import { Alert, Badge, Button, Card, Empty, ErrorAlert, Loading, SelectField, formatDateTime, toProblem, useAuth, type Problem } from "../ui";
import "./documents.css";
import { d } from "./strings";
import { formatBytes, uploadDocument, type Visibility } from "./upload";

export type DocumentsPanelProps = {
  caseId: string;
  /** A party (or counsel, interpreter) on the case, rather than staff. */
  asParty: boolean;
  /** The case's mediator or an org admin: may share private documents. */
  canManage: boolean;
};

type Upload = { name: string; progress: number | null; abort: AbortController };

const scanKind = (s: string) => (s === "CLEAN" ? "ok" : s === "QUARANTINED" ? "danger" : "warn");

export function DocumentsPanel({ caseId, asParty, canManage }: DocumentsPanelProps) {
  const { api } = useAuth();
  const [{ data, fetching, error }, refetch] = useQuery({ query: CaseDocumentsDocument, variables: { caseId } });
  const [, setVisibility] = useMutation(SetDocumentVisibilityDocument);
  const [who, setWho] = useState<Visibility>("case");
  const [upload, setUpload] = useState<Upload | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const versionOf = useRef<string | undefined>(undefined);

  const send = async (file: File) => {
    const documentId = versionOf.current;
    versionOf.current = undefined;
    setProblem(null);
    setNotice(null);
    const abort = new AbortController();
    setUpload({ name: file.name, progress: 0, abort });
    try {
      const csrfToken = await api.csrfToken();
      const done = await uploadDocument({ caseId, file, documentId, visibility: who, csrfToken }, (progress) => setUpload((u) => (u ? { ...u, progress } : u)), abort.signal);
      setNotice(done.message);
      refetch({ requestPolicy: "network-only" });
    } catch (e) {
      setProblem(toProblem(e));
    } finally {
      setUpload(null);
      if (input.current) input.current.value = "";
    }
  };

  const onDrop = (e: DragEvent<HTMLElement>) => {
    e.preventDefault();
    setDragging(false);
    const file = e.dataTransfer.files[0];
    if (file && !upload) void send(file);
  };

  const share = async (id: string, name: string) => {
    setProblem(null);
    const r = await setVisibility({ documentId: id, visibility: "CASE" });
    if (r.error) setProblem(toProblem(r.error));
    else {
      setNotice(d.shared(name));
      refetch({ requestPolicy: "network-only" });
    }
  };

  const docs = data?.caseDocuments ?? [];
  return (
    <Card title={d.title}>
      <div
        className={`dropzone${dragging ? " dropzone-active" : ""}`}
        data-testid="document-dropzone"
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
      >
        <p>{d.drop}</p>
        <SelectField label={d.who} value={who} onChange={(e) => setWho(e.target.value as Visibility)} disabled={!!upload}>
          <option value="case">{d.whoCase}</option>
          {asParty ? <option value="party">{d.whoPrivate}</option> : <option value="mediators">{d.whoMediators}</option>}
        </SelectField>
        <label className="btn" htmlFor={`document-file-${caseId}`}>
          {d.choose}
        </label>
        <input
          ref={input}
          id={`document-file-${caseId}`}
          className="visually-hidden"
          type="file"
          disabled={!!upload}
          onChange={(e) => {
            const file = e.target.files?.[0];
            if (file) void send(file);
          }}
        />
      </div>
      {upload ? (
        <div role="status">
          <p>{d.uploading(upload.name)}</p>
          <progress aria-label={d.progress} max={1} value={upload.progress ?? undefined} />
          <Button small onClick={() => upload.abort.abort()}>
            {d.cancel}
          </Button>
        </div>
      ) : null}
      {notice ? (
        <Alert kind="ok" live>
          {notice}
        </Alert>
      ) : null}
      <ErrorAlert problem={problem} />
      <ErrorAlert problem={error ? toProblem(error) : null} onRetry={() => refetch({ requestPolicy: "network-only" })} />
      {fetching && !data ? <Loading label={d.loading} /> : null}
      {data && docs.length === 0 ? <Empty>{d.empty}</Empty> : null}
      {docs.length > 0 ? (
        <table className="data" aria-label={d.tableCaption}>
          <thead>
            <tr>
              <th scope="col">{d.name}</th>
              <th scope="col">{d.visibility}</th>
              <th scope="col">{d.scan}</th>
              <th scope="col">{d.size}</th>
              <th scope="col">{d.actions}</th>
            </tr>
          </thead>
          <tbody>
            {docs.map((doc) => (
              <tr key={doc.id} data-document-id={doc.id}>
                <td>
                  <span className="document-name">{doc.name}</span>
                  {doc.versions.length > 1 ? (
                    <details>
                      <summary>{d.versions(doc.versions.length)}</summary>
                      <ul>
                        {doc.versions.map((v) => (
                          <li key={v.id}>
                            {d.version(v.number)}: {v.filename} ({formatBytes(v.sizeBytes)}, {formatDateTime(v.createdAt)}){" "}
                            {v.downloadPath ? <a href={v.downloadPath} aria-label={`${d.download} ${v.filename}, ${d.version(v.number)}`}>{d.download}</a> : null}
                          </li>
                        ))}
                      </ul>
                    </details>
                  ) : null}
                </td>
                <td>{d.visibilityLabel[doc.visibility] ?? doc.visibility}</td>
                <td>
                  <Badge kind={scanKind(doc.latest.scanState)}>{d.scanLabel[doc.latest.scanState] ?? doc.latest.scanState}</Badge>
                </td>
                <td>{formatBytes(doc.latest.sizeBytes)}</td>
                <td>
                  {doc.latest.downloadPath ? (
                    <a className="btn btn-small" href={doc.latest.downloadPath} aria-label={d.downloadOf(doc.name)}>
                      {d.download}
                    </a>
                  ) : null}{" "}
                  <Button
                    small
                    disabled={!!upload}
                    aria-label={d.newVersionOf(doc.name)}
                    onClick={() => {
                      versionOf.current = doc.id;
                      input.current?.click();
                    }}
                  >
                    {d.newVersion}
                  </Button>{" "}
                  {canManage && doc.visibility !== "CASE" ? (
                    <Button small aria-label={d.shareOf(doc.name)} onClick={() => void share(doc.id, doc.name)}>
                      {d.share}
                    </Button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Card>
  );
}
