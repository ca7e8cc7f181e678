// Documents on a case, for both portals.
export { AttachmentField, AttachmentLink, useThreadAttachments } from "./Attachments";
export { DocumentsPanel } from "./DocumentsPanel";
export { limitToMiB, MAX_LIMIT_MIB, MAX_RETENTION_DAYS, parseLimitMiB, parseRetentionDays } from "./settings";
export { formatBytes, fraction, uploadError, uploadForm, type Uploaded, type Visibility } from "./upload";
