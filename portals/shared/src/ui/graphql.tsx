// The portals' GraphQL client: urql with its document cache, the session
// cookie, and the CSRF header on every request (the API requires it on
// mutations; it is harmless on queries).

import { Client, cacheExchange, fetchExchange } from "@urql/core";
import { useMemo, type ReactNode } from "react";
import { Provider } from "urql";
import type { Api } from "../api";

export function createGraphqlClient(api: Api): Client {
  return new Client({
    url: new URL("/graphql", api.baseUrl).toString(),
    exchanges: [cacheExchange, fetchExchange],
    requestPolicy: "cache-and-network",
    // The API answers GraphQL on POST only (GET /graphql is the development
    // GraphiQL page); urql would send short queries as GET.
    preferGetMethod: false,
    fetch: async (input, init) => {
      const headers = new Headers(init?.headers);
      if (isMutation(init?.body)) {
        try {
          headers.set("x-csrf-token", await api.csrfToken());
        } catch {
          // Not signed in: the API answers UNAUTHENTICATED, shown as such.
        }
      }
      return fetch(input, { ...init, headers, credentials: "same-origin" });
    },
  });
}

export function GraphqlProvider({ api, children }: { api: Api; children: ReactNode }) {
  const client = useMemo(() => createGraphqlClient(api), [api]);
  return <Provider value={client}>{children}</Provider>;
}

function isMutation(body: unknown): boolean {
  if (typeof body !== "string") return false;
  try {
    const query = (JSON.parse(body) as { query?: unknown }).query;
    return typeof query === "string" && /^\s*mutation\b/.test(query);
  } catch {
    return false;
  }
}
