// Small hooks the pages share.

import { ViewerZoneDocument } from "@accord/shared/gql";
import { isTimeZone, viewerTimeZone } from "@accord/shared/ui";
import { useEffect, useState, type RefObject } from "react";
import { useQuery } from "urql";

/** The zone the viewer sees times in: the one they chose for their account, else the browser's. */
export function useViewerZone(): string {
  const [{ data }] = useQuery({ query: ViewerZoneDocument, requestPolicy: "cache-first" });
  const chosen = data?.viewer.timeZone;
  return chosen && isTimeZone(chosen) ? chosen : viewerTimeZone();
}

/** `value`, once it has stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const id = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(id);
  }, [value, ms]);
  return settled;
}

/** The current time, updated every `ms`. */
export function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}

/**
 * Moves focus to `target` when a change left it nowhere (the button that had
 * it went with a removed row), so a keyboard user stays on the page.
 */
export function useFocusRescue(target: RefObject<HTMLElement | null>, active: boolean, deps: readonly unknown[]): void {
  useEffect(() => {
    if (!active) return;
    const a = document.activeElement;
    if (!a || a === document.body) target.current?.focus();
  }, [active, ...deps]);
}
