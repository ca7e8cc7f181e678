// English strings of the shared screens (sign-in, password links, account)
// and of API errors. A translation replaces this object.

export const strings = {
  product: "Accord",
  loading: "Loading…",
  retry: "Try again",
  skipToContent: "Skip to content",
  signIn: {
    title: "Sign in",
    email: "Email address",
    password: "Password",
    org: "Organisation (short name)",
    orgHint: "Only needed when your account belongs to several organisations.",
    submit: "Sign in",
    busy: "Signing in…",
    totpTitle: "Two-factor sign-in",
    totpCode: "6-digit code from your authenticator app",
    useRecovery: "Use a recovery code instead",
    useTotp: "Use a code from your authenticator app",
    recoveryCode: "Recovery code",
    verify: "Verify",
    sso: "Sign in with your organisation's SSO",
    forgot: "Forgot your password?",
    back: "Back",
  },
  password: {
    setupTitle: "Choose your password",
    newPassword: "New password",
    confirm: "Repeat the new password",
    hint: "At least 12 characters. A passphrase of a few unrelated words works well.",
    mismatch: "The two passwords differ.",
    submit: "Set password",
    busy: "Saving…",
    done: "Your password is set. Sign in with it now.",
    goSignIn: "Go to sign-in",
    noToken: "This page opens from the link in your email. The link seems incomplete: open it again from the email, or ask for a new one.",
    resetTitle: "Reset your password",
    resetIntro: "Enter your email address; if it has an account, we send it a link to choose a new password.",
    resetSubmit: "Send the link",
    resetSent: "If an account uses this address, a reset link is on its way. It works once.",
  },
  account: {
    title: "Your account",
    signedInAs: (name: string, org: string) => `Signed in as ${name} (${org})`,
    twoFactor: "Two-factor sign-in",
    twoFactorOn: "Two-factor sign-in is on.",
    twoFactorOff: "Two-factor sign-in is off. Turn it on to protect your account with an authenticator app.",
    enrol: "Turn on two-factor sign-in",
    scan: "Scan this code with your authenticator app, or type the key below into it.",
    qrAlt: "QR code for your authenticator app",
    secret: "Key",
    confirmCode: "Code shown by the app",
    confirm: "Confirm",
    recoveryTitle: "Your recovery codes",
    recoveryIntro: "Each code signs you in once if you lose your device. Store them somewhere safe: they are shown only now.",
    recoveryDone: "I have stored my recovery codes",
    disableCode: "Current code from your app",
    disable: "Turn off two-factor sign-in",
    disabled: "Two-factor sign-in is off.",
    signOut: "Sign out",
    signOutEverywhere: "Sign out everywhere",
    signOutEverywhereHint: "Ends every session of your account, on every device, this one included.",
    endedSessions: (n: number) => `Signed out of ${n} session${n === 1 ? "" : "s"}.`,
  },
  errors: {
    NETWORK: "The server could not be reached. Check your connection and try again.",
    UNAUTHENTICATED: "Your sign-in has ended. Sign in again.",
    FORBIDDEN: "You are not allowed to do this.",
    NOT_FOUND: "Not found. It may have been removed, or the link is wrong.",
    BAD_USER_INPUT: "Some of what was entered is not valid.",
    CONFLICT: "This conflicts with the current state. Reload and try again.",
    RATE_LIMITED: "Too many attempts.",
    INTERNAL: "Something went wrong on the server. Try again; if it keeps happening, tell your administrator.",
    wait: (seconds: number) => `Try again in ${waitWords(seconds)}.`,
    reference: (id: string) => `Reference: ${id}`,
  },
  notFound: {
    title: "Not found",
    body: "There is nothing at this address, or you may not see it.",
    home: "Go to the start page",
  },
} as const;

/** "45 seconds", "3 minutes", "2 hours". */
export function waitWords(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  if (s < 90) return `${s} second${s === 1 ? "" : "s"}`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} minute${m === 1 ? "" : "s"}`;
  const h = Math.round(m / 60);
  return `${h} hour${h === 1 ? "" : "s"}`;
}
