// Words of the client portal's messages and agreements.

export const msg = {
  title: "Messages",
  threads: "Threads",
  pick: "Choose a thread to read and write messages.",
  unread: (n: number) => `${n} unread`,
  none: "No messages yet.",
  list: (title: string) => `Messages: ${title}`,
  you: "You",
  readBy: (names: string) => `Read by ${names}`,
  write: (title: string) => `Message to ${title}`,
  send: "Send message",
  sent: "Message sent.",
  empty: "Write a message first.",
};

export const agr = {
  title: "Agreements",
  none: "No agreement has been sent to you yet.",
  kind: { AGREEMENT_TO_MEDIATE: "Agreement to mediate", SETTLEMENT: "Settlement agreement" } as Record<string, string>,
  status: { DRAFT: "Draft", SIGNING: "Awaiting signatures", SIGNED: "Signed by everyone" } as Record<string, string>,
  version: (v: number) => `Version ${v}`,
  hash: (h: string) => `Fingerprint (SHA-256 of the PDF): ${h}`,
  pdf: "Download PDF",
  pdfOf: (title: string) => `Download ${title} as PDF`,
  pdfFailed: "The agreement's PDF could not be fetched to check it before signing; check your connection and sign again.",
  pdfMismatch: "The PDF this page would sign is not the one sent for signature. Do not sign: reload the page, and tell your mediator if this persists.",
  signatories: "Signatures",
  signedBy: (typed: string, at: string) => `signed as ${typed} on ${at}`,
  notYet: "not yet signed",
  typedName: "Type your full name to sign",
  sign: "Sign with this device",
  signed: "You signed the agreement on this device.",
  badName: "Type your full name on one line.",
  noDevice: "This browser has no device key; open your invite link on this device first.",
};
