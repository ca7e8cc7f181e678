// The live session's React pieces, shared by the mediator's console (admin
// portal) and the party's view (client portal).

export { ChatPanel, ConnectionBanner, NoticesLog, OwnRoom, SelfControls, SessionSummary, sessionOver } from "./components";
export { DeviceCheck, applySpeaker, type DeviceSelection } from "./DeviceCheck";
export { useJoinFlow, useLabeller, useLinkHealth, useLive, useLiveStore, useNow, useSessionInfo, type CaseInfo, type SessionRow } from "./hooks";
export { connectionUnstable, linkQuality, sampleFromStats, type LinkQuality, type LinkSample } from "./quality";
export { freeCaucusName, peopleIn, roomFromKey, roomKey, sameRoom, waitingMessage } from "./rooms";
export { DEPARTED_SHOWN_MS, LiveStore, type ChatLine, type Departed, type LiveSnapshot, type Notice } from "./store";
export { live } from "./strings";
export { STAGE_HOLD_MS, TileGrid } from "./tiles";
import "./live.css";
