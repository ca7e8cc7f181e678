// Uploading a document: multipart over XMLHttpRequest, whose upload events
// give the progress bar its numbers (fetch has none), with the session
// cookie and the CSRF token. The server streams the file into the vault.

import { ApiError } from "../api";

export type Visibility = "case" | "mediators" | "party";

export type UploadRequest = {
  caseId: string;
  file: Blob & { name: string };
  /** A new version of this document, instead of a new document. */
  documentId?: string;
  visibility?: Visibility;
  csrfToken: string;
};

export type Uploaded = {
  documentId: string;
  versionId: string;
  version: number;
  mediaType: string;
  size: number;
  scanState: "pending" | "clean" | "quarantined" | "not_scanned";
  message: string;
};

/** The form the upload route reads: the fields first, the file last. */
export function uploadForm(req: Omit<UploadRequest, "csrfToken">): FormData {
  const form = new FormData();
  form.append("caseId", req.caseId);
  if (req.documentId) form.append("documentId", req.documentId);
  else form.append("visibility", req.visibility ?? "case");
  form.append("file", req.file, req.file.name);
  return form;
}

/** The API's error body as an ApiError (or a generic one). */
export function uploadError(status: number, text: string): ApiError {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; field?: string } };
    if (body.error?.code) return new ApiError(body.error.code, body.error.message ?? "The upload failed.", status, undefined, body.error.field);
  } catch {
    // not JSON: below
  }
  if (status === 413) return new ApiError("BAD_USER_INPUT", "The file is larger than this organisation allows.", status, undefined, "file");
  return new ApiError(status === 0 ? "NETWORK" : "INTERNAL", status === 0 ? "The server could not be reached." : "The upload failed.", status);
}

/** A fraction from 0 to 1, or null while the size is unknown. */
export function fraction(loaded: number, total: number): number | null {
  if (!(total > 0)) return null;
  return Math.min(1, Math.max(0, loaded / total));
}

/** Bytes as people read them: 999 B, 1.5 kB, 12 MB (powers of 1000, as the OS file pickers show them). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "";
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let u = -1;
  do {
    v /= 1000;
    u += 1;
  } while (v >= 999.95 && u < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

/** Uploads; `onProgress` gets the sent fraction. Rejects with an ApiError. */
export function uploadDocument(req: UploadRequest, onProgress: (f: number | null) => void, signal?: AbortSignal): Promise<Uploaded> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/documents/upload");
    xhr.withCredentials = true;
    xhr.setRequestHeader("x-csrf-token", req.csrfToken);
    xhr.upload.onprogress = (e) => onProgress(e.lengthComputable ? fraction(e.loaded, e.total) : null);
    xhr.onload = () => {
      if (xhr.status === 201) {
        try {
          resolve(JSON.parse(xhr.responseText) as Uploaded);
        } catch {
          reject(uploadError(xhr.status, ""));
        }
      } else {
        reject(uploadError(xhr.status, xhr.responseText));
      }
    };
    xhr.onerror = () => reject(uploadError(0, ""));
    xhr.onabort = () => reject(new ApiError("ABORTED", "The upload was cancelled."));
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(uploadForm(req));
  });
}
