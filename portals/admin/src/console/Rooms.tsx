// The console's rooms: the main room and every caucus with the people in
// it; a person moves by drag and drop or by keyboard (a "Move … to" choice
// kept per participant in the console's state, and a Move button). Caucuses
// are created, renamed, timed and closed here; the mediator visits a room
// with "Go here".

import { linkQuality, live, peopleIn, roomKey, sameRoom, useNow, type Departed, type ParticipantView, type QualityView, type RoomId, type RoomView } from "@accord/shared";
import { Button } from "@accord/shared/ui";
import { useEffect, useId, useRef, useState, type DragEvent, type FormEvent, type MutableRefObject } from "react";
import { consoleStrings as t } from "./strings";

/** The key of the "a new caucus" choice. */
export const NEW_CAUCUS = "new";

/** The rooms a participant may be moved to from where they are: other rooms, and a new caucus. */
export function moveOptions(rooms: readonly RoomView[], from: RoomId): { value: string; label: string }[] {
  return [
    ...rooms.filter((r) => r.id.kind !== "lobby" && !sameRoom(r.id, from)).map((r) => ({ value: roomKey(r.id), label: r.name })),
    { value: NEW_CAUCUS, label: t.newCaucus },
  ];
}

/** The choice shown: the mediator's own while it is still possible, else the first option. */
export function effectiveChoice(options: readonly { value: string }[], chosen: string | undefined): string {
  return chosen !== undefined && options.some((o) => o.value === chosen) ? chosen : (options[0]?.value ?? NEW_CAUCUS);
}

export type RoomActions = {
  /** Moves a participant to a room key or a new caucus. */
  move(participant: string, target: string): void;
  mute(id: string): void;
  askUnmute(id: string): void;
  remove(id: string): void;
  rename(room: RoomView, name: string): void;
  close(room: RoomView, people: number): void;
  setTimer(room: RoomId, seconds: number): void;
  clearTimer(room: RoomId): void;
};

/**
 * The keyboard mover: a select of the rooms (and a new caucus) whose value
 * lives in the console's state keyed by participant id (never reset by a
 * re-render), and a Move button.
 */
export function MoveChooser({
  participant,
  name,
  rooms,
  from,
  choice,
  onChoose,
  onMove,
  focusAfterMove,
}: {
  participant: string;
  name: string;
  rooms: readonly RoomView[];
  from: RoomId;
  choice: string | undefined;
  onChoose: (participant: string, value: string) => void;
  onMove: (participant: string, value: string) => void;
  /** The participant whose Move button should have the focus once their row shows in its new room. */
  focusAfterMove?: MutableRefObject<string | null>;
}) {
  const id = useId();
  const options = moveOptions(rooms, from);
  const value = effectiveChoice(options, choice);
  const button = useRef<HTMLButtonElement>(null);
  const roomNow = roomKey(from);
  useEffect(() => {
    // The row is rebuilt in the room the person moved to: the focus follows it.
    if (focusAfterMove && focusAfterMove.current === participant) {
      focusAfterMove.current = null;
      button.current?.focus();
    }
  }, [focusAfterMove, participant, roomNow]);
  return (
    <span className="live-move">
      <label htmlFor={id} className="visually-hidden">
        {t.moveTo(name)}
      </label>
      <select id={id} value={value} onChange={(e) => onChoose(participant, e.target.value)}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      <button
        type="button"
        ref={button}
        className="btn btn-small"
        data-action="move"
        aria-label={t.moveWho(name)}
        onClick={() => {
          if (focusAfterMove) focusAfterMove.current = participant;
          onMove(participant, value);
        }}
      >
        {t.move}
      </button>
    </span>
  );
}

function mmss(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export function Countdown({ endsAt }: { endsAt: number }) {
  const now = useNow(1000);
  const left = endsAt - now;
  return <span className="live-timer">{left > 0 ? t.timeLeft(mmss(left)) : t.timeUp}</span>;
}

function ParticipantRow({
  p,
  you,
  label,
  rooms,
  choice,
  onChoose,
  actions,
  speaker,
  reconnecting,
  quality,
  focusAfterMove,
  unsigned,
}: {
  focusAfterMove: MutableRefObject<string | null>;
  unsigned: boolean;
  p: ParticipantView;
  you: string;
  label: (id: string) => string;
  rooms: readonly RoomView[];
  choice: string | undefined;
  onChoose: (participant: string, value: string) => void;
  actions: RoomActions;
  speaker: string | null;
  reconnecting: boolean;
  quality: QualityView | undefined;
}) {
  const name = label(p.id);
  const q = linkQuality(quality);
  const flags = [
    t.roles[p.role] ?? p.role,
    speaker === p.id ? t.speaking : "",
    p.handRaised ? t.handUp : "",
    p.muted ? t.muted : "",
    p.sharing ? t.sharing : "",
    unsigned ? t.unsigned : "",
  ].filter(Boolean);
  return (
    <li
      data-participant={p.id}
      draggable
      onDragStart={(e: DragEvent) => {
        e.dataTransfer.setData("text/plain", p.id);
        e.dataTransfer.effectAllowed = "move";
      }}
    >
      <span className="live-who">
        <strong>{name}</strong> <span className="muted">({flags.join(", ")})</span>
        {reconnecting ? (
          <>
            {" "}
            <span className="live-presence" data-presence="reconnecting">
              {live.presence.reconnecting}
            </span>
          </>
        ) : null}
        {q !== "unknown" && p.id !== you ? (
          <>
            {" "}
            <span className={`badge live-quality${q === "poor" ? " badge-danger" : q === "fair" ? " badge-warn" : " badge-ok"}`} data-quality={q}>
              {t.link[q]}
            </span>
          </>
        ) : null}
      </span>
      <MoveChooser participant={p.id} name={name} rooms={rooms} from={p.room} choice={choice} onChoose={onChoose} onMove={actions.move} focusAfterMove={focusAfterMove} />
      {p.role !== "mediator" ? (
        <>
          {p.muted ? (
            <Button small aria-label={t.askUnmuteWho(name)} onClick={() => actions.askUnmute(p.id)} data-action="ask-unmute">
              {t.askUnmute}
            </Button>
          ) : (
            <Button small aria-label={t.muteWho(name)} onClick={() => actions.mute(p.id)} data-action="mute">
              {t.mute}
            </Button>
          )}
          <Button small variant="danger" aria-label={t.removeWho(name)} onClick={() => actions.remove(p.id)} data-action="remove">
            {t.remove}
          </Button>
        </>
      ) : null}
    </li>
  );
}

function RoomTools({ room, people, endsAt, actions }: { room: RoomView; people: number; endsAt: number | undefined; actions: RoomActions }) {
  const [minutes, setMinutes] = useState("10");
  const [renaming, setRenaming] = useState(false);
  const [name, setName] = useState(room.name);
  const id = useId();
  const setTimer = (e: FormEvent) => {
    e.preventDefault();
    const m = Number(minutes);
    if (Number.isFinite(m) && m > 0 && m <= 240) actions.setTimer(room.id, Math.round(m * 60));
  };
  return (
    <div className="live-room-tools">
      <form onSubmit={setTimer} className="row">
        <span>
          <label htmlFor={`${id}-min`}>{t.timerMinutes(room.name)}</label>
          <input id={`${id}-min`} type="number" min={1} max={240} step={1} value={minutes} onChange={(e) => setMinutes(e.target.value)} />
        </span>
        <Button small type="submit" aria-label={t.setTimerFor(room.name)} data-action="set-timer">
          {t.setTimer}
        </Button>
        {endsAt !== undefined ? (
          <Button small aria-label={t.clearTimerFor(room.name)} onClick={() => actions.clearTimer(room.id)} data-action="clear-timer">
            {t.clearTimer}
          </Button>
        ) : null}
      </form>
      {room.id.kind === "caucus" ? (
        renaming ? (
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              const n = name.trim();
              if (n && n !== room.name) actions.rename(room, n);
              setRenaming(false);
            }}
          >
            <span>
              <label htmlFor={`${id}-name`}>{t.renameLabel(room.name)}</label>
              <input id={`${id}-name`} maxLength={60} value={name} onChange={(e) => setName(e.target.value)} />
            </span>
            <Button small type="submit">
              {t.saveName}
            </Button>
            <Button small onClick={() => setRenaming(false)}>
              {t.cancel}
            </Button>
          </form>
        ) : (
          <span className="row">
            <Button
              small
              aria-label={t.renameWho(room.name)}
              onClick={() => {
                setName(room.name);
                setRenaming(true);
              }}
            >
              {t.rename}
            </Button>
            <Button small variant="danger" aria-label={t.closeCaucusWho(room.name)} onClick={() => actions.close(room, people)} data-action="close-caucus">
              {t.closeCaucus}
            </Button>
          </span>
        )
      ) : null}
    </div>
  );
}

export function RoomsPanel({
  rooms,
  participants,
  you,
  label,
  choices,
  onChoose,
  actions,
  speaker,
  reconnecting,
  departed,
  quality,
  timers,
  unsigned,
}: {
  /** Whether a participant has not signed the case's agreement to mediate. */
  unsigned: (id: string) => boolean;
  rooms: readonly RoomView[];
  participants: readonly ParticipantView[];
  you: string;
  label: (id: string) => string;
  choices: Readonly<Record<string, string>>;
  onChoose: (participant: string, value: string) => void;
  actions: RoomActions;
  speaker: string | null;
  reconnecting: ReadonlySet<string>;
  departed: readonly Departed[];
  quality: ReadonlyMap<string, QualityView>;
  timers: ReadonlyMap<string, number>;
}) {
  const [over, setOver] = useState<string | null>(null);
  const focusAfterMove = useRef<string | null>(null);
  const me = participants.find((p) => p.id === you);
  const shown = rooms.filter((r) => r.id.kind !== "lobby");
  return (
    <div id="rooms">
      <p className="muted">{t.dragHint}</p>
      {shown.map((r) => {
        const key = roomKey(r.id);
        const people = peopleIn(participants, r.id);
        const gone = departed.filter((d) => sameRoom(d.participant.room, r.id));
        const headingId = `room-${key.replace(/[^a-z0-9-]/gi, "-")}`;
        const here = me ? sameRoom(me.room, r.id) : false;
        const endsAt = timers.get(key);
        return (
          <section
            key={key}
            className={`live-room${over === key ? " drop-target" : ""}${here ? " here" : ""}`}
            data-room={key}
            aria-labelledby={headingId}
            onDragOver={(e) => {
              if (!e.dataTransfer.types.includes("text/plain")) return;
              e.preventDefault();
              e.dataTransfer.dropEffect = "move";
              if (over !== key) setOver(key);
            }}
            onDragLeave={() => setOver((o) => (o === key ? null : o))}
            onDrop={(e) => {
              e.preventDefault();
              setOver(null);
              const who = e.dataTransfer.getData("text/plain");
              const moving = participants.find((p) => p.id === who);
              if (moving && !sameRoom(moving.room, r.id)) actions.move(who, key);
            }}
          >
            <div className="live-room-head">
              <h3 id={headingId}>
                {r.name} <span className="muted">({t.roomCount(people.length)}{here ? `, ${t.youAreHere}` : ""})</span>
              </h3>
              {endsAt !== undefined ? <Countdown endsAt={endsAt} /> : null}
              {!here ? (
                <Button small aria-label={t.visitRoom(r.name)} data-action="visit" onClick={() => actions.move(you, key)}>
                  {t.visit}
                </Button>
              ) : null}
            </div>
            {people.length === 0 && gone.length === 0 ? <p className="muted">{t.roomEmpty}</p> : null}
            <ul className="live-people">
              {people.map((p) => (
                <ParticipantRow
                  key={p.id}
                  p={p}
                  you={you}
                  label={label}
                  rooms={rooms}
                  choice={choices[p.id]}
                  onChoose={onChoose}
                  actions={actions}
                  speaker={speaker}
                  reconnecting={reconnecting.has(p.id)}
                  quality={quality.get(p.id)}
                  focusAfterMove={focusAfterMove}
                  unsigned={unsigned(p.id)}
                />
              ))}
              {gone.map((d) => (
                <li key={`gone:${d.participant.id}`} data-participant={d.participant.id} className="live-left">
                  <span className="live-who">
                    {label(d.participant.id)}{" "}
                    <span className="live-presence" data-presence="left">
                      {live.presence.left}
                    </span>
                  </span>
                </li>
              ))}
            </ul>
            <RoomTools room={r} people={people.length} endsAt={endsAt} actions={actions} />
          </section>
        );
      })}
    </div>
  );
}
