// A destructive action asked twice: the first press shows the question with
// a confirm and a cancel button in place (focus moves to confirm; Escape or
// cancel puts it back on the first button). No modal, so nothing traps focus.

import { useEffect, useRef, useState, type ReactNode } from "react";
import { Button } from "./components";

type ConfirmButtonProps = {
  /** The first button's text, e.g. "Remove". */
  children: ReactNode;
  /** Its accessible name when the text alone is ambiguous in a list, e.g. "Remove Pat Claimant". */
  label?: string;
  /** What is asked, e.g. "Remove Pat Claimant from this case?" */
  question: ReactNode;
  /** The confirming button's text, e.g. "Yes, remove". */
  confirm: string;
  /** The cancelling button's text. */
  cancel: string;
  onConfirm: () => void | Promise<void>;
  busy?: boolean;
  disabled?: boolean;
  small?: boolean;
};

export function ConfirmButton({ children, label, question, confirm, cancel, onConfirm, busy, disabled, small = true }: ConfirmButtonProps) {
  const [asking, setAsking] = useState(false);
  const confirmRef = useRef<HTMLButtonElement>(null);
  const triggerRef = useRef<HTMLButtonElement>(null);
  const returnFocus = useRef(false);

  useEffect(() => {
    if (asking) confirmRef.current?.focus();
    else if (returnFocus.current) {
      returnFocus.current = false;
      triggerRef.current?.focus();
    }
  }, [asking]);

  const close = () => {
    returnFocus.current = true;
    setAsking(false);
  };

  if (!asking) {
    return (
      <button
        ref={triggerRef}
        type="button"
        className={cls(small)}
        aria-label={label}
        disabled={disabled || busy}
        aria-busy={busy || undefined}
        onClick={() => setAsking(true)}
      >
        {busy ? <span className="spinner" aria-hidden="true" /> : null}
        {children}
      </button>
    );
  }
  return (
    <span
      className="confirm"
      role="group"
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          close();
        }
      }}
    >
      <span className="confirm-question">{question}</span>{" "}
      <button
        ref={confirmRef}
        type="button"
        className={cls(small)}
        disabled={busy}
        aria-busy={busy || undefined}
        onClick={async () => {
          await onConfirm();
          setAsking(false);
        }}
      >
        {busy ? <span className="spinner" aria-hidden="true" /> : null}
        {confirm}
      </button>{" "}
      <Button small={small} onClick={close}>
        {cancel}
      </Button>
    </span>
  );
}

function cls(small: boolean): string {
  return small ? "btn btn-danger btn-small" : "btn btn-danger";
}
