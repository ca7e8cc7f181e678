// The portals' own small UI kit: buttons, fields, alerts, loading and empty
// states, page titles. Every control is a native element with a label.

import { useEffect, useId, useRef, type ButtonHTMLAttributes, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from "react";
import type { Problem } from "./errors";
import { strings } from "./strings";

type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: "primary" | "danger" | "plain";
  small?: boolean;
  busy?: boolean;
};

export function Button({ variant = "plain", small, busy, className, children, disabled, type = "button", ...rest }: ButtonProps) {
  const cls = ["btn", variant === "primary" ? "btn-primary" : variant === "danger" ? "btn-danger" : "", small ? "btn-small" : "", className ?? ""]
    .filter(Boolean)
    .join(" ");
  return (
    <button type={type} className={cls} disabled={disabled || busy} aria-busy={busy || undefined} {...rest}>
      {busy ? <span className="spinner" aria-hidden="true" /> : null}
      {children}
    </button>
  );
}

type FieldProps = {
  label: string;
  hint?: ReactNode;
  error?: string | undefined;
};

/** A label, the control, its hint and its error, tied together for assistive technology. */
function Field({ id, label, hint, error, control }: FieldProps & { id: string | undefined; control: (props: ControlProps) => ReactNode }) {
  const auto = useId();
  const fid = id ?? auto;
  const hintId = hint ? `${fid}-hint` : undefined;
  const errId = error ? `${fid}-error` : undefined;
  return (
    <div className="field">
      <label htmlFor={fid}>{label}</label>
      {control({ id: fid, "aria-invalid": error ? true : undefined, "aria-describedby": [hintId, errId].filter(Boolean).join(" ") || undefined })}
      {hint ? (
        <span className="hint" id={hintId}>
          {hint}
        </span>
      ) : null}
      {error ? (
        <span className="error" id={errId}>
          {error}
        </span>
      ) : null}
    </div>
  );
}

type ControlProps = { id: string; "aria-invalid": true | undefined; "aria-describedby": string | undefined };

export function TextField({ label, hint, error, id, ...input }: FieldProps & InputHTMLAttributes<HTMLInputElement>) {
  return <Field id={id} label={label} hint={hint} error={error} control={(props) => <input {...props} {...input} />} />;
}

export function SelectField({ label, hint, error, id, children, ...select }: FieldProps & SelectHTMLAttributes<HTMLSelectElement>) {
  return (
    <Field
      id={id}
      label={label}
      hint={hint}
      error={error}
      control={(props) => (
        <select {...props} {...select}>
          {children}
        </select>
      )}
    />
  );
}

export function Alert({ kind = "info", children, live = false }: { kind?: "info" | "error" | "warn" | "ok"; children: ReactNode; live?: boolean }) {
  return (
    <div className={`alert alert-${kind}`} role={kind === "error" ? "alert" : live ? "status" : undefined}>
      {children}
    </div>
  );
}

/** A problem from the API, as words, with a retry button when given one. */
export function ErrorAlert({ problem, onRetry }: { problem: Problem | null | undefined; onRetry?: () => void }) {
  if (!problem) return null;
  return (
    <Alert kind="error">
      <span>{problem.message}</span>
      {onRetry ? (
        <>
          {" "}
          <Button small onClick={onRetry}>
            {strings.retry}
          </Button>
        </>
      ) : null}
    </Alert>
  );
}

export function Loading({ label = strings.loading }: { label?: string }) {
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function Card({ title, children, actions, headingLevel = 2 }: { title?: ReactNode; children: ReactNode; actions?: ReactNode; headingLevel?: 2 | 3 }) {
  const H = headingLevel === 2 ? "h2" : "h3";
  return (
    <section className="card">
      {title || actions ? (
        <div className="spread">
          {title ? <H>{title}</H> : <span />}
          {actions}
        </div>
      ) : null}
      {children}
    </section>
  );
}

export function Badge({ kind, children }: { kind?: "ok" | "warn" | "danger"; children: ReactNode }) {
  return <span className={`badge${kind ? ` badge-${kind}` : ""}`}>{children}</span>;
}

/**
 * A page's title: sets `document.title` and focuses the heading when the page
 * changes, so a screen reader hears where a navigation landed.
 */
export function PageTitle({ children, actions }: { children: string; actions?: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${children} · ${strings.product}`;
    ref.current?.focus({ preventScroll: true });
  }, [children]);
  return (
    <div className="spread">
      <h1 ref={ref} tabIndex={-1}>
        {children}
      </h1>
      {actions}
    </div>
  );
}
