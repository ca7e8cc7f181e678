//! What an upload is called and what it is.
//!
//! A filename is kept as the uploader gave it (trimmed) when it is a plain
//! name: path separators, control characters, `.`/`..` and over-long names
//! are refused with a reason, never silently rewritten into something else.
//! The type comes from the content's first bytes, not from the name or the
//! client's `Content-Type`; only document and image types are accepted.

/// Longest filename accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Why an upload was refused before it was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The name is empty (after trimming).
    #[error("the file needs a name")]
    EmptyName,
    /// The name holds `/` or `\`.
    #[error("the file name must not contain / or \\")]
    PathSeparator,
    /// The name holds a control character.
    #[error("the file name must not contain control characters")]
    ControlCharacter,
    /// `.` or `..`.
    #[error("the file name is not a name")]
    DotName,
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("the file name is longer than {MAX_NAME_CHARS} characters")]
    TooLong,
    /// No bytes.
    #[error("the file is empty")]
    Empty,
    /// Larger than the org allows.
    #[error("the file is larger than {limit} bytes")]
    TooLarge {
        /// The org's limit.
        limit: u64,
    },
    /// Not a document or image type.
    #[error("files of this type are not accepted ({0})")]
    UnsupportedType(String),
}

/// Checks an uploaded file's name and returns it trimmed.
pub fn filename(raw: &str) -> Result<String, InputError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(InputError::EmptyName);
    }
    if name.contains(['/', '\\']) {
        return Err(InputError::PathSeparator);
    }
    // Bidirectional overrides are "format" characters that disguise an
    // extension (`invoice\u{202e}fdp.exe`); they are refused with the rest.
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    {
        return Err(InputError::ControlCharacter);
    }
    if name == "." || name == ".." {
        return Err(InputError::DotName);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(InputError::TooLong);
    }
    Ok(name.to_owned())
}

/// Bytes read before the type is decided.
pub const SNIFF_LEN: usize = 8 * 1024;

/// The media type of content starting with `head` (at least
/// [`SNIFF_LEN`] bytes unless the whole file is shorter).
pub fn sniff(head: &[u8]) -> Result<&'static str, InputError> {
    if head.is_empty() {
        return Err(InputError::Empty);
    }
    if let Some(kind) = infer::get(head) {
        let mime = kind.mime_type();
        return match mime {
            "application/pdf"
            | "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "image/heif"
            | "image/tiff"
            | "application/rtf"
            | "application/msword"
            | "application/vnd.ms-excel"
            | "application/vnd.ms-powerpoint"
            | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            | "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            | "application/vnd.oasis.opendocument.text"
            | "application/vnd.oasis.opendocument.spreadsheet"
            | "application/vnd.oasis.opendocument.presentation"
            | "message/rfc822" => Ok(mime),
            // OLE compound files: Word, Excel or PowerPoint of the 97-2003 era.
            "application/x-ole-storage" => Ok("application/x-ole-storage"),
            other => Err(InputError::UnsupportedType(other.to_owned())),
        };
    }
    // No magic number: accept text (UTF-8 without NULs; a cut multi-byte
    // character at the end of the sniffed window is fine).
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() >= SNIFF_LEN,
    };
    if valid && !head.contains(&0) {
        Ok("text/plain")
    } else {
        Err(InputError::UnsupportedType(
            "unrecognised binary".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(filename("  brief.pdf ").unwrap(), "brief.pdf");
        assert_eq!(
            filename("Ärger – Vergleich (2).docx").unwrap(),
            "Ärger – Vergleich (2).docx"
        );
        assert_eq!(filename("../etc/passwd"), Err(InputError::PathSeparator));
        assert_eq!(filename("a\\b.pdf"), Err(InputError::PathSeparator));
        assert_eq!(filename("a\nb.pdf"), Err(InputError::ControlCharacter));
        assert_eq!(filename("a\0b.pdf"), Err(InputError::ControlCharacter));
        assert_eq!(
            filename("invoice\u{202e}fdp.exe"),
            Err(InputError::ControlCharacter)
        );
        assert_eq!(filename(".."), Err(InputError::DotName));
        assert_eq!(filename("   "), Err(InputError::EmptyName));
        assert_eq!(filename(&"x".repeat(201)), Err(InputError::TooLong));
    }

    #[test]
    fn types() {
        assert_eq!(
            sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"),
            Ok("application/pdf")
        );
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Ok("image/png"));
        assert_eq!(sniff("plain words, ünïcode".as_bytes()), Ok("text/plain"));
        assert!(matches!(
            sniff(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff"),
            Err(InputError::UnsupportedType(_))
        ));
        assert!(matches!(
            sniff(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0"),
            Err(InputError::UnsupportedType(_))
        ));
        assert!(matches!(
            sniff(b"\0\x01\x02\x03binary"),
            Err(InputError::UnsupportedType(_))
        ));
        assert_eq!(sniff(b""), Err(InputError::Empty));
    }
}
