// The party's view of a live session (/sessions/:id): the session's case,
// title and time and the device check before joining; then their room's
// video (a screen share or the active speaker on the stage), their own
// controls (microphone, camera, devices, hand, screen, leave), where they
// are and whom they wait for, chat and notices, and a banner when their
// connection is unstable. Clear screens for the lobby, a denial (with the
// mediator's words), a removal, a locked or ended session, and after
// leaving (camera and microphone stopped).

import {
  OwnRoom,
  useJoinFlow,
  ChatPanel,
  CloseCode,
  DeviceCheck,
  NoticesLog,
  SessionSummary,
  live,
  peopleIn,
  roomKey,
  sessionOver,
  useLabeller,
  useLinkHealth,
  useLive,
  useNow,
  waitingMessage,
  type CaseInfo,
  type LiveStore,
} from "@accord/shared";
import { Alert, Button, ErrorAlert, Loading, PageTitle, formatDateTime } from "@accord/shared/ui";
import { Link, useParams } from "react-router";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function SessionPage() {
  const { id = "" } = useParams();
  if (!UUID.test(id)) {
    return (
      <main id="main" className="page-narrow">
        <PageTitle>{live.cannotJoinTitle}</PageTitle>
        <Alert kind="error">{live.notFound}</Alert>
        <Link to="/">{live.backHome}</Link>
      </main>
    );
  }
  return <PartySession sessionId={id} />;
}

function PartySession({ sessionId }: { sessionId: string }) {
  const { store, snap, info, phase, setPhase, selection, setSelection, joining, problem, join } = useJoinFlow(sessionId);

  if (phase === "live" && snap.client) {
    const closed = snap.closed;
    if (closed) {
      return <ClosedScreen code={closed.code} message={closed.message} denied={snap.deniedMessage} onJoinAgain={() => setPhase("prejoin")} caseId={info.session?.caseId ?? null} />;
    }
    return <InSession store={store} caseInfo={info.caseInfo} />;
  }

  const over = sessionOver(info.session);
  const notStarted = info.session && !over && Date.parse(info.session.startsAt) > Date.now();
  return (
    <main id="main" className="live-prejoin">
      <PageTitle>{info.caseInfo ? info.caseInfo.title : live.preJoinTitle}</PageTitle>
      {info.fetching ? <Loading /> : null}
      <ErrorAlert problem={info.problem} onRetry={info.retry} />
      {info.missing ? <Alert kind="error">{live.notFound}</Alert> : null}
      <SessionSummary session={info.session} caseInfo={info.caseInfo} timeZone={info.timeZone} />
      <ErrorAlert problem={problem} />
      {over ? (
        <section aria-labelledby="over-h">
          <h2 id="over-h">{live.endedTitle}</h2>
          <p>{over}</p>
          <Link to="/">{live.backHome}</Link>
        </section>
      ) : info.missing ? null : (
        <>
          {notStarted && info.session ? <Alert kind="info">{live.notStartedYet(formatDateTime(info.session.startsAt, { timeZone: info.timeZone }))}</Alert> : null}
          <DeviceCheck onChange={setSelection} />
          <Button variant="primary" disabled={!selection || joining} busy={joining} onClick={() => void join()}>
            {live.join}
          </Button>
        </>
      )}
    </main>
  );
}

export function ClosedScreen({ code, message, denied, onJoinAgain, caseId }: { code: number; message: string; denied: string | null; onJoinAgain: () => void; caseId: string | null }) {
  const [title, body, again] =
    code === CloseCode.Denied
      ? [live.deniedTitle, denied ? live.deniedMessage(denied) : message, false]
      : code === CloseCode.Removed
        ? [live.removedTitle, live.removedBody, false]
        : code === CloseCode.Locked
          ? [live.lockedTitle, message, true]
          : code === CloseCode.Normal
            ? [live.youLeft, "", true]
            : [live.closedTitle, message, true];
  return (
    <main id="main" className="live-prejoin">
      <PageTitle>{title}</PageTitle>
      {body ? <Alert kind={code === CloseCode.Normal ? "info" : "warn"}>{body}</Alert> : null}
      <div className="row">
        {again ? (
          <Button variant="primary" onClick={onJoinAgain}>
            {live.joinAgain}
          </Button>
        ) : null}
        <Link to={caseId ? `/cases/${caseId}` : "/"}>{live.backHome}</Link>
      </div>
    </main>
  );
}

/** The countdown the mediator set on the person's room (the server says how long is left). */
function RoomCountdown({ endsAt }: { endsAt: number }) {
  const now = useNow(1000);
  const left = Math.max(0, Math.ceil((endsAt - now) / 1000));
  const mmss = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  return <span className="live-timer">{left > 0 ? live.roomTimer(mmss) : live.roomTimeUp}</span>;
}

function InSession({ store, caseInfo }: { store: LiveStore; caseInfo: CaseInfo | null }) {
  const snap = useLive(store);
  const client = store.client!;
  const state = snap.state;
  const you = state?.you ?? "";
  const participants = state?.participants ?? [];
  const me = participants.find((p) => p.id === you);
  const label = useLabeller(caseInfo, participants, you);
  store.label = label;
  const health = useLinkHealth(client, snap.status === "joined");
  const inLobby = me?.room.kind === "lobby";
  const here = me && !inLobby ? peopleIn(participants, me.room) : me ? [me] : [];
  const roomName = me ? store.roomName(me.room) : "";
  const mediatorName = caseInfo?.mediator?.user.displayName ?? live.theMediator;
  const waiting = waitingMessage(me, here, roomName, mediatorName);
  return (
    <div className="live-page">
      <header className="live-header">
        <PageTitle>{caseInfo ? caseInfo.title : live.sessionTitle}</PageTitle>
        <p className="live-status" role="status" aria-live="polite">
          {snap.status === "joined" ? (live.status.joined ?? "") : snap.statusMessage || (live.status[snap.status] ?? "")}
        </p>
      </header>
      <main id="main" className="live-main">
        <div className="live-layout">
          <div>
            {me ? (
              <p className="live-where" id="where">
                {inLobby ? live.inRoom("Lobby") : live.inRoom(roomName)}
                {me && !inLobby && snap.timers.has(roomKey(me.room)) ? (
                  <>
                    {" "}
                    <RoomCountdown endsAt={snap.timers.get(roomKey(me.room)) ?? 0} />
                  </>
                ) : null}
              </p>
            ) : null}
            <div role="status" aria-live="polite">
              {inLobby ? (
                <Alert kind="info">
                  <strong>{live.lobbyTitle}.</strong> {live.lobbyWait}
                </Alert>
              ) : null}
              {waiting ? <Alert kind="info">{waiting}</Alert> : null}
            </div>
            <OwnRoom store={store} here={here} label={label} health={health} />
          </div>
          <div className="live-side">
            <ChatPanel chat={snap.chat} label={label} onSend={(text) => client.chat(text)} disabled={snap.status !== "joined" || inLobby} />
            <NoticesLog notices={snap.notices} />
          </div>
        </div>
      </main>
    </div>
  );
}
