// The portals' UI kit and shared screens.

export { ConfirmButton } from "./confirm";
export { addWindow, describeWindow, draftToWindow, nextDay, normalize, removeWindow, todayIn, type Draft, type DraftProblem, type LocalWindow } from "./availability";
export { AuthProvider, RequireAuth, RequireRole, safeNext, useAuth, useSession, type Elsewhere, type Role } from "./auth";
export { Alert, Badge, Button, Card, Empty, ErrorAlert, Loading, PageTitle, SelectField, TextField } from "./components";
export { describe, isSignedOut, toProblem, type Problem } from "./errors";
export {
  formatDate,
  formatDateTime,
  formatDuration,
  formatInZone,
  formatTimeWithZone,
  instantToLocalInput,
  isTimeZone,
  offsetMs,
  viewerLocale,
  viewerTimeZone,
  zonedToInstant,
  zoneLabel,
} from "./format";
export { createGraphqlClient, GraphqlProvider } from "./graphql";
export { mountPortal } from "./mount";
export { AccountPage } from "./screens/Account";
export { NotFoundPage } from "./screens/NotFound";
export { ResetPasswordPage, SetPasswordPage, tokenFromHash } from "./screens/Password";
export { SignInPage } from "./screens/SignIn";
export { Shell, type NavItem } from "./shell";
export { strings, waitWords } from "./strings";
