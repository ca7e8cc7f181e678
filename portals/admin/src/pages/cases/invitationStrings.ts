// The invitations panel's English strings (re-exported by ../../strings).

import type { InvitationStatus } from "@accord/shared/gql";

export const invitationStrings = {
  title: "Invitations",
  intro: "Each person gets a single-use link by email. Opening it registers that browser as their device; only that device can join sessions for them.",
  loading: "Loading the invitations…",
  none: "Nobody on this case has been sent an invitation yet. Invitations go out when a session is scheduled.",
  notInvited: "Not invited yet",
  colPerson: "Person",
  colStatus: "Invitation",
  colDevice: "Device",
  colActions: "Actions",
  device: (registered: boolean) => (registered ? "Registered" : "None"),
  expires: (at: string) => `Link valid until ${at}`,
  redeemed: (at: string) => `Opened and registered ${at}`,
  status: {
    QUEUED: "Waiting to be sent",
    SENT: "Sent",
    DELIVERED: "Delivered to the mail server",
    OPENED: "Opened, not completed",
    REDEEMED: "Redeemed",
    FAILED: "Could not be sent",
    BOUNCED: "Bounced",
    EXPIRED: "Expired",
  } satisfies Record<InvitationStatus, string>,
  send: "Send invitation",
  resend: "Resend",
  resendLabel: (name: string) => `Resend the invitation to ${name}`,
  resent: (name: string) => `A new invitation link was sent to ${name}. Older links no longer work.`,
  reinvite: "Re-invite",
  reinviteLabel: (name: string) => `Re-invite ${name} on a new device`,
  reinviteQuestion: (name: string) => `Revoke ${name}'s registered device and send a new link? They will be signed out on that device.`,
  reinviteConfirm: "Yes, re-invite",
  reinvited: (name: string) => `${name}'s device was revoked and a new invitation link was sent.`,
  cancel: "Cancel",
};
