// The invite landing page's English strings (re-exported by ../../strings).

export const inviteStrings = {
  title: "Your invitation",
  working: "Setting up this device for your mediation…",
  workingHint: "This takes a moment. Keep this page open.",
  refusedTitle: "This invitation link cannot be used",
  askAgain: "Ask your mediator to send you a new invitation. Each link works once, on one device.",
  reasons: {
    INVALID: "The link is not valid. It may be incomplete: open it from your invitation email again, without changing it.",
    EXPIRED: "The link has expired.",
    REPLACED: "A newer invitation replaced this link. Open the newest invitation email you received.",
    SPENT: "The link has already been used. If you opened it on another device or browser, join from that one.",
    OTHER_DEVICE: "Your invitation is already registered on another device or browser. Join from that one.",
  },
  signIn: "Have a password? Sign in",
  retry: "Try again",
  noStorage: "This browser cannot keep the key that identifies your device (private browsing may block it). Open the link in a normal window.",
} as const;
