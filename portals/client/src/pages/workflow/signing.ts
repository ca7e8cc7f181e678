// What a signatory's device signs: the statement the API checks
// (crates/api/src/graphql/agreements.rs `statement`), each part on its own
// line, signed as UTF-8 by the device key (ECDSA P-256, SHA-256).

export function signingStatement(agreementId: string, sha256Hex: string, partyId: string, typedName: string, signedAt: string): string {
  return [
    "accord-agreement-signature-v1",
    `agreement: ${agreementId}`,
    `sha256: ${sha256Hex}`,
    `party: ${partyId}`,
    `name: ${typedName}`,
    `signed-at: ${signedAt}`,
  ].join("\n");
}

/** A typed name the API accepts: one line, 1 to 200 characters. */
export function cleanTypedName(name: string): string | null {
  const t = name.trim();
  if (t.length === 0 || t.length > 200 || /[\u0000-\u001f\u007f]/.test(t)) return null;
  return t;
}
