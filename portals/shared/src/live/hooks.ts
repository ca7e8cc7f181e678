// React hooks of the live session: the store, the session's details and
// names, the own link's health, and a clock for countdowns.

import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import { useQuery } from "urql";
import type { Api } from "../api";
import { LiveCaseDocument, LiveSessionsDocument, type LiveCaseQuery, type LiveSessionsQuery } from "../gql/graphql";
import type { ParticipantView } from "../protocol";
import { JoinRefusedError, type SessionClient } from "../session";
import { useAuth } from "../ui/auth";
import { toProblem, type Problem } from "../ui/errors";
import type { DeviceSelection } from "./DeviceCheck";
import { isTimeZone, viewerTimeZone } from "../ui/format";
import { connectionUnstable, sampleFromStats, type LinkSample } from "./quality";
import { LiveStore, type LiveSnapshot } from "./store";
import { e2eeSupported } from "./e2ee/transform";
import { live } from "./strings";

/** The live-session store of one session id (made once per page and id). */
export function useLiveStore(api: Api, sessionId: string): LiveStore {
  const [store, setStore] = useState(() => new LiveStore({ api, sessionId }));
  useEffect(() => {
    if (store.sessionId !== sessionId) setStore(new LiveStore({ api, sessionId }));
  }, [api, sessionId, store]);
  // Leaving the page leaves the session and stops the camera.
  useEffect(() => () => store.leave(), [store]);
  return store;
}

export function useLive(store: LiveStore): LiveSnapshot {
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/**
 * A session page's way in, for the console and the party's page alike: the
 * store, the session's details, the devices chosen in the check, and `join`
 * (which hands the checked camera and microphone to the session). `phase`
 * is "live" once joined or refused (the page then shows the session or why
 * it ended); back to "prejoin" to join again.
 */
export function useJoinFlow(sessionId: string) {
  const { api } = useAuth();
  const store = useLiveStore(api, sessionId);
  const snap = useLive(store);
  const info = useSessionInfo(sessionId);
  const [phase, setPhase] = useState<"prejoin" | "live">("prejoin");
  const [selection, setSelection] = useState<DeviceSelection | null>(null);
  const [joining, setJoining] = useState(false);
  // Said before joining: a browser that cannot encrypt end to end joins
  // only where the org allows it, and the session is then not end-to-end
  // encrypted for anyone.
  const [problem, setProblem] = useState<Problem | null>(() => (e2eeSupported() ? null : { code: "E2EE_UNSUPPORTED", message: live.e2ee.unsupported }));
  const join = async () => {
    if (!selection) return;
    setJoining(true);
    setProblem(null);
    try {
      await store.join(selection.handOver(), selection.speakerId);
      setPhase("live");
    } catch (e) {
      if (e instanceof JoinRefusedError) setPhase("live");
      // The session client's own errors are written for people; API errors go by their code.
      else setProblem(e instanceof Error && !("code" in e) ? { code: "INTERNAL", message: e.message } : toProblem(e));
    } finally {
      setJoining(false);
    }
  };
  return { store, snap, info, phase, setPhase, selection, setSelection, joining, problem, join };
}

export type SessionRow = LiveSessionsQuery["sessions"][number];
export type CaseInfo = LiveCaseQuery["case"];

/** The scheduled session and its case (names of the mediator and the people on it). */
export function useSessionInfo(sessionId: string): {
  session: SessionRow | null;
  /** The zone the viewer sees times in: their account's choice, else the browser's. */
  timeZone: string;
  caseInfo: CaseInfo | null;
  fetching: boolean;
  problem: Problem | null;
  /** The session id is not among the viewer's sessions. */
  missing: boolean;
  retry: () => void;
} {
  const [sessions, refetch] = useQuery({ query: LiveSessionsDocument, requestPolicy: "cache-and-network" });
  const session = sessions.data?.sessions.find((s) => s.id.toLowerCase() === sessionId.toLowerCase()) ?? null;
  const [caseResult, refetchCase] = useQuery({ query: LiveCaseDocument, variables: { id: session?.caseId ?? "" }, pause: !session });
  const problem = sessions.error ? toProblem(sessions.error) : caseResult.error ? toProblem(caseResult.error) : null;
  const chosen = sessions.data?.viewer.timeZone;
  return {
    session,
    timeZone: chosen && isTimeZone(chosen) ? chosen : viewerTimeZone(),
    caseInfo: caseResult.data?.case ?? null,
    fetching: (sessions.fetching && !sessions.data) || (!!session && caseResult.fetching && !caseResult.data),
    problem,
    missing: !!sessions.data && !session,
    retry: () => {
      refetch({ requestPolicy: "network-only" });
      if (session) refetchCase({ requestPolicy: "network-only" });
    },
  };
}

/** How a participant is called on screen: their name on the case, else their role and the end of their id. */
export function useLabeller(caseInfo: CaseInfo | null, participants: readonly ParticipantView[], you: string | undefined): (id: string) => string {
  const names = useMemo(() => {
    const m = new Map<string, string>();
    const med = caseInfo?.mediator?.user;
    if (med) m.set(med.id, med.displayName);
    for (const p of caseInfo?.parties ?? []) if (p.userId) m.set(p.userId, p.displayName);
    return m;
  }, [caseInfo]);
  const roles = useMemo(() => new Map(participants.map((p) => [p.id, p.role])), [participants]);
  return useMemo(
    () => (id: string) => {
      const role = roles.get(id);
      const name = names.get(id) ?? `${role ? role[0]!.toUpperCase() + role.slice(1) : "Participant"} …${id.slice(-6)}`;
      return id === you ? `${name} (${live.you})` : name;
    },
    [names, roles, you],
  );
}

/** The current time, every `everyMs`. */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

/** This browser's media link: the latest reading and whether to warn (see quality.ts). */
export function useLinkHealth(client: SessionClient | null, active: boolean, everyMs = 2000): { unstable: boolean; last: LinkSample | null } {
  const [samples, setSamples] = useState<LinkSample[]>([]);
  const totals = useRef<{ received: number; lost: number } | null>(null);
  useEffect(() => {
    setSamples([]);
    totals.current = null;
    if (!client || !active) return;
    let stopped = false;
    let lastPc: RTCPeerConnection | undefined;
    const read = async () => {
      const pc = client.peerConnection;
      if (!pc) {
        if (!stopped) setSamples((s) => [...s.slice(-5), { state: "none", loss: null, rttMs: null }]);
        return;
      }
      if (pc !== lastPc) {
        lastPc = pc;
        totals.current = null;
      }
      try {
        const report = await pc.getStats();
        if (stopped) return;
        const { sample, totals: t } = sampleFromStats(report, pc.connectionState, totals.current);
        totals.current = t;
        setSamples((s) => [...s.slice(-5), sample]);
      } catch {
        // The connection closed under the call; the next reading sees the new one.
      }
    };
    const timer = setInterval(() => void read(), everyMs);
    const off = client.on("media", (state) => setSamples((s) => [...s.slice(-5), { state, loss: null, rttMs: null }]));
    return () => {
      stopped = true;
      clearInterval(timer);
      off();
    };
  }, [client, active, everyMs]);
  return { unstable: connectionUnstable(samples), last: samples[samples.length - 1] ?? null };
}


