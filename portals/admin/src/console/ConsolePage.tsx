// The mediator's session console (/admin/sessions/:id): before joining, the
// session's case, title and time with the device check; then the lobby
// (admit, deny with a message), raised hands from every room, the rooms with
// everyone in them (moved by drag and drop or by keyboard), caucuses
// (create, rename, time, close), broadcast, recall all, lock, mute, ask to
// unmute and remove, link quality and the active speaker, the video of the
// mediator's own room, chat and notices; who has not signed the case's
// agreement to mediate is marked in the lobby and the rooms. An org admin
// (who cannot join) sees who is in the session instead of a Join button.

import {
  OwnRoom,
  useJoinFlow,
  ChatPanel,
  DeviceCheck,
  NoticesLog,
  SessionSummary,
  freeCaucusName,
  live,
  peopleIn,
  roomFromKey,
  sessionOver,
  useLabeller,
  useLinkHealth,
  useLive,
  type LiveStore,
  type RoomId,
} from "@accord/shared";
import { ConsoleConsentDocument } from "@accord/shared/gql";
import { Alert, Button, ErrorAlert, Loading, PageTitle, useSession } from "@accord/shared/ui";
import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from "react";
import { useQuery } from "urql";
import { Link, useParams } from "react-router";
import { AdminLiveView } from "./AdminLiveView";
import { RoomsPanel, NEW_CAUCUS, type RoomActions } from "./Rooms";
import { consoleStrings as t } from "./strings";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function ConsolePage() {
  const { id = "" } = useParams();
  const session = useSession();
  if (!UUID.test(id)) {
    return (
      <main id="main" className="page-narrow">
        <PageTitle>{t.title}</PageTitle>
        <Alert kind="error">{live.notFound}</Alert>
      </main>
    );
  }
  if (session.role === "org_admin") return <AdminLiveView sessionId={id} />;
  return <MediatorConsole sessionId={id} userId={session.userId} />;
}

function MediatorConsole({ sessionId, userId }: { sessionId: string; userId: string }) {
  const { store, snap, info, phase, setPhase, selection, setSelection, joining, problem, join } = useJoinFlow(sessionId);

  const title = info.caseInfo ? `${t.title}: ${info.caseInfo.reference}` : t.title;
  const over = sessionOver(info.session);
  const notMediator = info.caseInfo && info.caseInfo.mediator?.user.id !== userId;

  if (phase === "live" && snap.client && (snap.status !== "closed" || snap.state)) {
    if (snap.status === "closed") {
      return (
        <main id="main" className="live-prejoin">
          <PageTitle>{t.title}</PageTitle>
          <Alert kind={snap.closed?.code === 1000 ? "info" : "error"}>{snap.closed?.code === 1000 ? live.youLeft : (snap.closed?.message ?? live.closedTitle)}</Alert>
          <div className="row">
            <Button variant="primary" onClick={() => setPhase("prejoin")}>
              {live.joinAgain}
            </Button>
            {info.session ? <Link to={`/cases/${info.session.caseId}`}>{t.backToCase}</Link> : null}
          </div>
        </main>
      );
    }
    return <Console store={store} caseTitle={info.caseInfo ? `${info.caseInfo.reference} · ${info.caseInfo.title}` : ""} caseInfo={info.caseInfo} />;
  }

  return (
    <main id="main" className="live-prejoin">
      <PageTitle>{title}</PageTitle>
      {info.fetching ? <Loading /> : null}
      {info.problem ? <ErrorAlert problem={info.problem} onRetry={info.retry} /> : null}
      {info.missing ? <Alert kind="error">{live.notFound}</Alert> : null}
      <SessionSummary session={info.session} caseInfo={info.caseInfo} timeZone={info.timeZone} />
      {snap.closed && snap.closed.refused ? <Alert kind="error">{snap.closed.message}</Alert> : null}
      <ErrorAlert problem={problem} />
      {over ? (
        <Alert kind="info">{over}</Alert>
      ) : notMediator ? (
        <Alert kind="warn">{t.notYourCase}</Alert>
      ) : info.missing ? null : (
        <>
          <DeviceCheck onChange={setSelection} />
          <Button variant="primary" disabled={!selection || joining} busy={joining} onClick={() => void join()}>
            {live.join}
          </Button>
        </>
      )}
    </main>
  );
}

/** Caucuses asked for by name, and what to do once each appears. */
type Pending = { name: string; known: Set<string>; at: number; then: (room: RoomId) => void };

function Console({ store, caseTitle, caseInfo }: { store: LiveStore; caseTitle: string; caseInfo: Parameters<typeof useLabeller>[0] }) {
  const snap = useLive(store);
  const client = store.client!;
  const state = snap.state;
  const you = state?.you ?? "";
  const participants = state?.participants ?? [];
  const rooms = state?.rooms ?? [];
  const me = participants.find((p) => p.id === you);
  const label = useLabeller(caseInfo, participants, you);
  store.label = label;
  const lobbyKey = participants
    .filter((p) => p.room.kind === "lobby")
    .map((p) => p.id)
    .join(",");
  const unsigned = useUnsigned(caseInfo, lobbyKey);
  const health = useLinkHealth(client, snap.status === "joined");
  // The mediator's choice of room per participant: kept here, keyed by participant id.
  const [choices, setChoices] = useState<Record<string, string>>({});
  const pending = useRef<Pending[]>([]);

  // Caucuses asked for by name: act once they exist.
  useEffect(() => {
    if (!state) return;
    const now = Date.now();
    pending.current = pending.current.filter((p) => {
      const room = state.rooms.find((r) => r.id.kind === "caucus" && !p.known.has(r.id.id) && r.name.trim().toLowerCase() === p.name.trim().toLowerCase());
      if (room) {
        p.then(room.id);
        return false;
      }
      return now - p.at < 15_000;
    });
  }, [state]);

  // Forget "left" after a while.
  useEffect(() => {
    if (snap.departed.length === 0) return;
    const timer = setInterval(() => store.prune(), 5000);
    return () => clearInterval(timer);
  }, [store, snap.departed.length]);

  const createThen = (wanted: string, then: (room: RoomId) => void) => {
    const name = freeCaucusName(rooms, wanted);
    const known = new Set(rooms.flatMap((r) => (r.id.kind === "caucus" ? [r.id.id] : [])));
    if (client.createCaucus(name)) pending.current.push({ name, known, at: Date.now(), then });
  };

  const actions: RoomActions = {
    move: (participant, target) => {
      if (target === NEW_CAUCUS) {
        const first = label(participant).replace(` (${live.you})`, "");
        createThen(t.caucusFor(first), (room) => client.move(participant, room));
        return;
      }
      const room = roomFromKey(target);
      if (room) client.move(participant, room);
    },
    mute: (id) => client.mute(id),
    askUnmute: (id) => client.askUnmute(id),
    remove: (id) => {
      if (!window.confirm(t.removeConfirm(label(id)))) return;
      store.sendingAway(id);
      client.remove(id);
    },
    rename: (room, name) => client.renameCaucus(room.id, name),
    close: (room, people) => {
      if (people > 0 && !window.confirm(t.closeConfirm(room.name, people))) return;
      for (const p of peopleIn(participants, room.id)) client.move(p.id, { kind: "main" });
      client.closeCaucus(room.id);
    },
    setTimer: (room, seconds) => store.setTimer(room, seconds),
    clearTimer: (room) => store.clearTimer(room),
  };

  const inLobby = me?.room.kind === "lobby";
  const roomName = me ? store.roomName(me.room) : "";
  const here = me && !inLobby ? peopleIn(participants, me.room) : me ? [me] : [];

  return (
    <div className="live-page">
      <header className="live-header">
        <PageTitle>{t.title}</PageTitle>
        {caseTitle ? <span>{caseTitle}</span> : null}
        <p className="live-status" role="status" aria-live="polite">
          {snap.status === "joined" ? (live.status.joined ?? "") : snap.statusMessage || (live.status[snap.status] ?? "")}
        </p>
        {state?.locked ? <span className="badge badge-warn">{t.locked}</span> : null}
      </header>
      <main id="main" className="live-main">
        <div className="live-layout">
          <div>
            <p className="live-where" id="where">
              {live.inRoom(roomName)}
            </p>
            <OwnRoom store={store} here={here} label={label} health={health} />
            <ChatPanel chat={snap.chat} label={label} onSend={(text) => client.chat(text)} disabled={snap.status !== "joined"} />
          </div>
          <div className="live-side">
            <LobbyPanel store={store} label={label} unsigned={unsigned} />
            <HandsPanel hands={snap.hands} label={label} roomOf={(id) => {
              const p = participants.find((q) => q.id === id);
              return p ? store.roomName(p.room) : "";
            }} />
            <section className="live-panel" aria-labelledby="rooms-h">
              <h2 id="rooms-h">{t.roomsTitle}</h2>
              <RoomsPanel
                rooms={rooms}
                participants={participants.filter((p) => p.room.kind !== "lobby")}
                you={you}
                label={label}
                choices={choices}
                onChoose={(p, v) => setChoices((c) => ({ ...c, [p]: v }))}
                actions={actions}
                speaker={snap.speaker}
                reconnecting={snap.reconnecting}
                departed={snap.departed}
                quality={snap.quality}
                timers={snap.timers}
                unsigned={unsigned}
              />
            </section>
            <SessionTools store={store} locked={state?.locked ?? false} />
            <NoticesLog notices={snap.notices} />
          </div>
        </div>
      </main>
    </div>
  );
}

/**
 * Whether a participant (by user id) is on the case and has not signed its
 * agreement to mediate. Asked again whenever the lobby changes: someone may
 * have signed just before joining.
 */
function useUnsigned(caseInfo: Parameters<typeof useLabeller>[0], lobbyKey: string): (id: string) => boolean {
  const caseId = caseInfo?.id ?? "";
  const [{ data }, refetch] = useQuery({ query: ConsoleConsentDocument, variables: { caseId }, pause: !caseId, requestPolicy: "cache-and-network" });
  useEffect(() => {
    if (caseId && lobbyKey) refetch({ requestPolicy: "network-only" });
  }, [caseId, lobbyKey, refetch]);
  return useMemo(() => {
    if (!data || !caseInfo) return () => false;
    const signed = new Set(
      data.agreements
        .filter((a) => a.kind === "AGREEMENT_TO_MEDIATE" && a.status !== "DRAFT")
        .flatMap((a) => a.signatories.filter((s) => s.signature).map((s) => s.partyId)),
    );
    const unsigned = new Set(caseInfo.parties.filter((p) => p.userId && !signed.has(p.id)).map((p) => p.userId as string));
    return (id: string) => unsigned.has(id);
  }, [data, caseInfo]);
}

function LobbyPanel({ store, label, unsigned }: { store: LiveStore; label: (id: string) => string; unsigned: (id: string) => boolean }) {
  const snap = useLive(store);
  const client = store.client!;
  const waiting = (snap.state?.participants ?? []).filter((p) => p.room.kind === "lobby");
  const [messages, setMessages] = useState<Record<string, string>>({});
  return (
    <section className="live-panel" aria-labelledby="lobby-h">
      <h2 id="lobby-h">
        {t.lobbyTitle} {waiting.length ? <span className="badge badge-warn">{waiting.length}</span> : null}
      </h2>
      {waiting.length === 0 ? <p className="muted">{t.lobbyEmpty}</p> : null}
      <ul id="lobby" className="live-people">
        {waiting.map((p) => {
          const name = label(p.id);
          const inputId = `deny-${p.id}`;
          return (
            <li key={p.id} data-participant={p.id}>
              <span className="live-who">
                <strong>{name}</strong>
                {unsigned(p.id) ? (
                  <>
                    {" "}
                    <span className="badge badge-warn">{t.unsigned}</span>
                  </>
                ) : null}
              </span>
              <Button small variant="primary" data-action="admit" aria-label={t.admitWho(name)} onClick={() => client.admit(p.id)}>
                {t.admit}
              </Button>
              <span className="live-move">
                <label htmlFor={inputId} className="visually-hidden">
                  {t.denyMessage(name)}
                </label>
                <input id={inputId} maxLength={500} placeholder={t.denyMessage(name)} value={messages[p.id] ?? ""} onChange={(e) => setMessages((m) => ({ ...m, [p.id]: e.target.value }))} />
                <Button
                  small
                  variant="danger"
                  data-action="deny"
                  aria-label={t.denyWho(name)}
                  onClick={() => {
                    store.sendingAway(p.id);
                    client.deny(p.id, messages[p.id]?.trim() || null);
                  }}
                >
                  {t.deny}
                </Button>
              </span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function HandsPanel({ hands, label, roomOf }: { hands: readonly string[]; label: (id: string) => string; roomOf: (id: string) => string }) {
  return (
    <section className="live-panel" aria-labelledby="hands-h">
      <h2 id="hands-h">
        {t.handsTitle} {hands.length ? <span className="badge badge-warn">{hands.length}</span> : null}
      </h2>
      {hands.length === 0 ? <p className="muted">{t.handsEmpty}</p> : null}
      <ol id="hands">
        {hands.map((id) => (
          <li key={id} data-participant={id}>
            {t.handIn(label(id), roomOf(id))}
          </li>
        ))}
      </ol>
    </section>
  );
}

function SessionTools({ store, locked }: { store: LiveStore; locked: boolean }) {
  const client = store.client!;
  const [caucus, setCaucus] = useState("");
  const [message, setMessage] = useState("");
  const id = useId();
  const create = (e: FormEvent) => {
    e.preventDefault();
    const name = caucus.trim();
    if (name && client.createCaucus(name)) setCaucus("");
  };
  const broadcast = (e: FormEvent) => {
    e.preventDefault();
    const text = message.trim();
    if (text && client.broadcast(text)) setMessage("");
  };
  return (
    <section className="live-panel" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>{t.toolsTitle}</h2>
      <form onSubmit={create} className="live-inline-form">
        <label htmlFor={`${id}-caucus`}>{t.newCaucusName}</label>
        <div className="row">
          <input id={`${id}-caucus`} maxLength={60} value={caucus} onChange={(e) => setCaucus(e.target.value)} autoComplete="off" />
          <Button type="submit" disabled={!caucus.trim()}>
            {t.createCaucus}
          </Button>
        </div>
      </form>
      <form onSubmit={broadcast} className="live-inline-form">
        <label htmlFor={`${id}-broadcast`}>{t.broadcastLabel}</label>
        <div className="row">
          <input id={`${id}-broadcast`} maxLength={2000} value={message} onChange={(e) => setMessage(e.target.value)} autoComplete="off" />
          <Button type="submit" disabled={!message.trim()}>
            {t.broadcast}
          </Button>
        </div>
      </form>
      <div className="row">
        <Button data-action="recall" onClick={() => client.recallAll()}>
          {t.recallAll}
        </Button>
        <Button data-action="lock" onClick={() => client.lock(!locked)}>
          {locked ? t.unlock : t.lock}
        </Button>
      </div>
    </section>
  );
}
