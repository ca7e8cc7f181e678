// Secure messages on a person's case page: the whole case's thread and their
// private thread with the mediator, unread counts, read receipts. Opening a
// thread marks it read.

import { MarkMessagesReadClientDocument, MessageThreadsClientDocument, SendMessageClientDocument, ThreadMessagesClientDocument } from "@accord/shared/gql";
import { Alert, Badge, Button, Card, Empty, ErrorAlert, formatDateTime, Loading, toProblem, useSession, type Problem } from "@accord/shared/ui";
import { useEffect, useId, useState, type FormEvent } from "react";
import { useMutation, useQuery } from "urql";
import { AttachmentField, AttachmentLink, useThreadAttachments } from "@accord/shared/documents";
import { msg } from "./messagesStrings";

export function MessagesCard({ caseId }: { caseId: string }) {
  const [{ data, error, fetching }, refetch] = useQuery({ query: MessageThreadsClientDocument, variables: { caseId }, requestPolicy: "cache-and-network" });
  const [open, setOpen] = useState<string | null | undefined>(undefined);
  const threads = data?.messageThreads ?? [];
  const current = open === undefined ? undefined : threads.find((t) => (t.partyId ?? null) === open);
  return (
    <Card title={msg.title}>
      {error && !data ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && fetching ? <Loading /> : null}
      <div className="row" role="group" aria-label={msg.threads}>
        {threads.map((t) => (
          <Button key={t.partyId ?? "case"} small variant={current && (current.partyId ?? null) === (t.partyId ?? null) ? "primary" : "plain"} onClick={() => setOpen(t.partyId ?? null)}>
            {t.title}
            {t.unread > 0 ? <Badge>{msg.unread(t.unread)}</Badge> : null}
          </Button>
        ))}
      </div>
      {current ? <Thread caseId={caseId} partyId={current.partyId ?? null} title={current.title} onChanged={() => refetch({ requestPolicy: "network-only" })} /> : <p className="muted">{msg.pick}</p>}
    </Card>
  );
}

function Thread({ caseId, partyId, title, onChanged }: { caseId: string; partyId: string | null; title: string; onChanged: () => void }) {
  // A person's private thread is their own.
  const me = useSession().userId;
  const threadUserId = partyId === null ? null : me;
  const [{ data, error, fetching }, refetch] = useQuery({ query: ThreadMessagesClientDocument, variables: { caseId, partyId }, requestPolicy: "network-only" });
  const [, markRead] = useMutation(MarkMessagesReadClientDocument);
  const [{ fetching: sending }, send] = useMutation(SendMessageClientDocument);
  const [body, setBody] = useState("");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [sent, setSent] = useState(false);
  const [attachment, setAttachment] = useState("");
  const attachments = useThreadAttachments(caseId, threadUserId);
  const fieldId = useId();
  const unread = (data?.messages ?? []).some((m) => !m.mine);
  useEffect(() => {
    if (!unread) return;
    void markRead({ caseId, partyId }).then((r) => {
      if (!r.error && (r.data?.markMessagesRead ?? 0) > 0) onChanged();
    });
  }, [unread, caseId, partyId, markRead, onChanged]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setProblem(null);
    setSent(false);
    if (body.trim() === "") {
      setProblem({ code: "BAD_USER_INPUT", message: msg.empty } as Problem);
      return;
    }
    const r = await send({ caseId, partyId, body, attachmentId: attachment || null });
    if (r.error) setProblem(toProblem(r.error));
    else {
      setBody("");
      setAttachment("");
      setSent(true);
      refetch({ requestPolicy: "network-only" });
      onChanged();
    }
  };
  return (
    <section aria-label={title}>
      <h3>{title}</h3>
      {error && !data ? <ErrorAlert problem={toProblem(error)} onRetry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && fetching ? <Loading /> : null}
      {data && data.messages.length === 0 ? <Empty>{msg.none}</Empty> : null}
      <ol className="messages" aria-label={msg.list(title)}>
        {(data?.messages ?? []).map((m) => (
          <li key={m.id}>
            <p>
              <strong>{m.mine ? msg.you : m.senderName}</strong> <span className="muted">{formatDateTime(m.sentAt)}</span>
            </p>
            <p className="message-body">{m.body}</p>
            {m.attachmentId ? <AttachmentLink doc={attachments.byId.get(m.attachmentId)} /> : null}
            {m.mine && m.readBy.length > 0 ? <p className="muted">{msg.readBy(m.readBy.map((r) => r.name).join(", "))}</p> : null}
          </li>
        ))}
      </ol>
      <form onSubmit={(e) => void submit(e)}>
        <div className="field">
          <label htmlFor={fieldId}>{msg.write(title)}</label>
          <textarea id={fieldId} rows={3} maxLength={10000} value={body} onChange={(e) => setBody(e.target.value)} />
        </div>
        <AttachmentField docs={attachments.fitting} value={attachment} onChange={setAttachment} />
        <Button type="submit" variant="primary" busy={sending}>
          {msg.send}
        </Button>
        {sent ? (
          <Alert kind="ok" live>
            {msg.sent}
          </Alert>
        ) : null}
        <ErrorAlert problem={problem} />
      </form>
    </section>
  );
}
