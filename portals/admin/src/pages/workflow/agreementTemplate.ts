// The org's starting text for an agreement, with the case's fields filled
// in: the mediator edits it before sending it for signature.

export type TemplateFields = { reference: string; title: string; parties: string[]; mediator: string | null };

export function agreementTemplate(kind: "AGREEMENT_TO_MEDIATE" | "SETTLEMENT", f: TemplateFields): { title: string; body: string } {
  const parties = f.parties.length > 0 ? f.parties.join(", ") : "the parties";
  const mediator = f.mediator ?? "the mediator";
  if (kind === "AGREEMENT_TO_MEDIATE") {
    return {
      title: `Agreement to mediate, case ${f.reference}`,
      body: [
        `# Agreement to mediate`,
        ``,
        `Case ${f.reference}: ${f.title}. Parties: ${parties}. Mediator: ${mediator}.`,
        ``,
        `1. Everything said or shown in the mediation is confidential.`,
        `2. Nobody records any session, by any means.`,
        `3. The mediator is neutral and may meet each party privately.`,
      ].join("\n"),
    };
  }
  return {
    title: `Settlement agreement, case ${f.reference}`,
    body: [`# Settlement agreement`, ``, `Case ${f.reference}: ${f.title}. Between ${parties}, with ${mediator} as mediator.`, ``, `## Terms`, ``, `1. `].join("\n"),
  };
}
