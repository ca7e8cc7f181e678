// Starts a portal: the API client on this origin, who is signed in, the
// GraphQL client, and the portal's routes, in the page's #root.

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { RouterProvider, type createBrowserRouter } from "react-router";
import { Api } from "../api";
import { AuthProvider } from "./auth";
import { GraphqlProvider } from "./graphql";

export function mountPortal(router: ReturnType<typeof createBrowserRouter>): void {
  const api = new Api(location.origin);
  const root = document.getElementById("root");
  if (!root) throw new Error("index.html lacks #root");
  createRoot(root).render(
    <StrictMode>
      <AuthProvider api={api}>
        <GraphqlProvider api={api}>
          <RouterProvider router={router} />
        </GraphqlProvider>
      </AuthProvider>
    </StrictMode>,
  );
}
